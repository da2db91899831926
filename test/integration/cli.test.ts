/** The meshshift binary as users run it (bin/meshshift.js → dist/), against the test API server and Prometheus. */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';
import { cli, tempFiles } from './run-cli.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });

const { dir, write } = tempFiles('meshshift-cli-');

let s: Scenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('meshshift validate', () => {
  it('exits 0 for the shipped policies and 1 naming each bad field of a broken plan', async () => {
    const ok = await cli([
      'validate',
      'policies/default.yaml',
      'policies/cautious.yaml',
      'policies/flagger-defaults.yaml',
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/✓ policies\/default\.yaml: Policy default/);
    const bad = write(
      'bad.yaml',
      `apiVersion: meshshift.io/v1alpha1
kind: MigrationPlan
metadata: { name: Bad_Name }
spec:
  namespace: shop
  host: productcatalogservice.shop.svc.cluster.local
  virtualService: { name: productcatalogservice, rout: primary }
  source: { subset: vm }
  target: { subset: k8s, deployment: productcatalogservice }
  policy: { steps: [1, 50], stepDuration: 1m, analysis: { interval: 10s, window: 1m }, slo: { errorRate: { max: 5 } } }
`,
    );
    const r = await cli(['validate', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+ metadata\.name: .*DNS-1123/);
    expect(r.stderr).toMatch(
      /bad\.yaml:7:\d+ spec\.virtualService\.rout: unknown field; did you mean "route"\?/,
    );
    expect(r.stderr).toMatch(/spec\.source\.serviceEntry: required with a VirtualService/);
    expect(r.stderr).toMatch(/spec\.policy\.steps: the last step must be 100/);
    expect(r.stderr).toMatch(/spec\.policy\.slo\.errorRate\.max: is a fraction: write 0\.01 for 1 %/);
  });
});

describe('meshshift run', () => {
  it('an invalid plan changes no weight (exit 1)', async () => {
    s = await startScenario({ metrics: prom() });
    const kubeconfig = s.kube.writeKubeconfig(dir);
    const plan = write('invalid.yaml', s.planYaml.replace('policy: default', 'policy: nope'));
    const r = await cli(['run', plan, '--kubeconfig', kubeconfig, '--prometheus', prom().prometheusUrl]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/spec\.policy: policy "nope" not found/);
    expect(r.stderr).toMatch(/nothing was changed/);
    expect(s.kube.requests.filter((q) => q.method !== 'GET')).toEqual([]);
  });

  it('a failed preflight changes no weight (exit 1) and prints every failed check with its fix', async () => {
    s = await startScenario({ metrics: prom(), seed: { meshExternal: true, deploymentReady: false } });
    await s.waitForTraffic();
    const r = await cli([
      'run',
      write('p.yaml', s.planYaml),
      '--kubeconfig',
      s.kube.writeKubeconfig(dir),
      '--prometheus',
      prom().prometheusUrl,
      '--output',
      'text',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/preflight FAILED — no weight was changed/);
    expect(r.stdout).toMatch(/✗ serviceentry: .*MESH_EXTERNAL/);
    expect(r.stdout).toMatch(/✗ deployment: .*0\/2 available/);
    expect(r.stdout).toMatch(/fix: /);
    expect(s.kube.requests.filter((q) => q.method === 'PATCH')).toEqual([]);
  });

  it('--output json streams one event per line; "abort" on stdin rolls back and exits 2', async () => {
    s = await startScenario({ metrics: prom() });
    await s.waitForTraffic();
    const events: Array<{ type: string; weight?: number; phase?: string }> = [];
    const r = await cli(
      [
        'run',
        write('ok.yaml', s.planYaml),
        '--kubeconfig',
        s.kube.writeKubeconfig(dir),
        '--prometheus',
        prom().prometheusUrl,
        '--output',
        'json',
        '--time-scale',
        '0.05',
        '--user',
        'tester',
      ],
      {
        onStdout: (line, send) => {
          const e = JSON.parse(line) as { type: string; weight?: number; phase?: string };
          events.push(e);
          if (e.type === 'weight' && e.weight === 5) send('abort customer complaint\n');
        },
      },
    );
    expect(r.code).toBe(2);
    expect(events[0]).toMatchObject({ type: 'started', policy: 'default' });
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'command', command: 'ABORT', by: 'tester', accepted: true }),
    );
    expect(events.at(-1)).toMatchObject({
      type: 'finished',
      phase: 'aborted',
      weight: 0,
      reason: 'customer complaint',
    });
    expect(s.weightWrites()).toEqual([1, 5, 0]);
    // stderr carries pino JSON logs (not a TTY), with no secrets.
    const logs = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(logs.some((l) => l.msg === 'weight set')).toBe(true);
    expect(r.stderr).not.toMatch(/Bearer|token/i);
  });
});
