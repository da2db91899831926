/**
 * The migration chart's data from history entries (pure; the page and the unit tests use it): weight % as a
 * step line, both sides' error rate and p50/p99 latency from the verdicts' samples, and markers for verdicts,
 * commands, phase changes and the rollback. A window-method sample carries its quantiles; a sequential one
 * carries the step's histogram (cumulative bucket counts), read here as Prometheus' histogram_quantile does.
 */
import type { SampleSide, StoredRecord, VerdictRecord } from '../engine/history.js';
import { ISTIO_LATENCY_BUCKETS_MS } from '../gate/input/buckets.js';

/** A history entry as the chart reads it: the engine's typed record (engine/history.ts). */
export type ChartEntry = StoredRecord;

export type MarkerKind = 'pass' | 'inconclusive' | 'fail' | 'command' | 'gate' | 'pause' | 'rollback';

export interface Marker {
  /** Seconds since the epoch (the chart's x). */
  x: number;
  kind: MarkerKind;
  label: string;
}

export interface ChartData {
  x: number[];
  weight: Array<number | null>;
  sourceErrorPct: Array<number | null>;
  targetErrorPct: Array<number | null>;
  sourceP50: Array<number | null>;
  targetP50: Array<number | null>;
  sourceP99: Array<number | null>;
  targetP99: Array<number | null>;
  markers: Marker[];
}

/** One side's numbers: quantiles (window method) or a cumulative histogram (sequential method). */
type Side = SampleSide;

/**
 * The q-quantile of a cumulative histogram, interpolated linearly inside its bucket (histogram_quantile's rule);
 * the highest finite bound when it falls in the +Inf bucket; null without observations.
 */
export function quantileOfBuckets(
  buckets: readonly number[],
  total: number,
  q: number,
  bounds: readonly number[] = ISTIO_LATENCY_BUCKETS_MS,
): number | null {
  if (!(total > 0) || buckets.length === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < Math.min(buckets.length, bounds.length); i++) {
    const c = buckets[i]!;
    if (c >= rank) {
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return c === below ? bounds[i]! : lower + ((bounds[i]! - lower) * (rank - below)) / (c - below);
    }
    below = c;
  }
  return bounds[Math.min(buckets.length, bounds.length) - 1] ?? null;
}

function latency(s: Side | undefined, q: 'p50' | 'p99'): number | null {
  const given = num(s?.latencyMs?.[q]);
  if (given !== null) return given;
  if (!s || !Array.isArray(s.buckets) || typeof s.latencyCount !== 'number') return null;
  return quantileOfBuckets(s.buckets, s.latencyCount, q === 'p50' ? 0.5 : 0.99, s.bounds);
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const errPct = (s: Side | undefined): number | null =>
  s && typeof s.requests === 'number' && s.requests > 0 && typeof s.errors === 'number'
    ? (100 * s.errors) / s.requests
    : null;

const fmt = (v: unknown, digits = 3) => (typeof v === 'number' ? Number(v.toPrecision(digits)) : '?');

/** One line for a verdict: its summary and each check's observed value against its threshold. */
export function verdictLine(e: VerdictRecord): string {
  const parts = e.checks.map((c) => {
    const nums =
      c.observed === undefined
        ? ''
        : ` (${fmt(c.observed)}${c.threshold !== undefined ? ` vs ${fmt(c.threshold)}` : ''})`;
    return `${c.name} ${c.outcome}${nums}`;
  });
  return `${e.outcome} at ${e.weight} %: ${e.summary}${parts.length ? ` — ${parts.join('; ')}` : ''}`;
}

function markerOf(e: ChartEntry): Marker | undefined {
  const x = e.at / 1000;
  switch (e.type) {
    case 'verdict':
      return { x, kind: e.outcome, label: verdictLine(e) };
    case 'command':
      return {
        x,
        kind: 'command',
        label: `${e.command} by ${e.by ?? '?'}${e.reason ? ` (${e.reason})` : ''}${e.accepted === false ? ` — refused: ${e.refused ?? ''}` : ''}`,
      };
    case 'phase':
      if (e.phase === 'awaitingApproval') return { x, kind: 'gate', label: `approval gate at ${e.weight} %` };
      if (e.phase === 'paused')
        return { x, kind: 'pause', label: `paused${e.reason ? `: ${e.reason}` : ''}` };
      return undefined;
    case 'weight':
      return e.rollback
        ? { x, kind: 'rollback', label: `rollback: weight ${e.previous} → ${e.weight} %` }
        : undefined;
    default:
      return undefined;
  }
}

export function chartData(history: readonly ChartEntry[]): ChartData {
  const d: ChartData = {
    x: [],
    weight: [],
    sourceErrorPct: [],
    targetErrorPct: [],
    sourceP50: [],
    targetP50: [],
    sourceP99: [],
    targetP99: [],
    markers: [],
  };
  let weight = 0;
  const sorted = [...history].sort((a, b) => a.at - b.at);
  for (const e of sorted) {
    const m = markerOf(e);
    if (m) d.markers.push(m);
    const written = e.type === 'weight' && e.wrote !== false ? e.weight : undefined;
    const sample = e.type === 'verdict' ? e.sample : undefined;
    if (written === undefined && !sample && e.type !== 'submitted' && e.type !== 'finished') continue;
    if (written !== undefined) weight = num(written) ?? weight;
    const x = e.at / 1000;
    // uPlot needs strictly increasing x: entries in the same millisecond share a point.
    if (d.x.length && d.x[d.x.length - 1]! >= x) {
      const i = d.x.length - 1;
      d.weight[i] = weight;
      if (sample) setSides(d, i, sample);
      continue;
    }
    d.x.push(x);
    d.weight.push(weight);
    for (const k of [
      'sourceErrorPct',
      'targetErrorPct',
      'sourceP50',
      'targetP50',
      'sourceP99',
      'targetP99',
    ] as const)
      d[k].push(null);
    if (sample) setSides(d, d.x.length - 1, sample);
  }
  return d;
}

function setSides(d: ChartData, i: number, s: { source?: Side; target?: Side }): void {
  d.sourceErrorPct[i] = errPct(s.source);
  d.targetErrorPct[i] = errPct(s.target);
  d.sourceP50[i] = latency(s.source, 'p50');
  d.targetP50[i] = latency(s.target, 'p50');
  d.sourceP99[i] = latency(s.source, 'p99');
  d.targetP99[i] = latency(s.target, 'p99');
}

/** Points that carry a value, per side (what the page reports and the browser test checks). */
export function pointCounts(d: ChartData): { source: number; target: number } {
  const n = (a: Array<number | null>) => a.filter((v) => v !== null).length;
  return { source: n(d.sourceErrorPct) + n(d.sourceP99), target: n(d.targetErrorPct) + n(d.targetP99) };
}
