import { describe, expect, it } from 'vitest';
import { EvidenceLedger, LedgerCache, overlapFor, type ReadSeries } from '../../src/gate/input/bin-ledger.js';
import { alignedBins, earliest, sideBetween, type RawSeries } from '../../src/gate/input/bins.js';
import { mulberry32 } from '../../src/sim/random.js';

const BOUNDS = ['5', '10', '25', '50', '100', '+Inf'];

/** A side's counter series scraped every `every` ms from `phase`, with a pod restart and a late error series. */
function sideSeries(pod: string, phase: number, every: number, untilMs: number, seed: number): RawSeries[] {
  const rand = mulberry32(seed);
  const base = { pod, instance: `${pod}:15020` };
  const mk = (labels: Record<string, string>): RawSeries => ({ labels: { ...base, ...labels }, samples: [] });
  const ok = mk({ __name__: 'istio_requests_total', response_code: '200' });
  const err = mk({ __name__: 'istio_requests_total', response_code: '503' });
  const buckets = BOUNDS.map((le) => mk({ __name__: 'istio_request_duration_milliseconds_bucket', le }));
  let okN = 0;
  let errN = 0;
  const cum = BOUNDS.map(() => 0);
  for (let t = phase; t <= untilMs; t += every) {
    if (t === phase + 20 * every) {
      // The pod restarts: every counter starts again (and the error series vanishes until its next error).
      okN = 0;
      errN = 0;
      cum.fill(0);
      err.samples.push({ t: t - every / 2, v: 0 });
    }
    const served = Math.round(every / 10 + rand() * 20);
    const failed = t > 200_000 && rand() < 0.3 ? 1 + Math.floor(rand() * 3) : 0;
    okN += served - failed;
    errN += failed;
    const below = [0.1, 0.3, 0.6, 0.85, 0.97, 1].map((f) => Math.min(1, f + (rand() - 0.5) * 0.02));
    for (let i = 0; i < BOUNDS.length; i++)
      cum[i] =
        cum[i]! + (i === BOUNDS.length - 1 ? served : Math.floor(served * Math.min(...below.slice(i))));
    ok.samples.push({ t, v: okN });
    if (errN > 0) err.samples.push({ t, v: errN });
    buckets.forEach((b, i) => b.samples.push({ t, v: cum[i]! }));
  }
  err.samples.sort((a, b) => a.t - b.t);
  return [ok, err, ...buckets];
}

/** What a range query at `at` over `rangeMs` returns: each series' samples in (at − range, at]. */
const window = (all: readonly RawSeries[], at: number, rangeMs: number): RawSeries[] =>
  all
    .map((s) => ({ labels: s.labels, samples: s.samples.filter((p) => p.t > at - rangeMs && p.t <= at) }))
    .filter((s) => s.samples.length > 0);

/** A series of `{ t, v }` samples as the ledger reads it (times and values interleaved). */
const readSeriesOf = (s: RawSeries): ReadSeries => ({
  labels: s.labels,
  tv: s.samples.flatMap((p) => [p.t, p.v]),
});

const close = (a: number, b: number) => Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b));

describe('evidence ledger', () => {
  const source = sideSeries('vm-1', 0, 15_000, 1_800_000, 1);
  const target = [
    ...sideSeries('pod-a', 3_000, 10_000, 1_800_000, 2),
    ...sideSeries('pod-b', 7_000, 10_000, 1_800_000, 3),
  ];
  const evidenceSince = 60_000;
  const binMs = 30_000;

  /**
   * Reads as a worker does, analysis after analysis (`overlapMs` undefined: the ledger's own), and checks every
   * answer against reading everything again. `late(t)`: how long after its timestamp a sample becomes visible.
   */
  function replay(overlapMs: number | undefined, late: (t: number) => number = () => 0): number {
    const ledger = new EvidenceLedger(evidenceSince, binMs);
    let since = evidenceSince;
    let maxHeld = 0;
    const seen = (all: readonly RawSeries[], at: number, rangeMs: number) =>
      window(all, at, rangeMs)
        .map((s) => ({ labels: s.labels, samples: s.samples.filter((p) => p.t + late(p.t) <= at) }))
        .filter((s) => s.samples.length > 0);
    for (let at = evidenceSince + 10_000; at <= 1_800_000; at += 10_000) {
      if (at % 300_000 === 0) since = at - 5_000; // a new step every 5 minutes
      const from = ledger.readFrom(evidenceSince - 60_000, overlapMs);
      const read = ledger.add(
        {
          source: seen(source, at, at - from).map(readSeriesOf),
          target: seen(target, at, at - from).map(readSeriesOf),
        },
        at,
        since,
      );
      const full = { source: seen(source, at, at), target: seen(target, at, at) };
      const firstSeen = earliest(
        [...full.source, ...full.target].map((s) => ({
          ...s,
          samples: s.samples.filter((p) => p.t > evidenceSince - 60_000),
        })),
      );
      const want = alignedBins(full.source, full.target, evidenceSince, binMs, at, firstSeen);
      expect(read.completeTo).toBe(want.completeTo);
      expect(read.bins.length).toBe(want.bins.length);
      read.bins.forEach((b, i) => {
        const w = want.bins[i]!;
        expect([b.start, b.end]).toEqual([w.start, w.end]);
        for (const side of ['source', 'target'] as const) {
          expect(close(b[side].requests, w[side].requests), `bin ${i} ${side} requests at ${at}`).toBe(true);
          expect(close(b[side].errors, w[side].errors)).toBe(true);
          b[side].buckets.forEach((v, j) => expect(close(v, w[side].buckets[j]!)).toBe(true));
        }
      });
      for (const side of ['source', 'target'] as const) {
        const s = sideBetween(full[side], since, want.completeTo, firstSeen);
        expect(close(read.step[side].requests, s.requests), `step ${side} at ${at}`).toBe(true);
        expect(close(read.step[side].latencyCount, s.latencyCount)).toBe(true);
      }
      maxHeld = Math.max(maxHeld, ledger.heldSamples);
    }
    expect(ledger.finalBins).toBeGreaterThan(50);
    return maxHeld;
  }

  it('answers, analysis after analysis, the same bins and step counts as reading everything again', () => {
    // Raw samples held stay those of the last bin or two, however long the migration runs.
    expect(replay(60_000)).toBeLessThan(4 * 8 * 12);
    expect(replay(undefined)).toBeLessThan(4 * 8 * 12);
  });

  it('reads back a few scrape intervals by default, enough for samples that become visible a scrape late', () => {
    // Each scrape takes up to one interval (10–15 s here) before Prometheus answers with it.
    const late = (t: number) => ((Math.imul(t / 1000 + 1, 2654435761) >>> 0) / 2 ** 32) * 10_000;
    replay(undefined, late);
    expect(() => replay(1_000, late)).toThrow();
    expect(overlapFor(1_000)).toBe(10_000);
    expect(overlapFor(15_000)).toBe(45_000);
    expect(overlapFor(60_000)).toBe(60_000);
  });

  it('cannot answer for an earlier instant or a step before its final edge: the cache starts a new ledger', () => {
    const cache = new LedgerCache(2);
    const a = cache.ledgerFor('k', 0, binMs, 0, 120_000);
    const read = (side: RawSeries[]) => window(side, 120_000, 200_000).map(readSeriesOf);
    a.add({ source: read(source), target: read(target) }, 120_000, 0);
    expect(cache.ledgerFor('k', 0, binMs, 0, 130_000)).toBe(a);
    expect(a.canAnswer(0, 100_000)).toBe(false);
    expect(cache.ledgerFor('k', 0, binMs, 0, 100_000)).not.toBe(a);
    cache.ledgerFor('x', 0, binMs, 0, 130_000);
    cache.ledgerFor('y', 0, binMs, 0, 130_000);
    expect(cache.size).toBe(2);
    // A ledger nobody asked for in 15 minutes goes (its migration ended, or moved to another worker).
    cache.ledgerFor('z', 0, binMs, 0, 130_000 + 15 * 60_000 + 1);
    expect(cache.size).toBe(1);
  });
});
