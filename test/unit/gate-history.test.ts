/**
 * The VMs' history before the evidence start (input/history.ts) and what it does to the comparison: their
 * burstiness is the floor from the first bin, so a burst on the containers' side in the first minutes is tempered
 * instead of read as evidence; steady (Poisson) history changes nothing.
 */
import { describe, expect, it } from 'vitest';
import type { ReadSeries } from '../../src/gate/input/bin-ledger.js';
import { HISTORY_MS, historyBins } from '../../src/gate/input/history.js';
import { historyMoments } from '../../src/gate/checks/sequential-errors.js';
import { sequentialChecks } from '../../src/gate/checks/sequential-verdict.js';
import { kappaOf } from '../../src/gate/stats/dispersion.js';
import type { HistoryBin } from '../../src/gate/types.js';
import { parsePlan } from '../../src/plan/load.js';
import { mulberry32, normalFrom, poissonFrom } from '../../src/sim/random.js';
import { carriedSample, errorBin } from '../harness/gate-samples.js';
import { planYaml } from '../harness/plan-fixtures.js';

const POLICY = parsePlan(planYaml({}), 'default.yaml').policy;
const BIN = 30_000;

/** A counter series scraped every `every` ms over [from, to], adding `perScrape(i)` at each scrape. */
function counter(
  labels: Record<string, string>,
  from: number,
  to: number,
  every: number,
  perScrape: (i: number) => number,
) {
  const tv: number[] = [];
  let v = 1_000; // a lifetime count before the window: a baseline, not traffic
  for (let t = from, i = 0; t <= to; t += every, i++) {
    if (i > 0) v += perScrape(i);
    tv.push(t, v);
  }
  return { labels: { __name__: 'istio_requests_total', ...labels }, tv } satisfies ReadSeries;
}

describe('historyBins', () => {
  const end = 1_767_600_000_000;
  const from = end - HISTORY_MS - 60_000;

  it("bins the VMs' requests and errors before the evidence start, whole bins only, baselines not counted", () => {
    const ok = counter({ response_code: '200', pod: 'vm-1' }, from, end, 15_000, () => 300);
    const failed = counter({ response_code: '503', pod: 'vm-1' }, from, end, 15_000, (i) => (i % 2 ? 2 : 4));
    const bins = historyBins([ok, failed], end, BIN);
    expect(bins).toHaveLength(HISTORY_MS / BIN);
    for (const b of bins) {
      expect(b.trials).toBeCloseTo(606, 6); // two scrapes of 300 + 3 (both codes count as requests)
      expect(b.events).toBeCloseTo(6, 6);
    }
  });

  it('has nothing to say without series, or without traffic', () => {
    expect(historyBins([], end, BIN)).toEqual([]);
    const idle = counter({ response_code: '200', pod: 'vm-1' }, from, end, 15_000, () => 0);
    expect(historyBins([idle], end, BIN)).toEqual([]);
  });
});

/** The VMs' bins before the start: `sigma` log-normal bursts per bin on 1.3 % errors at 2,000 req/s. */
function history(seed: number, sigma: number, n = 20): HistoryBin[] {
  const u = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const trials = 2000 * 30;
    const m = Math.exp(sigma * normalFrom(u) - (sigma * sigma) / 2);
    return { trials, events: poissonFrom(u, trials * 0.013 * m) };
  });
}

describe("the VMs' history as the comparison's floor", () => {
  it('reads bursty history as bursty, and Poisson history as Poisson', () => {
    const kappa = (h: HistoryBin[]) => {
      const m = historyMoments(h)!;
      return kappaOf([], m);
    };
    expect(kappa(history(1, 0.6))).toBeGreaterThan(0.1);
    expect(kappa(history(2, 0))).toBeLessThan(0.01);
    expect(historyMoments([])).toBeUndefined();
  });

  // The first bins at 1 %: the containers' errors three times the VMs' rate for two minutes (a burst of their
  // own), the VMs calm in these bins — as in the bench's false rollbacks of seeds 14264 and 14286.
  const burst = () => {
    const u = mulberry32(7);
    return Array.from({ length: 4 }, (_, i) => {
      const n = 2000 * 30;
      const nt = n / 100;
      return {
        start: 1_000_000 + i * BIN,
        end: 1_000_000 + (i + 1) * BIN,
        target: errorBin(nt, poissonFrom(u, nt * 0.013 * 3)),
        source: errorBin(n - nt, poissonFrom(u, (n - nt) * 0.013)),
      };
    });
  };
  const evidence = (h?: HistoryBin[]) => {
    const sample = carriedSample(burst(), 1_000_000);
    const checks = sequentialChecks(POLICY, h ? { ...sample, history: { source: h } } : sample, 1);
    return checks.find((c) => c.name === 'error-rate-vs-source')!.logEvidence!;
  };

  it("tempers a containers' burst in the first bins when the VMs' history shows bursts", () => {
    const without = evidence();
    const withBursty = evidence(history(3, 0.6));
    expect(without).toBeGreaterThan(Math.log(20));
    expect(withBursty).toBeLessThan(without / 2);
  });

  it('leaves the evidence as it was when the history is steady', () => {
    expect(evidence(history(4, 0))).toBeCloseTo(evidence(), 0);
  });
});
