/**
 * Evidence bins from raw counter samples (pure): both sides' counts for the SAME interval of time, whatever the
 * phase or interval of each side's scrape job.
 *
 * Each increase between two raw samples of a series is spread over the time between them (uniformly), so a bin
 * [start, end) holds what each side served in that interval as far as its scrapes can tell, and two jobs
 * scraped 10 s apart, or every 15 s and every 30 s, put a shared burst in the same bins in the same proportion.
 * Evidence stops at the instant both sides have been scraped past (`completeTo`): a side whose scrape has not
 * come yet never makes the other side's errors look lonely.
 *
 * Counter rules (docs/gate.md, "How the gate decides"):
 *  - A reset (the value drops) counts the new value; so does any series of a pod that reset in between (a sparse
 *    error series that disappeared with the restart and came back is not undercounted).
 *  - A series that appears after the first sample either side has (Prometheus was scraping, and it was not
 *    there) was born then: its first value is traffic (the containers' series appear with their first requests).
 *    A series present from the first sample we have (e.g. the VMs' after a Prometheus outage) is a baseline: its
 *    lifetime count is not evidence.
 */
import { isErrorSeries } from './promql.js';
import { ISTIO_LATENCY_BUCKETS_MS } from './buckets.js';
import type { BinCounts } from '../types.js';

/** Raw samples of one counter series (a range-vector query's answer). */
export interface RawSeries {
  labels: Record<string, string>;
  samples: Array<{ t: number; v: number }>;
}

export interface EvidenceBin {
  start: number;
  end: number;
  source: BinCounts;
  target: BinCounts;
}

/** A series whose last sample is older than this is gone (a scaled-down pod): it does not hold evidence back. */
export const STALE_MS = 60_000;

export const emptyBin = (bounds: readonly number[] = ISTIO_LATENCY_BUCKETS_MS): BinCounts => ({
  requests: 0,
  errors: 0,
  buckets: bounds.map(() => 0),
  latencyCount: 0,
  ...(bounds === ISTIO_LATENCY_BUCKETS_MS ? {} : { bounds }),
});

/** a += b, bucket by bucket (a side's bounds are its own; a bucket `b` lacks adds nothing). */
export function addCounts(a: BinCounts, b: BinCounts): BinCounts {
  a.requests += b.requests;
  a.errors += b.errors;
  a.latencyCount += b.latencyCount;
  for (let i = 0; i < a.buckets.length && i < b.buckets.length; i++) a.buckets[i]! += b.buckets[i]!;
  return a;
}

const sameBounds = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * A side's histogram bounds: the `le` values every pod of the side reports (finer buckets set with Istio's
 * `sidecar.istio.io/statsHistogramBuckets` annotation are used when all the side's pods have them); Istio's
 * defaults when the side has no histogram yet.
 */
export function sideBounds(series: readonly RawSeries[]): readonly number[] {
  const perPod = new Map<string, Set<number>>();
  for (const s of series) {
    if (s.labels.__name__ !== 'istio_request_duration_milliseconds_bucket' || s.labels.le === '+Inf')
      continue;
    const le = Number(s.labels.le);
    if (!Number.isFinite(le)) continue;
    const key = podOf(s.labels);
    perPod.set(key, (perPod.get(key) ?? new Set()).add(le));
  }
  const sets = [...perPod.values()];
  if (sets.length === 0) return ISTIO_LATENCY_BUCKETS_MS;
  const common = [...sets[0]!].filter((le) => sets.every((set) => set.has(le))).sort((a, b) => a - b);
  return sameBounds(common, ISTIO_LATENCY_BUCKETS_MS) ? ISTIO_LATENCY_BUCKETS_MS : common;
}

const podOf = (labels: Record<string, string>) => `${labels.instance ?? ''}|${labels.pod ?? ''}`;

/** Intervals (t0, t1] in which some series of each pod dropped: the pod restarted in there. */
function podResets(series: readonly RawSeries[]): Map<string, Array<[number, number]>> {
  const out = new Map<string, Array<[number, number]>>();
  for (const s of series) {
    for (let i = 1; i < s.samples.length; i++) {
      if (s.samples[i]!.v >= s.samples[i - 1]!.v) continue;
      const key = podOf(s.labels);
      const list = out.get(key) ?? [];
      list.push([s.samples[i - 1]!.t, s.samples[i]!.t]);
      out.set(key, list);
    }
  }
  return out;
}

/** One increase of a series, spread over (from, to]. */
export interface Increase {
  from: number;
  to: number;
  inc: number;
}

/**
 * Every increase of one series, each over the time it accrued in. `firstSeen`: the earliest sample of either side
 * (a series first seen later was born while Prometheus was scraping); `resets`: its pod's restart intervals.
 */
export function seriesIncreases(
  s: RawSeries,
  firstSeen: number,
  resets: ReadonlyArray<[number, number]> = [],
  scrapeMs = 15_000,
): Increase[] {
  const out: Increase[] = [];
  const first = s.samples[0];
  if (!first) return out;
  if (first.t > firstSeen && first.v > 0) out.push({ from: first.t - scrapeMs, to: first.t, inc: first.v });
  for (let i = 1; i < s.samples.length; i++) {
    const a = s.samples[i - 1]!;
    const b = s.samples[i]!;
    const restarted = b.v < a.v || resets.some(([r0, r1]) => r1 > a.t && r0 < b.t);
    const inc = restarted ? b.v : b.v - a.v;
    if (inc > 0) out.push({ from: a.t, to: b.t, inc });
  }
  return out;
}

type Signal = { kind: 'requests'; error: boolean } | { kind: 'bucket'; index: number } | { kind: 'count' };

function signalOf(labels: Record<string, string>, bounds: readonly number[]): Signal | undefined {
  const name = labels.__name__;
  if (name === 'istio_requests_total') return { kind: 'requests', error: isErrorSeries(labels) };
  if (name !== 'istio_request_duration_milliseconds_bucket') return undefined;
  if (labels.le === '+Inf') return { kind: 'count' };
  const index = bounds.indexOf(Number(labels.le));
  return index >= 0 ? { kind: 'bucket', index } : undefined;
}

function addTo(c: BinCounts, sig: Signal, x: number): void {
  if (sig.kind === 'requests') {
    c.requests += x;
    if (sig.error) c.errors += x;
  } else if (sig.kind === 'count') c.latencyCount += x;
  else c.buckets[sig.index]! += x;
}

/** The usual time between two samples of a series (the scrape interval; 15 s when nothing tells). */
export function scrapeInterval(series: readonly RawSeries[]): number {
  const gaps: number[] = [];
  for (const s of series)
    for (let i = 1; i < s.samples.length && i < 4; i++) gaps.push(s.samples[i]!.t - s.samples[i - 1]!.t);
  if (gaps.length === 0) return 15_000;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]!;
}

/** The instant up to which every live series of a side has been scraped (undefined: the side has no series). */
export function scrapedTo(series: readonly RawSeries[], at: number): number | undefined {
  let to: number | undefined;
  for (const s of series) {
    const last = s.samples.at(-1)?.t;
    if (last === undefined || last < at - STALE_MS) continue;
    to = to === undefined ? last : Math.min(to, last);
  }
  return to;
}

/** Spreads one side's increases over the bins of [from, to) (`binMs` wide from `from`, the last one partial). */
function spread(
  series: readonly RawSeries[],
  window: { from: number; to: number; binMs: number; firstSeen: number },
  bins: BinCounts[],
): void {
  const { from, to, binMs, firstSeen } = window;
  const resets = podResets(series);
  const scrapeMs = scrapeInterval(series);
  const bounds = bins[0]?.bounds ?? ISTIO_LATENCY_BUCKETS_MS;
  for (const s of series) {
    const sig = signalOf(s.labels, bounds);
    if (!sig) continue;
    for (const inc of seriesIncreases(s, firstSeen, resets.get(podOf(s.labels)), scrapeMs)) {
      const lo = Math.max(inc.from, from);
      const hi = Math.min(inc.to, to);
      if (hi <= lo) continue;
      const perMs = inc.inc / (inc.to - inc.from);
      for (let k = Math.floor((lo - from) / binMs); k * binMs + from < hi; k++) {
        const a = Math.max(lo, from + k * binMs);
        const b = Math.min(hi, from + (k + 1) * binMs);
        if (b > a) addTo(bins[k]!, sig, perMs * (b - a));
      }
    }
  }
}

/**
 * Both sides' counts in bins of `binMs` from `from`, up to the instant both sides have been scraped past
 * (at most `at`). The last bin may be partial; every bin covers the same time on both sides. `firstSeen`: the
 * earliest sample either side had when the evidence began (later series were born since; see seriesIncreases).
 */
export function alignedBins(
  source: readonly RawSeries[],
  target: readonly RawSeries[],
  from: number,
  binMs: number,
  at: number,
  firstSeen = earliest([...source, ...target]),
): { bins: EvidenceBin[]; completeTo: number } {
  const ends = [scrapedTo(source, at), scrapedTo(target, at)].filter((x): x is number => x !== undefined);
  const completeTo = Math.min(at, ...ends);
  if (!(completeTo > from)) return { bins: [], completeTo: Math.max(from, Math.min(completeTo, at)) };
  const n = Math.ceil((completeTo - from) / binMs);
  const src = Array.from({ length: n }, () => emptyBin(sideBounds(source)));
  const tgt = Array.from({ length: n }, () => emptyBin(sideBounds(target)));
  spread(source, { from, to: completeTo, binMs, firstSeen }, src);
  spread(target, { from, to: completeTo, binMs, firstSeen }, tgt);
  const bins = src.map((s, k) => ({
    start: from + k * binMs,
    end: Math.min(completeTo, from + (k + 1) * binMs),
    source: s,
    target: tgt[k]!,
  }));
  return { bins, completeTo };
}

/** The earliest raw sample of any series. */
export function earliest(series: readonly RawSeries[]): number {
  return Math.min(...series.map((s) => s.samples[0]?.t ?? Infinity));
}

/** One side's counts in [from, to) (e.g. since the step started), spread like the bins. */
export function sideBetween(
  series: readonly RawSeries[],
  from: number,
  to: number,
  firstSeen = earliest(series),
): BinCounts {
  const out = [emptyBin(sideBounds(series))];
  if (to > from) spread(series, { from, to, binMs: to - from, firstSeen }, out);
  return out[0]!;
}
