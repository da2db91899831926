/**
 * Raw counter reads of many migrations in one Prometheus query.
 *
 * The sequential method reads each side's raw counter samples at every analysis: two queries per migration and
 * tick, 2,000 a tick for a worker driving 1,000 migrations. Reads that arrive within `windowMs` of each other
 * with the same counters, reporter and label names are answered by one range query whose matchers are the
 * union of theirs (`destination_service=~"a|b|c"`, values escaped); each read then keeps exactly the series its
 * own selector matches and the samples of its own range and instant, so it receives what its own query would
 * have returned. A group holds at most `maxSelectors` reads (the query's length and its answer stay bounded).
 *
 * A group whose query Prometheus refuses (4xx: bad data, a query too long) is read one selector at a time, so
 * one odd selector fails only its own migration; a network error, a timeout or a 5xx fails the whole group
 * (Prometheus is unreachable or overloaded for all of them alike), without adding load to a struggling server.
 */
import type { ReadSeries } from './bin-ledger.js';
import { MetricsUnavailableError } from './provider.js';
import { rawRangeMs } from './promql.js';

/** One side's raw read: its exact label matchers, range and evaluation instant. */
export interface RawRead {
  labels: Record<string, string>;
  reporter: string;
  rangeMs: number;
  at: number;
  names?: readonly string[];
}

/** Reads the union selector: `labels` are exact values or, where a read differs, regex alternations. */
export type UnionQuery = (
  matchers: ReadonlyArray<{ name: string; values: readonly string[] }>,
  reporter: string,
  rangeMs: number,
  at: number,
  names: readonly string[] | undefined,
) => Promise<ReadSeries[]>;

export interface RawBatchOptions {
  /** Collect reads this long before querying. */
  windowMs: number;
  /** At most this many reads per query. */
  maxSelectors?: number;
}

interface Pending {
  read: RawRead;
  resolve: (s: ReadSeries[]) => void;
  reject: (e: unknown) => void;
}

export const DEFAULT_MAX_SELECTORS = 64;

/** Range and instant of one query covering every read's own range (ranges are whole seconds, as sent alone). */
export function coveringRange(reads: readonly RawRead[]): { at: number; rangeMs: number } {
  const at = Math.max(...reads.map((r) => r.at));
  const from = Math.min(...reads.map((r) => r.at - rawRangeMs(r.rangeMs)));
  return { at, rangeMs: at - from };
}

/** The matchers of a group: per label name, the distinct values its reads ask for. */
export function unionMatchers(reads: readonly RawRead[]): Array<{ name: string; values: string[] }> {
  const names = Object.keys(reads[0]!.labels).sort();
  return names.map((name) => ({ name, values: [...new Set(reads.map((r) => r.labels[name]!))].sort() }));
}

/** The series and samples of a union answer that the read's own query would have returned. */
export function pickFor(read: RawRead, answer: readonly ReadSeries[]): ReadSeries[] {
  const from = read.at - rawRangeMs(read.rangeMs);
  const keys = Object.keys(read.labels);
  const out: ReadSeries[] = [];
  for (const s of answer) {
    if (!keys.every((k) => s.labels[k] === read.labels[k])) continue;
    const tv: number[] = [];
    for (let i = 0; i < s.tv.length; i += 2) {
      const t = s.tv[i]!;
      if (t >= from && t <= read.at) tv.push(t, s.tv[i + 1]!);
    }
    if (tv.length) out.push({ labels: s.labels, tv });
  }
  return out;
}

const groupKey = (r: RawRead) => JSON.stringify([r.reporter, r.names ?? null, Object.keys(r.labels).sort()]);

export class RawReadBatcher {
  private readonly groups = new Map<string, Pending[]>();
  private readonly maxSelectors: number;
  /** Union queries sent, and reads answered by them. */
  readonly stats = { queries: 0, reads: 0 };

  constructor(
    private readonly query: UnionQuery,
    private readonly opts: RawBatchOptions,
  ) {
    this.maxSelectors = Math.max(1, opts.maxSelectors ?? DEFAULT_MAX_SELECTORS);
  }

  read(read: RawRead): Promise<ReadSeries[]> {
    return new Promise((resolve, reject) => {
      const key = groupKey(read);
      let group = this.groups.get(key);
      if (!group) {
        const fresh: Pending[] = [];
        group = fresh;
        this.groups.set(key, fresh);
        setTimeout(() => this.flush(key, fresh), this.opts.windowMs);
      }
      group.push({ read, resolve, reject });
      if (group.length >= this.maxSelectors) this.flush(key, group);
    });
  }

  private flush(key: string, group: Pending[]): void {
    if (this.groups.get(key) !== group) return; // flushed already (full)
    this.groups.delete(key);
    void this.answer(group);
  }

  private async answer(group: Pending[]): Promise<void> {
    const reads = group.map((p) => p.read);
    const { at, rangeMs } = coveringRange(reads);
    const first = reads[0]!;
    this.stats.queries++;
    try {
      const answer = await this.query(unionMatchers(reads), first.reporter, rangeMs, at, first.names);
      this.stats.reads += group.length;
      for (const p of group) p.resolve(pickFor(p.read, answer));
    } catch (err) {
      if (group.length > 1 && refused(err)) await this.oneByOne(group);
      else for (const p of group) p.reject(err);
    }
  }

  /** Prometheus refused the union: each read on its own, so an odd selector fails only its own migration. */
  private async oneByOne(group: Pending[]): Promise<void> {
    await Promise.all(
      group.map(async (p) => {
        const r = p.read;
        this.stats.queries++;
        try {
          const single = unionMatchers([r]);
          p.resolve(pickFor(r, await this.query(single, r.reporter, r.rangeMs, r.at, r.names)));
        } catch (err) {
          p.reject(err);
        }
      }),
    );
  }
}

/**
 * Prometheus answered and refused the query itself (4xx: bad data, a query too long) — not a network failure,
 * a timeout or an overloaded server (5xx), where reading one by one would only add load.
 */
function refused(err: unknown): boolean {
  return (
    err instanceof MetricsUnavailableError &&
    err.status !== undefined &&
    err.status >= 400 &&
    err.status < 500
  );
}
