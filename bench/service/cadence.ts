/**
 * Per-migration analysis cadence over the measurement window, from every migration's history: the verdicts each
 * got, their outcomes, and the largest gap between two consecutive verdicts ("missed a tick" = a gap above
 * 1.5 × the interval; the time since the last verdict at the window's end counts as a gap too).
 */
import type { HistoryEntry, RedisMigrationStore } from '../../src/store/store.js';

export interface Cadence {
  /** The fewest verdicts any migration got in the window. */
  minVerdicts: number;
  maxGapMs: number;
  /** Migrations with a gap above 1.5 × the interval. */
  missing: number;
  outcomes: Record<string, number>;
}

/** One migration's verdicts in [from, to]: how many, their outcomes (added to `outcomes`), and its largest gap. */
function migrationCadence(h: HistoryEntry[], from: number, to: number, outcomes: Record<string, number>) {
  let inWindow = 0;
  let prev: number | undefined;
  let gap = 0;
  for (const e of h) {
    if (e.type !== 'verdict') continue;
    const at = Number(e.at);
    if (at >= from && at <= to) {
      inWindow++;
      const o = String((e as { outcome?: unknown }).outcome);
      outcomes[o] = (outcomes[o] ?? 0) + 1;
      if (prev !== undefined) gap = Math.max(gap, at - prev);
    }
    if (at <= to) prev = at;
  }
  // Time since the last verdict at the window's end also counts as a gap (a migration that stopped ticking);
  // `prev` is that verdict: the last one at or before `to`.
  return { inWindow, gap: Math.max(gap, to - (prev ?? from)) };
}

export async function verdictCadence(
  store: RedisMigrationStore,
  from: number,
  to: number,
  intervalS: number,
): Promise<Cadence> {
  const out: Cadence = { minVerdicts: Infinity, maxGapMs: 0, missing: 0, outcomes: {} };
  const ids = await store.ids();
  for (let i = 0; i < ids.length; i += 100) {
    const hs = await Promise.all(
      ids.slice(i, i + 100).map(async (id) => expandRuns(await store.history(id))),
    );
    for (const h of hs) {
      const { inWindow, gap } = migrationCadence(h, from, to, out.outcomes);
      out.maxGapMs = Math.max(out.maxGapMs, gap);
      out.minVerdicts = Math.min(out.minVerdicts, inWindow);
      if (gap > 1.5 * intervalS * 1000) out.missing++;
    }
  }
  return out;
}

/**
 * History compacts a run of identical passing verdicts to its first and latest entry (the latest carries the
 * run's length): spread the run's verdicts evenly between the two again, so that counts are exact and a gap
 * inside a run shows as the run's average spacing.
 */
export function expandRuns(h: HistoryEntry[]): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const e of h) {
    if (!e.run || e.run.length < 3) {
      out.push(e);
      continue;
    }
    const { length, since } = e.run;
    const step = (e.at - since) / (length - 1);
    for (let k = 1; k < length - 1; k++) out.push({ ...e, at: Math.round(since + k * step) });
    out.push(e);
  }
  return out;
}
