/**
 * The VMs' own traffic before the migration started, binned like the evidence (pure).
 *
 * The comparison tempers each bin by how bursty errors are, and the VMs' burstiness is its floor
 * (sequential-errors.ts). Learnt from the migration's own bins, the floor knows nothing at the first bin and little
 * at the fourth: a moment estimate of heavy-tailed bursts from a few bins is often far below the truth, and in the
 * first minutes a burst on the containers' side read as evidence (docs/gate.md §2). The VMs served the same
 * traffic before the start, and Prometheus has it: their bins from the last `HISTORY_MS` before the evidence start
 * give the floor from the first bin on. Only their requests and errors are read, once per ledger.
 */
import { alignedBins } from './bins.js';
import { rawOf, type ReadSeries } from './bin-ledger.js';
import type { HistoryBin } from '../types.js';

/** How far before the evidence start the VMs' history is read (the bench writes this much before each run). */
export const HISTORY_MS = 10 * 60_000;

/** The counter the history needs: requests, with their response codes (errors are a subset). */
export const HISTORY_COUNTERS = ['istio_requests_total'] as const;

/**
 * The VMs' whole bins of `binMs` ending at `end` (the evidence start), over at most `HISTORY_MS`, with their
 * requests and errors; bins with no request say nothing and are left out. Series present at the first sample are
 * baselines (their lifetime count is not traffic), later ones were born in the window (bins.ts).
 */
export function historyBins(source: readonly ReadSeries[], end: number, binMs: number): HistoryBin[] {
  const n = Math.floor(HISTORY_MS / binMs);
  if (!(n > 0) || source.length === 0) return [];
  const { bins } = alignedBins(source.map(rawOf), [], end - n * binMs, binMs, end);
  return bins
    .filter((b) => b.end - b.start === binMs && b.source.requests > 0)
    .map((b) => ({ events: b.source.errors, trials: b.source.requests }));
}
