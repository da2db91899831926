/**
 * Folding old bins away (pure), so that a migration's evidence takes the same memory at hour two as at minute
 * twenty. The tests add up per-bin log-likelihood ratios from a few starts (evidence.ts); what a bin adds is
 * fixed once its tempering φ and its null are, so the oldest bins are replaced by their sums:
 *
 *  - per test, per start (a global bin index) and per alternative: the sum of the folded bins' ln LR;
 *  - per dispersion estimator: the folded bins' moment sums (their excess, weight, number, Σ weight², segments),
 *    so κ and its standard error keep learning from every bin;
 *  - both sides' totals (rates, the VMs' quantiles, the like-for-like null), the segment starts among the folded
 *    bins and the containers' last request share (to see the next weight write).
 *
 * What changes for a folded bin: its φ and its null are those of the moment it was folded (κ, the VMs' rate and
 * quantiles as then measured: LIVE_BINS of data after it), not re-estimated again later. Both are predictable
 * from the data before the bins that come after, which is what the e-process needs; only the bins kept live are
 * re-weighed with today's estimates. The promotion rule's power over the current step keeps its folded bins'
 * drift sums (under the regression to detect as it was then), their requests and their number.
 */
import type { PolicySpec } from '../../plan/policy-schema.js';
import { addCounts, emptyBin } from '../input/bins.js';
import { ALTERNATIVES } from '../stats/sequential.js';
import { addMoments } from '../stats/dispersion.js';
import { lastSegmentFrom, totalOf, type Evidence, type Tape } from './sequential-common.js';
import { driftSums, powerQuestion } from '../stats/promotion.js';
import { errorChecks } from './sequential-errors.js';
import { latencyChecks } from './sequential-latency.js';
import { evidenceOf } from './sequential-verdict.js';
import type { FoldedEvidence, FoldedTest, GateSample, PowerPrior } from '../types.js';

/** Final bins kept in full (20 minutes of the default policy's 30-s bins). */
export const LIVE_BINS = 40;
/** Bins folded at a time, once LIVE_BINS + FOLD_CHUNK are final (every 10 minutes at the default). */
export const FOLD_CHUNK = 20;

/** Whether a migration with `finalBins` final bins folds now. */
export const shouldFold = (finalBins: number): boolean => finalBins >= LIVE_BINS + FOLD_CHUNK;

const zeros = (n: number) => Array.from({ length: n }, () => 0);

function foldTest(
  prev: FoldedTest | undefined,
  rows: number[][] | undefined,
  starts: readonly number[],
  range: { offset: number; k: number },
): FoldedTest {
  const { offset, k } = range;
  const width = rows?.[0]?.length ?? prev?.sums[0]?.length ?? ALTERNATIVES.length;
  const sums: Record<number, number[]> = {};
  for (const s of starts) {
    const acc = s < offset && prev?.sums[s] ? [...prev.sums[s]] : zeros(width);
    // A test that did not run now (skipped: too little data) adds nothing for these bins: never more evidence.
    if (rows) for (let j = Math.max(0, s - offset); j < k; j++) rows[j]!.forEach((x, a) => (acc[a]! += x));
    sums[s] = acc;
  }
  return { sums };
}

/** The promotion rule's prior after folding the current step's bins among the first `k` (undefined: none). */
function foldPower(ev: Evidence, tape: Tape, k: number): PowerPrior | undefined {
  const start = ev.starts.at(-1) ?? 0;
  const prev = ev.folded?.power?.start === start ? ev.folded.power : undefined;
  const q = tape.readiness;
  const from = lastSegmentFrom(ev);
  if (!q || from >= k) return prev;
  const bins = q.bins.slice(0, k - from);
  const d = driftSums(powerQuestion(q, bins, q.phi.slice(0, k - from)));
  return {
    start,
    mean: d.mean.map((m, j) => m + (prev?.mean[j] ?? 0)),
    variance: d.variance.map((v, j) => v + (prev?.variance[j] ?? 0)),
    requests: (prev?.requests ?? 0) + bins.reduce((a, b) => a + b.target.trials, 0),
    bins: (prev?.bins ?? 0) + bins.length,
  };
}

/** The folded evidence after folding the first `k` live bins of `sample` (see the header). */
export function foldEvidence(policy: PolicySpec, sample: GateSample, k: number): FoldedEvidence {
  const tape: Tape = { rows: new Map(), moments: new Map() };
  const ev = evidenceOf(policy, sample, 0, tape);
  errorChecks(policy, ev);
  latencyChecks(policy, ev);
  const prev = sample.folded;
  const folding = ev.bins.slice(0, k);
  const end = ev.offset + folding.length;
  const starts = ev.starts.filter((s) => s < end);
  const total = (side: 'source' | 'target') => {
    const part = totalOf(folding, side, emptyBin);
    return prev ? addCounts(part, prev[side]) : part;
  };
  let lastShare = prev?.lastShare;
  for (const b of folding) {
    const n = b.target.requests + b.source.requests;
    if (n > 0) lastShare = b.target.requests / n;
  }
  const tests: Record<string, FoldedTest> = {};
  for (const name of new Set([...Object.keys(prev?.tests ?? {}), ...tape.rows.keys()]))
    tests[name] = foldTest(prev?.tests[name], tape.rows.get(name), starts, {
      offset: ev.offset,
      k: folding.length,
    });
  const moments: FoldedEvidence['moments'] = {};
  for (const key of new Set([...Object.keys(prev?.moments ?? {}), ...tape.moments.keys()])) {
    moments[key] = addMoments(prev?.moments[key], (tape.moments.get(key) ?? []).slice(0, folding.length));
  }
  const power = foldPower(ev, tape, folding.length);
  return {
    ...(power ? { power } : {}),
    bins: end,
    source: total('source'),
    target: total('target'),
    starts,
    ...(lastShare !== undefined ? { lastShare } : {}),
    lastStart: folding.at(-1)?.start ?? prev?.lastStart ?? -Infinity,
    tests,
    moments,
  };
}
