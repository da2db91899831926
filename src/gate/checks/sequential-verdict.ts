/**
 * The sequential method's checks (pure): anytime-valid tests on everything counted since the migration started,
 * in time bins both sides share (bins.ts), tempered for bursty counts (dispersion.ts), bounded per bin and mixed
 * over the steps' starts (evidence.ts). The checks themselves: sequential-errors.ts, sequential-latency.ts.
 *
 * A check fails when its e-value reaches 1/α_check, where α_check = policy alpha ÷ checks (evidence carried over
 * the migration) or ÷ (checks × steps) (evidence restarted at each step): the policy's alpha bounds the chance that
 * a container as good as the VMs is rolled back by any check at any step.
 */
import type { PolicySpec } from '../../plan/policy-schema.js';
import type { EvidenceBin } from '../input/bins.js';
import { addCounts, emptyBin } from '../input/bins.js';
import { liveSegmentation, segmentStarts } from '../stats/evidence.js';
import { promotesNext } from '../stats/promotion.js';
import { errorChecks } from './sequential-errors.js';
import { latencyChecks } from './sequential-latency.js';
import { failLevel, totalOf, type Evidence, type Tape } from './sequential-common.js';
import { ISTIO_LATENCY_BUCKETS_MS } from '../input/buckets.js';
import type { BinCounts, CheckResult, GateSample, SideSample } from '../types.js';

export { failLevel, sequentialTestCount } from './sequential-common.js';

/**
 * Evidence bins are three analysis intervals wide (30 s for the default policy: two scrapes at Istio's usual
 * 15 s, so a bin is a unit of independent-enough evidence); time-compressed runs compress them too.
 */
export function evidenceBinMs(policy: PolicySpec): number {
  return 3 * policy.analysis.interval;
}

/** One bin may add at most this share of a check's level: a single burst never decides alone (two bins can). */
export const BIN_CAP_SHARE = 0.75;

function toBin(side: SideSample): BinCounts {
  return {
    requests: side.requests,
    errors: side.errors,
    buckets: side.buckets ?? ISTIO_LATENCY_BUCKETS_MS.map(() => side.latencyCount ?? 0),
    latencyCount: side.latencyCount ?? 0,
  };
}

function binsOf(sample: GateSample, binMs: number): EvidenceBin[] {
  const raw = sample.batches ?? [{ source: toBin(sample.source), target: toBin(sample.target) }];
  const t0 = sample.evidenceSince ?? sample.since ?? sample.at;
  return raw.map((b, i) => ({
    start: b.start ?? t0 + i * binMs,
    end: b.end ?? t0 + (i + 1) * binMs,
    source: b.source,
    target: b.target,
  }));
}

/** The evidence the checks read, from one sample (`tape`: record each test's rows, to fold bins away). */
export function evidenceOf(policy: PolicySpec, sample: GateSample, weight: number, tape?: Tape): Evidence {
  const carried = sample.evidenceSince !== undefined;
  const binMs = evidenceBinMs(policy);
  const bins = binsOf(sample, binMs);
  const steps = policy.steps.length;
  const folded = sample.folded;
  const offset = folded?.bins ?? 0;
  const starts = segmentStarts(bins, carried ? sample.since : undefined, steps, folded);
  const level = failLevel(policy, carried);
  const total = (side: 'source' | 'target') => {
    const live = totalOf(bins, side, emptyBin);
    return folded ? addCounts(live, folded[side]) : live;
  };
  return {
    bins,
    offset,
    ...(folded ? { folded } : {}),
    ...(sample.history?.source.length ? { history: sample.history.source } : {}),
    starts,
    segmentation: liveSegmentation(starts, offset),
    ...(tape ? { tape } : {}),
    steps,
    lastStartWeight: starts.length > 1 ? 0.5 / Math.max(1, steps - 1) : 0.5,
    binMs,
    stepTarget: sample.target,
    target: total('target'),
    source: total('source'),
    scope: carried ? 'since the migration started' : 'since the step started',
    weight,
    level,
    cap: level * BIN_CAP_SHARE,
    lastGate: promotesNext(policy.steps, weight),
    stepBins: bins.filter((b) => b.end > (sample.since ?? -Infinity)).length,
    ...(sample.setAside ? { setAside: sample.setAside } : {}),
  };
}

/** The error and latency checks of the sequential method. */
export function sequentialChecks(policy: PolicySpec, sample: GateSample, weight: number): CheckResult[] {
  const ev = evidenceOf(policy, sample, weight);
  return [...errorChecks(policy, ev), ...latencyChecks(policy, ev)];
}
