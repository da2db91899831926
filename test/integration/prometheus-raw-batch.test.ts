/**
 * Raw reads batched across migrations, against a real Prometheus: several migrations analysed together get the
 * same samples — bins, step counts, history — as each reading alone, from a handful of queries instead of three
 * per migration. Service names with regex metacharacters, and a version nobody asked for that the union's cross
 * product matches, are in the data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBenchPrometheus, type BenchProm } from '../../bench/decisions/prom.js';
import type { Series } from '../../bench/decisions/traffic.js';
import { PrometheusProvider } from '../../src/gate/prometheus.js';
import { HISTORY_MS } from '../../src/gate/input/history.js';
import { parsePlan } from '../../src/plan/load.js';
import type { SampleRequest } from '../../src/gate/input/provider.js';
import { planYaml } from '../harness/plan-fixtures.js';

const POLICY = parsePlan(planYaml({}), 'default.yaml').policy;
const START = Date.UTC(2026, 0, 5, 8);
const SERVICES = ['web.shop.svc.cluster.local', 'cart+v2.shop.svc.cluster.local', 'a(b).shop', 'plain'];

/** One counter scraped every `every` ms (offset `phase`) from `from` to `to`, `per` more a scrape. */
function counter(
  labels: Record<string, string>,
  o: { from: number; to: number; per: number; base: number; every: number; phase: number },
): Series {
  const samples: Series['samples'] = [];
  for (let t = o.from + o.phase, v = o.base; t <= o.to; t += o.every, v += o.per)
    samples.push({ timestamp: t, value: v });
  return { labels: { __name__: 'istio_requests_total', reporter: 'destination', ...labels }, samples };
}

function meshSeries(to: number): Series[] {
  const out: Series[] = [];
  SERVICES.forEach((svc, i) => {
    const vm = {
      from: START - HISTORY_MS - 120_000,
      to,
      base: 10_000 * (i + 1),
      every: 15_000,
      phase: 1000 * i,
    };
    const pod = { from: START, to, base: 0, every: 10_000, phase: 700 * i };
    for (const [version, o, scale] of [
      ['vm', vm, 1],
      ['k8s', pod, 0.2],
      ['canary', pod, 0.1],
    ] as const) {
      const labels = { destination_service: svc, destination_version: version };
      out.push(
        counter(
          { ...labels, response_code: '200', pod: `${version}-1` },
          { ...o, per: 500 * scale * (i + 1) },
        ),
      );
      out.push(counter({ ...labels, response_code: '503', pod: `${version}-1` }, { ...o, per: 3 + i }));
    }
  });
  return out;
}

const requestFor = (svc: string, at: number): SampleRequest => ({
  namespace: 'shop',
  selectors: {
    source: { destination_service: svc, destination_version: 'vm' },
    target: { destination_service: svc, destination_version: 'k8s' },
  },
  policy: POLICY,
  at,
  stepStartedAt: START,
  evidenceSince: START,
});

describe('raw reads of several migrations in one query, from a real Prometheus', () => {
  let prom: BenchProm;
  const to = START + 5 * 60_000;
  beforeAll(async () => {
    prom = await startBenchPrometheus();
    await prom.push(meshSeries(to));
  });
  afterAll(() => prom.close());

  it('gives every migration what its own reads give, in two queries an analysis round instead of three each', async () => {
    const alone = new PrometheusProvider({ url: prom.url });
    const batched = new PrometheusProvider({ url: prom.url, batchRawReads: { windowMs: 20 } });
    for (const at of [START + 2 * 60_000, to]) {
      const expected = [];
      // Each migration analysed at its own instant, seconds apart: a scrape after one's instant is not its own.
      const atOf = (i: number) => at - 4_100 * i;
      for (const [i, svc] of SERVICES.entries()) expected.push(await alone.sample(requestFor(svc, atOf(i))));
      const before = batched.queries;
      const got = await Promise.all(SERVICES.map((svc, i) => batched.sample(requestFor(svc, atOf(i)))));
      // The same samples, down to each one's own reads (3 the first time: both sides and the VMs' history).
      expect(got).toEqual(expected);
      expect(got.map((g) => g.queries)).toEqual(SERVICES.map(() => (at === to ? 2 : 3)));
      // First round: the evidence reads (both sides of all four) and the history reads, one query each.
      expect(batched.queries - before).toBe(at === to ? 1 : 2);
      expect(got[0]!.batches!.length).toBeGreaterThan(0);
      expect(got.every((s) => s.target.requests > 0 && s.source.errors > 0)).toBe(true);
    }
    expect(alone.queries).toBe(SERVICES.length * 3 + SERVICES.length * 2);
  });
});
