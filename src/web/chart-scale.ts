/**
 * Scales, time labels and legend values of the migration chart (pure; the page and the unit tests use it): the
 * x axis is the time since the migration's first entry — in minutes once the run is long enough to read in
 * minutes — and every y axis is scaled to the data it shows.
 */

/** The smallest "nice" number (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) ≥ v; `floor` when v is below it. */
export function niceCeil(v: number, floor: number): number {
  if (!Number.isFinite(v) || v <= floor) return floor;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v - 1e-9) return m * p;
  return 10 * p;
}

/** The y range [0, max] of some series: their largest value plus headroom, rounded up to a nice number. */
export function rangeOf(
  series: ReadonlyArray<ReadonlyArray<number | null>>,
  floor: number,
): [number, number] {
  return [0, niceCeil(maxOf(series) * 1.1, floor)];
}

/** The largest value of some series (0 when they have none). */
export function maxOf(series: ReadonlyArray<ReadonlyArray<number | null>>): number {
  let max = 0;
  for (const s of series) for (const v of s) if (v !== null && v > max) max = v;
  return max;
}

/** The weight axis: up to the highest weight written (a migration rolled back at 5 % reads on 0–5 %). */
export function weightRange(weights: ReadonlyArray<number | null>): [number, number] {
  const max = Math.max(0, ...weights.filter((w): w is number => w !== null));
  return [0, max >= 50 ? 100 : niceCeil(max, 1)];
}

export type TimeUnit = 's' | 'min';

/** Minutes once the run spans five minutes or more (a real-duration migration), seconds below. */
export const timeUnitOf = (spanS: number): TimeUnit => (spanS >= 300 ? 'min' : 's');

/** Axis tick increments (seconds) for each unit: whole seconds or whole minutes. */
export const TICK_INCREMENTS: Record<TimeUnit, number[]> = {
  s: [1, 2, 5, 10, 15, 30, 60, 120],
  min: [60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400],
};

/** A tick label: `12 min` / `1 h 30 min`, or `45 s`. */
export function tickLabel(s: number, unit: TimeUnit): string {
  if (unit === 's') return `${Math.round(s)} s`;
  const m = Math.round(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}` : `${m} min`;
}

/** The legend's time: `+12:34` (minutes:seconds since the start), `+1:02:03` past an hour. */
export function elapsedLabel(s: number): string {
  const t = Math.max(0, Math.round(s));
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return h ? `+${h}:${two(m)}:${two(t % 60)}` : `+${m}:${two(t % 60)}`;
}

/** The value to show at index i: the last one at or before it (samples are sparser than the time axis). */
export function valueAtOrBefore(values: ArrayLike<number | null | undefined>, i: number): number | null {
  for (let k = Math.min(i, values.length - 1); k >= 0; k--) {
    const v = values[k];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** A legend value with its unit: `0.12 %`, `87 ms`, `–` when there is none yet. */
export function valueLabel(v: number | null, unit: '%' | 'ms'): string {
  if (v === null) return '–';
  if (unit === 'ms') return `${v >= 100 ? Math.round(v) : Number(v.toPrecision(2))} ms`;
  return `${v === 0 ? '0' : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : Number(v.toPrecision(2))} %`;
}
