/**
 * The sequential read's history: a real Prometheus (remote write, as the decisions bench feeds it) holds ten
 * minutes of the VMs' counters before the migration's start, and the first analysis' sample carries their bins —
 * counted from the raw counters like the evidence, with the VMs' lifetime count before the window not counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBenchPrometheus, type BenchProm } from '../../bench/decisions/prom.js';
import type { Series } from '../../bench/decisions/traffic.js';
import { PrometheusProvider } from '../../src/gate/prometheus.js';
import { HISTORY_MS } from '../../src/gate/input/history.js';
import { parsePlan } from '../../src/plan/load.js';
import { planYaml } from '../harness/plan-fixtures.js';

const POLICY = parsePlan(planYaml({}), 'default.yaml').policy;
const START = Date.UTC(2026, 0, 5, 8);
const VM = { destination_service_name: 'web', destination_version: 'vm' };
const K8S = { destination_service_name: 'web', destination_version: 'k8s' };

/** One counter scraped every 15 s from `from` to `to`, `per` more at each scrape, from a lifetime `base`. */
function counter(
  labels: Record<string, string>,
  from: number,
  to: number,
  per: number,
  base: number,
): Series {
  const samples: Series['samples'] = [];
  for (let t = from, v = base; t <= to; t += 15_000, v += per) samples.push({ timestamp: t, value: v });
  return { labels: { __name__: 'istio_requests_total', reporter: 'destination', ...labels }, samples };
}

describe("the VMs' history before the evidence start, from a real Prometheus", () => {
  let prom: BenchProm;
  beforeAll(async () => {
    prom = await startBenchPrometheus();
  });
  afterAll(() => prom.close());

  it('comes with the first analysis, in whole bins of the evidence', async () => {
    const from = START - HISTORY_MS - 120_000;
    const to = START + 60_000;
    await prom.push([
      counter({ ...VM, response_code: '200', pod: 'vm-1' }, from, to, 600, 50_000),
      counter({ ...VM, response_code: '503', pod: 'vm-1' }, from, to, 6, 700),
      counter({ ...K8S, response_code: '200', pod: 'web-1' }, START, to, 6, 0),
    ]);
    const provider = new PrometheusProvider({ url: prom.url });
    const request = {
      namespace: 'shop',
      selectors: { source: VM, target: K8S },
      policy: POLICY,
      at: to,
      stepStartedAt: START,
      evidenceSince: START,
    };
    const sample = await provider.sample(request);
    const bins = sample.history?.source ?? [];
    expect(bins).toHaveLength(HISTORY_MS / (3 * POLICY.analysis.interval));
    for (const b of bins) {
      expect(b.trials).toBeCloseTo(1212, 6); // two scrapes a bin, of 606 requests each (both codes)
      expect(b.events).toBeCloseTo(12, 6);
    }
    // Read once per ledger: the next analysis asks only for what is new.
    const queries = provider.queries;
    const next = await provider.sample(request);
    expect(provider.queries - queries).toBe(2);
    expect(next.history?.source).toHaveLength(bins.length);
  });
});
