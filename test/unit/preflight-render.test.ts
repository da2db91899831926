/** `meshshift run`'s text output for a failed preflight: something wrong in full once, a wait in one line once. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { eventPrinter } from '../../src/runner/render.js';
import type { EngineEvent } from '../../src/engine/history.js';
import type { PreflightCheck } from '../../src/mesh/types.js';

function printed(events: EngineEvent[]): string[] {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const print = eventPrinter('text', sink);
  for (const e of events) print(e);
  return out.trimEnd().split('\n');
}

const preflight = (at: number, checks: PreflightCheck[]): EngineEvent => ({
  type: 'preflight',
  at,
  ok: checks.every((c) => c.ok),
  checks,
  initialWeight: 0,
});
const api: PreflightCheck = {
  id: 'istio-api',
  ok: false,
  message: 'discover apis: ECONNREFUSED',
  transient: true,
};
const noTraffic: PreflightCheck = {
  id: 'observability',
  ok: false,
  message: 'no requests yet',
  awaiting: true,
};

describe('preflight in the terminal', () => {
  it('an unavailable dependency: one line for all the tries with the same answer, a new line when it changes', () => {
    const lines = printed([
      preflight(0, [api]),
      preflight(1000, [api]),
      preflight(3000, [api]),
      preflight(7000, [api, noTraffic]),
      preflight(15_000, [api, noTraffic]),
    ]);
    expect(lines.map((l) => l.slice(9))).toEqual([
      'preflight waiting for istio-api to answer (istio-api: discover apis: ECONNREFUSED); trying again until it does',
      'preflight waiting for istio-api to answer (istio-api: discover apis: ECONNREFUSED; observability: no requests yet); trying again until it does',
    ]);
  });

  it('missing evidence only: waiting for evidence, a few more tries', () => {
    expect(printed([preflight(0, [noTraffic]), preflight(1000, [noTraffic])]).map((l) => l.slice(9))).toEqual(
      ['preflight waiting for evidence (observability: no requests yet); trying a few more times'],
    );
  });

  it('something found wrong: the FAILED block with each ✗ once, even beside an unavailable check', () => {
    const wrong: PreflightCheck = {
      id: 'virtualservice',
      ok: false,
      message: 'VirtualService a/b not found',
      fix: 'create it',
    };
    const lines = printed([preflight(0, [{ id: 'ok', ok: true, message: 'fine' }, wrong, api])]);
    expect(lines[0]).toMatch(/preflight FAILED — no weight was changed$/);
    expect(lines.filter((l) => l.includes('✗'))).toEqual([
      '         ✗ virtualservice: VirtualService a/b not found',
      '         ✗ istio-api: discover apis: ECONNREFUSED',
    ]);
  });
});
