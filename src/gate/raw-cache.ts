/**
 * Raw counter samples already read, per side and evidence start, so each analysis asks Prometheus only for the
 * samples since the previous one (plus an overlap) instead of the whole migration again. Bounded and pure.
 */
import type { RawSeries } from './bins.js';

interface Entry {
  series: Map<string, RawSeries>;
  /** Samples are complete up to this instant (epoch ms). */
  until: number;
  used: number;
}

const seriesKey = (labels: Record<string, string>) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');

export class RawSampleCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries = 2000) {}

  /** From when samples must be fetched for `key` to answer at `at`: `from` itself when nothing is cached. */
  fetchFrom(key: string, from: number, at: number, overlapMs: number): number {
    const e = this.entries.get(key);
    if (!e || e.until > at) return from;
    return Math.max(from, e.until - overlapMs);
  }

  /** Merges freshly read series (samples up to `at`) and returns every series of `key` so far. */
  merge(key: string, fresh: readonly RawSeries[], at: number): RawSeries[] {
    let e = this.entries.get(key);
    if (!e || e.until > at) {
      e = { series: new Map(), until: at, used: at };
      this.entries.set(key, e);
    }
    for (const s of fresh) {
      const k = seriesKey(s.labels);
      const known = e.series.get(k);
      if (!known) {
        e.series.set(k, { labels: s.labels, samples: [...s.samples] });
        continue;
      }
      const last = known.samples.at(-1)?.t ?? -Infinity;
      for (const p of s.samples) if (p.t > last) known.samples.push(p);
    }
    e.until = at;
    e.used = at;
    this.evict();
    return [...e.series.values()];
  }

  private evict() {
    if (this.entries.size <= this.maxEntries) return;
    const oldest = [...this.entries.entries()].sort((a, b) => a[1].used - b[1].used);
    for (const [k] of oldest.slice(0, this.entries.size - this.maxEntries)) this.entries.delete(k);
  }
}
