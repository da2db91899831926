/**
 * The decisions benchmark's harm measure, pure: the EXPECTED number of extra bad requests (failed, or slower than
 * HARM_LATENCY_MS) the regressed containers serve within HARM_HORIZON_MS of the migration's start, the same
 * window for every policy. During the run it counts the container requests actually served while regressed;
 * after the run the final state holds until the horizon: a promoted build serves everything, a rolled-back one
 * nothing, a paused one the weight it was left at. Expected rather than realised counts: realised errors minus
 * an expectation is noise when a regression barely changes the bad rate.
 */
import type { Outcome } from './results.js';
import { volumeAt, type ScenarioDef } from './scenarios.js';
import { HARM_LATENCY_MS, latencyCdf, type SideBehaviour } from './traffic.js';

/** Harm is measured over this much virtual time from the migration's start, whatever the policy does. */
export const HARM_HORIZON_MS = 2 * 3600_000;

/** One-line definition, printed with the figures. */
export const HARM_DEFINITION =
  `harm: expected excess bad requests (errors, or > ${HARM_LATENCY_MS} ms) from the regressed containers ` +
  `within ${HARM_HORIZON_MS / 3600_000} h of the start; a promoted build keeps serving until then`;

interface BadRates {
  errors: number;
  slow: number;
}

const rates = (b: SideBehaviour): BadRates => ({
  errors: b.errorRate,
  slow: 1 - latencyCdf(b.latency, HARM_LATENCY_MS),
});

/** A request is bad if it fails or is slow (latency is independent of failure in the model): counted once. */
const union = (r: BadRates) => r.errors + (1 - r.errors) * r.slow;

/** Probability that one request served with behaviour `b` fails or takes longer than HARM_LATENCY_MS. */
export function badProbability(b: SideBehaviour): number {
  return union(rates(b));
}

/**
 * Extra bad-request probability per container request of the regressed build, over the VMs (≥ 0). Where the
 * healthy container is itself a little worse than the VMs in one respect (errors ×1.05, latency +3 %: within what
 * every policy must promote), that respect's baseline is the healthy container's: the regression's harm is what
 * it adds beyond the VMs and beyond a build any correct policy would ship. A regression that leaves the bad rate
 * where it was (p50 +30 % with p99 unchanged) harms no request.
 */
export function excessBadProbability(
  regressed: SideBehaviour,
  vm: SideBehaviour,
  healthyTarget: SideBehaviour = vm,
): number {
  const r = rates(regressed);
  const v = rates(vm);
  const h = rates(healthyTarget);
  const baseline = { errors: Math.max(v.errors, h.errors), slow: Math.max(v.slow, h.slow) };
  return Math.max(0, union(r) - union(baseline));
}

/** The containers' share of traffic once the run has ended, until the horizon. */
export function shareAfterRun(outcome: Outcome, finalWeight: number): number {
  if (outcome === 'completed') return 1;
  if (outcome === 'rolledBack' || outcome === 'aborted') return 0;
  return finalWeight / 100;
}

export interface AfterRunInput {
  outcome: Outcome;
  /** The weight last written (held when paused or timed out). */
  finalWeight: number;
  /** Whether the containers serve the regressed build after the run (see `regressedAfterRun`). */
  regressed: boolean;
  /** Virtual ms from the migration's start to the run's end. */
  endMs: number;
  excess: number;
  rps: number;
  volume: ScenarioDef['volume'];
}

/** Mean volume multiplier of a bursty slot: E[e^(0.4·Z)] for the log-normal bursts. */
const MEAN_BURST = Math.exp(0.08);

/** Expected harm from the run's end to the horizon (analytic: nothing is generated). */
export function harmAfterRun(a: AfterRunInput, horizonMs = HARM_HORIZON_MS): number {
  const share = shareAfterRun(a.outcome, a.finalWeight);
  if (!a.regressed || share === 0 || a.excess === 0 || a.endMs >= horizonMs) return 0;
  let requests = 0;
  const from = Math.ceil(a.endMs / 1000);
  for (let sec = from; sec < horizonMs / 1000; sec++) requests += a.rps * volumeAt(a.volume, sec, MEAN_BURST);
  return requests * share * a.excess;
}

/**
 * Whether the build is regressed after the run: it was during the run, or the run completed past the weight at
 * which the regression starts (the injection point still applies to the traffic after the run).
 */
export function regressedAfterRun(
  regressedDuringRun: boolean,
  outcome: Outcome,
  injectAtWeight: number,
): boolean {
  return regressedDuringRun || (outcome === 'completed' && injectAtWeight <= 100);
}
