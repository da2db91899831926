import { describe, expect, it } from 'vitest';
import { commandKinds, differences, normalizeNumbers, phaseKinds, reasonKind, type Trace } from './trace.js';

const trace = (driver: Trace['driver'], over: Partial<Trace> = {}): Trace => ({
  driver,
  phases: [{ phase: 'preflight' }, { phase: 'shifting' }, { phase: 'completed' }],
  commands: [],
  writes: [1, 5, 100],
  reported: [1, 5, 100],
  final: 'completed',
  logTail: '',
  ...over,
});

describe('reason kinds', () => {
  it('keeps the check name and the weight of a regression, not its numbers', () => {
    const a = 'error-rate failed 1× in a row at 10 %: error rate 15.90 % (25/155) exceeds 1.00 %';
    const b = 'error-rate failed 1× in a row at 10 %: error rate 31.02 % (40/129) exceeds 1.00 %';
    expect(reasonKind(a)).toBe('regression error-rate at 10 %');
    expect(reasonKind(a)).toBe(reasonKind(b));
    expect(reasonKind('p99 failed while paused at 25 %: p99 612 ms exceeds 500 ms')).toBe(
      'regression p99 at 25 %',
    );
    expect(reasonKind(a)).not.toBe(reasonKind(a.replace('at 10 %', 'at 25 %')));
    expect(reasonKind(a)).not.toBe(reasonKind(a.replace('error-rate', 'p99')));
  });

  it('names pauses, inconclusive limits, drift and free text', () => {
    expect(reasonKind('6 inconclusive analyses in a row at 10 % (metrics unavailable: x) — holding')).toBe(
      'inconclusive at 10 %',
    );
    expect(reasonKind('3 inconclusive analysis windows in a row at 5 % (no requests) — holding')).toBe(
      'inconclusive at 5 %',
    );
    expect(reasonKind('6 inconclusive analyses in a row: no data')).toBe('inconclusive (rollback)');
    expect(reasonKind('paused by alice: parity check')).toBe('paused by alice');
    expect(reasonKind('paused by schedule')).toBe('paused by schedule');
    expect(reasonKind('drift: weights are 7/93')).toBe('drift');
    expect(reasonKind('customer complaint 2')).toBe('text: customer complaint #');
    expect(reasonKind(undefined)).toBe('-');
  });

  it('normalises every number, including addresses', () => {
    expect(normalizeNumbers('connect ECONNREFUSED 127.0.0.1:41235 after 2.5 s')).toBe(
      'connect ECONNREFUSED #.#:# after # s',
    );
  });
});

describe('differences', () => {
  it('is empty for traces that agree up to numbers', () => {
    const p = (n: number) => [
      { phase: 'paused', reason: `6 inconclusive analyses in a row at 10 % (${n} requests)` },
    ];
    expect(differences(trace('run', { phases: p(3) }), trace('serve', { phases: p(9) }))).toEqual([]);
  });

  it('names each aspect that differs, with both values', () => {
    const d = differences(
      trace('run', { phases: [{ phase: 'securing' }, { phase: 'completed' }], mtlsMode: 'STRICT' }),
      trace('serve', { writes: [1, 5, 10, 100], phases: [{ phase: 'completed' }], mtlsMode: 'PERMISSIVE' }),
    );
    expect(d).toHaveLength(4);
    expect(d[0]).toBe('weight writes: run [1,5,100] vs serve [1,5,10,100]');
    expect(d[1]).toMatch(/^phases: run \["securing","completed"\] vs serve \["completed"\]/);
    expect(d.at(-1)).toBe('PeerAuthentication mode: run "STRICT" vs serve "PERMISSIVE"');
  });

  it('compares refused commands by their words', () => {
    const refused = (text: string) => ({ command: 'PROMOTE', by: 'alice', accepted: false, refused: text });
    const run = trace('run', {
      commands: [refused('PROMOTE is not possible while paused (possible now: RESUME, ABORT)')],
    });
    const serve = trace('serve', {
      commands: [refused('PROMOTE is not possible while paused (possible now: resume, abort)')],
    });
    expect(commandKinds(run)).not.toEqual(commandKinds(serve));
    expect(differences(run, serve)).toHaveLength(1);
    expect(phaseKinds(run)).toEqual(['preflight', 'shifting', 'completed']);
  });
});
