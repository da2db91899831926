/**
 * Evidence bins kept incrementally (pure state, no I/O): memory per migration grows with its bins, not with the
 * raw samples Prometheus returns, and each analysis spreads only the samples read since the last final bin.
 *
 * A bin is final once both sides have been scraped one scrape interval past its end (a series born just after
 * the bin's end could otherwise still spread its first increase into it). Its counts are kept — a few hundred
 * bytes — and the raw samples behind it are dropped, except the last one of each series at or before the final
 * edge: the next increase is counted from it (a reset between the two still counts the new value, bins.ts).
 * The step's own counts (readiness: requests and latency samples since the step started) are summed from the
 * final bins it covers plus what follows them.
 *
 * The ledger answers one migration's evidence (one evidence start, one bin width). It cannot answer for an
 * instant before the last one it read, or for a step that began before its final edge: the caller then starts a
 * new ledger, which reads everything from the evidence start again (as after a restart).
 */
import { createHash } from 'node:crypto';
import {
  addCounts,
  alignedBins,
  emptyBin,
  scrapeInterval,
  sideBetween,
  type EvidenceBin,
  type RawSeries,
} from './bins.js';
import type { BinCounts, FoldedEvidence, HistoryBin } from '../types.js';

/** A series whose last sample is this much older than the final edge belonged to a pod that is gone. */
const FORGET_MS = 10 * 60_000;

/**
 * How far a later read reaches back before the previous one: a sample becomes visible when its scrape finishes
 * (within the scrape timeout, at most one interval after its timestamp), so a few intervals cover it; never less
 * than 10 s nor more than a minute. A sample missed anyway loses no count (counters are cumulative): the next
 * increase spans both intervals.
 */
export const overlapFor = (scrapeMs: number): number => Math.min(60_000, Math.max(10_000, 3 * scrapeMs));

export interface LedgerRead {
  /** Final bins, then the provisional ones up to `completeTo` (the last may be partial). */
  bins: EvidenceBin[];
  completeTo: number;
  /** Each side's counts since the step started, up to `completeTo`. */
  step: { source: BinCounts; target: BinCounts };
  /** The evidence of the bins before `bins`, folded away (fold.ts). */
  folded?: FoldedEvidence;
}

type Side = 'source' | 'target';

/** A series' identity: a digest of all its labels (Istio's ~20 labels would be most of what is held). */
const seriesKey = (labels: Record<string, string>) =>
  createHash('sha1')
    .update(
      Object.keys(labels)
        .sort()
        .map((k) => `${k}=${labels[k]}`)
        .join('\u0000'),
    )
    .digest('base64url')
    .slice(0, 20);

/** The labels the bins read (signal, bucket, error class, pod); the rest only tell series apart. */
const KEPT_LABELS = ['__name__', 'le', 'response_code', 'grpc_response_status', 'pod', 'instance'];

const keptLabels = (labels: Record<string, string>): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const k of KEPT_LABELS) {
    const v = labels[k];
    if (v !== undefined) out[k] = intern(v);
  }
  return out;
};

const copyCounts = (c: BinCounts): BinCounts => ({ ...c, buckets: [...c.buckets] });

/**
 * A series as read from Prometheus, or held in the raw tail: its samples as one array of numbers, time (epoch
 * ms) and value interleaved. V8 keeps such an array as unboxed doubles (16 bytes a sample); `{ t, v }` objects
 * took ~80 (the object and two boxed numbers), and a worker holds each read across its awaits.
 */
export interface ReadSeries {
  labels: Record<string, string>;
  tv: number[];
}

type TailSeries = ReadSeries;

const lastT = (s: TailSeries): number => (s.tv.length ? s.tv[s.tv.length - 2]! : -Infinity);

/** A read series as the bins read it (built per analysis, garbage right after). */
export function rawOf(s: ReadSeries): RawSeries {
  const samples: RawSeries['samples'] = new Array(s.tv.length / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = { t: s.tv[2 * i]!, v: s.tv[2 * i + 1]! };
  return { labels: s.labels, samples };
}

/**
 * Kept label values, one string for every series and migration that shares it (JSON.parse makes a new string
 * per occurrence: the metric name alone was 1.8 MB at 1,000 migrations). Bounded: when full the table starts
 * again (strings already shared stay shared), so pods that come and go cannot grow it.
 */
const interned = new Map<string, string>();
const intern = (v: string): string => {
  const known = interned.get(v);
  if (known !== undefined) return known;
  if (interned.size >= 20_000) interned.clear();
  interned.set(v, v);
  return v;
};

/**
 * A final bin packed into one Float64Array (start, end, then each side's requests, errors, latency count and
 * buckets): ~0.4 kB instead of ~1.5 kB of objects. Bounds are shared references.
 */
interface PackedBin {
  data: Float64Array;
  bounds: [readonly number[] | undefined, readonly number[] | undefined];
}

/** Layout: start, end, source requests, errors, latency count, bucket count ns, ns buckets, then the target's. */
function pack(b: EvidenceBin): PackedBin {
  const ns = b.source.buckets.length;
  const data = new Float64Array(9 + ns + b.target.buckets.length);
  data.set([b.start, b.end, b.source.requests, b.source.errors, b.source.latencyCount, ns]);
  data.set(b.source.buckets, 6);
  data.set([b.target.requests, b.target.errors, b.target.latencyCount], 6 + ns);
  data.set(b.target.buckets, 9 + ns);
  return { data, bounds: [b.source.bounds, b.target.bounds] };
}

function unpack(p: PackedBin): EvidenceBin {
  const d = p.data;
  const ns = d[5]!;
  const side = (at: number, buckets: Float64Array, bounds: readonly number[] | undefined): BinCounts => ({
    requests: d[at]!,
    errors: d[at + 1]!,
    latencyCount: d[at + 2]!,
    buckets: Array.from(buckets),
    ...(bounds ? { bounds } : {}),
  });
  return {
    start: d[0]!,
    end: d[1]!,
    source: side(2, d.subarray(6, 6 + ns), p.bounds[0]),
    target: side(6 + ns, d.subarray(9 + ns), p.bounds[1]),
  };
}

export class EvidenceLedger {
  private readonly final: PackedBin[] = [];
  private edge: number;
  private readonly tail: Record<Side, Map<string, TailSeries>> = { source: new Map(), target: new Map() };
  private firstSeen = Infinity;
  private readTo = -Infinity;
  /** The slower side's scrape interval, as last seen (15 s until there are samples). */
  private scrapeMs = 15_000;
  private step?: { since: number; source: BinCounts; target: BinCounts };
  private folded?: FoldedEvidence;
  /** The VMs' bins before the evidence start (history.ts), read once per ledger. */
  history?: readonly HistoryBin[];

  constructor(
    readonly evidenceSince: number,
    readonly binMs: number,
  ) {
    this.edge = evidenceSince;
  }

  /** Bins that are final (their raw samples are gone). */
  get finalBins(): number {
    return this.final.length;
  }

  /** Raw samples still held (the tail since the final edge, with one base sample per series). */
  get heldSamples(): number {
    let n = 0;
    for (const side of ['source', 'target'] as const)
      for (const s of this.tail[side].values()) n += s.tv.length / 2;
    return n;
  }

  /** Everything the ledger holds, as plain data (to measure it). */
  state(): object {
    return {
      final: this.final.map((p) => p.data),
      tail: { source: [...this.tail.source.values()], target: [...this.tail.target.values()] },
      step: this.step,
      folded: this.folded,
    };
  }

  /** Replaces the first `k` final bins by `folded`, their evidence summed (fold.ts). */
  fold(k: number, folded: FoldedEvidence): void {
    this.final.splice(0, k);
    this.folded = folded;
  }

  /** Whether this ledger can answer at `at` for a step that started at `since`. */
  canAnswer(since: number, at: number): boolean {
    return at >= this.readTo && (this.step?.since === since || since >= this.edge);
  }

  /**
   * From when raw samples must be read: `firstFrom` the first time, later from the last read less `overlapMs`
   * (by default a few of the slower side's scrape intervals, `overlapFor`).
   */
  readFrom(firstFrom: number, overlapMs = overlapFor(this.scrapeMs)): number {
    return Number.isFinite(this.readTo) ? Math.max(firstFrom, this.readTo - overlapMs) : firstFrom;
  }

  /** Adds samples read up to `at` and answers the evidence and the step's counts (step started at `since`). */
  add(fresh: Record<Side, readonly ReadSeries[]>, at: number, since: number): LedgerRead {
    if (!this.canAnswer(since, at))
      throw new Error(`evidence ledger: cannot answer at ${at} for a step since ${since}`);
    this.merge('source', fresh.source);
    this.merge('target', fresh.target);
    this.readTo = at;
    const source = [...this.tail.source.values()].map(rawOf);
    const target = [...this.tail.target.values()].map(rawOf);
    const { bins, completeTo } = alignedBins(source, target, this.edge, this.binMs, at, this.firstSeen);
    const lag = Math.max(scrapeInterval(source), scrapeInterval(target));
    this.scrapeMs = lag;
    const finals = bins.filter((b) => b.end - b.start === this.binMs && b.end <= completeTo - lag);
    if (!this.step || this.step.since !== since)
      this.step = {
        since,
        source: emptyBin(sideBoundsOf(bins, 'source')),
        target: emptyBin(sideBoundsOf(bins, 'target')),
      };
    for (const b of finals) this.finalize(b, since, source, target);
    const step = {
      source: copyCounts(this.step.source),
      target: copyCounts(this.step.target),
    };
    const from = Math.max(since, this.edge);
    if (completeTo > from) {
      addCounts(step.source, sideBetween(source, from, completeTo, this.firstSeen));
      addCounts(step.target, sideBetween(target, from, completeTo, this.firstSeen));
    }
    this.trim();
    return {
      bins: [...this.final.map(unpack), ...bins.slice(finals.length)],
      completeTo,
      step,
      ...(this.folded ? { folded: this.folded } : {}),
    };
  }

  private merge(side: Side, fresh: readonly ReadSeries[]): void {
    const map = this.tail[side];
    for (const s of fresh) {
      if (s.tv.length > 0 && s.tv[0]! < this.firstSeen) this.firstSeen = s.tv[0]!;
      const k = seriesKey(s.labels);
      const known = map.get(k);
      const into = known ?? { labels: keptLabels(s.labels), tv: [] };
      if (!known) map.set(k, into);
      const last = lastT(into);
      for (let i = 0; i < s.tv.length; i += 2) if (s.tv[i]! > last) into.tv.push(s.tv[i]!, s.tv[i + 1]!);
    }
  }

  private finalize(b: EvidenceBin, since: number, source: RawSeries[], target: RawSeries[]): void {
    this.final.push(pack(b));
    this.edge = b.end;
    if (b.end <= since) return;
    if (b.start >= since) {
      addCounts(this.step!.source, b.source);
      addCounts(this.step!.target, b.target);
      return;
    }
    addCounts(this.step!.source, sideBetween(source, since, b.end, this.firstSeen));
    addCounts(this.step!.target, sideBetween(target, since, b.end, this.firstSeen));
  }

  /** Drops samples before the final edge but the last one of each series; forgets series long gone. */
  private trim(): void {
    for (const side of ['source', 'target'] as const) {
      for (const [k, s] of this.tail[side]) {
        if (lastT(s) < this.edge - FORGET_MS) {
          this.tail[side].delete(k);
          continue;
        }
        let base = 0;
        while (2 * (base + 1) < s.tv.length && s.tv[2 * (base + 1)]! <= this.edge) base++;
        // A copy, not splice: V8 keeps a spliced array's capacity (the first read's, often 100+ samples).
        if (base > 0) s.tv = s.tv.slice(2 * base);
      }
    }
  }
}

const sideBoundsOf = (bins: readonly EvidenceBin[], side: Side) => bins[0]?.[side].bounds;

/** Ledgers by migration (evidence start and selectors), the least recently used dropped beyond `maxEntries`. */
export class LedgerCache {
  private readonly entries = new Map<string, { ledger: EvidenceLedger; at: number }>();

  /**
   * @param maxEntries ledgers kept at most (the least recently used go first)
   * @param idleMs     a ledger not asked for this long before the latest analysis goes (its migration ended or
   *                   moved to another worker; one that comes back is rebuilt from Prometheus)
   */
  constructor(
    private readonly maxEntries = 2000,
    private readonly idleMs = 15 * 60_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The ledgers held, least recently used first. */
  ledgers(): EvidenceLedger[] {
    return [...this.entries.values()].map((e) => e.ledger);
  }

  /** The ledger for `key` that can answer at `at` for a step since `since` (a new one when none can). */
  ledgerFor(key: string, evidenceSince: number, binMs: number, since: number, at: number): EvidenceLedger {
    const k = `${key}@${evidenceSince}/${binMs}`;
    let ledger = this.entries.get(k)?.ledger;
    this.entries.delete(k);
    if (!ledger || !ledger.canAnswer(since, at)) ledger = new EvidenceLedger(evidenceSince, binMs);
    this.entries.set(k, { ledger, at });
    for (const [old, e] of this.entries) {
      if (this.entries.size <= this.maxEntries && e.at >= at - this.idleMs) break;
      this.entries.delete(old);
    }
    return ledger;
  }
}
