/**
 * `meshshift run` preflight, from the real CLI against the test API server: something found wrong is said once and
 * refused at once; an API that does not answer is waited out with one line.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/sim/ports.js';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';
import { cli, tempFiles } from './run-cli.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const { dir, write } = tempFiles('meshshift-preflight-');

let s: Scenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('meshshift run: preflight', () => {
  it('a missing VirtualService is reported once and refused in < 2 s, with nothing written', async () => {
    s = await startScenario({ metrics: prom() });
    await s.waitForTraffic();
    const plan = s.planYaml.replace(/(virtualService:\s*\n\s*name: )\S+/, '$1no-such-route');
    expect(plan).toContain('name: no-such-route');
    const r = await cli([
      'run',
      write('missing-vs.yaml', plan),
      '--kubeconfig',
      s.kube.writeKubeconfig(dir),
      '--prometheus',
      prom().prometheusUrl,
      '--output',
      'text',
    ]);
    expect(r.code, r.stderr).toBe(1);
    const crosses = r.stdout.split('\n').filter((l) => l.trim().startsWith('✗'));
    expect(crosses).toEqual([
      expect.stringMatching(/✗ virtualservice: VirtualService [\w-]+\/no-such-route not found$/),
    ]);
    expect(r.stdout.match(/preflight FAILED/g)).toHaveLength(1);
    expect(r.stdout).not.toMatch(/waiting/);
    expect(r.stdout).toMatch(/✘ failed: preflight failed/);
    expect(r.firstOutputToExitMs).toBeGreaterThanOrEqual(0);
    expect(r.firstOutputToExitMs).toBeLessThan(2000);
    // one try: a single read of the VirtualService, and no write
    const reads = s.kube.requests.filter((q) => q.method === 'GET' && q.path.endsWith('/no-such-route'));
    expect(reads).toHaveLength(1);
    expect(s.kube.requests.filter((q) => q.method !== 'GET')).toEqual([]);
  });

  it('an API server that does not answer is waited out with one line, until aborted', async () => {
    s = await startScenario({ metrics: prom() });
    await s.waitForTraffic(); // observability passes: only the API is missing
    const closed = await freePort(); // nothing listens there: connection refused
    const kubeconfig = s.kube.writeKubeconfig(dir);
    const refused = path.join(dir, 'refused.yaml');
    writeFileSync(
      refused,
      readFileSync(kubeconfig, 'utf8').replace(/127\.0\.0\.1:\d+/g, `127.0.0.1:${closed}`),
    );
    let lines = 0;
    let sent = false;
    const abort = (send: (s: string) => void) => {
      if (!sent) send('abort\n');
      sent = true;
    };
    const args = ['--kubeconfig', refused, '--prometheus', prom().prometheusUrl, '--output', 'text'];
    const r = await cli(['run', write('p.yaml', s.planYaml), ...args], {
      onStdout: (line, send) => {
        if (lines++ === 0) setTimeout(() => abort(send), 30_000); // whatever it prints, it ends
        // Long enough for tries at +0, +1 s and +3 s: only the first may print anything.
        if (/preflight waiting/.test(line)) setTimeout(() => abort(send), 4500);
      },
    });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout.split('\n').filter((l) => /preflight/.test(l))).toEqual([
      expect.stringMatching(
        /preflight waiting for istio-api to answer \(istio-api: .*ECONNREFUSED.*\); trying again/,
      ),
    ]);
    expect(r.stdout).not.toMatch(/✗|FAILED/);
    const tries = r.stderr.split('\n').filter((l) => /"msg":"preflight"/.test(l));
    expect(tries.length).toBeGreaterThanOrEqual(3);
    expect(r.stdout).toMatch(/aborted — 100 % on the source/);
  });
});
