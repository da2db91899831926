/**
 * The judge: turns a stream of verdicts for one step into a decision — advance, hold, pause or roll back.
 * Pure and JSON-serializable: the machine keeps `JudgeMemory` in its context and acts on the decision; all
 * bookkeeping of evidence (failure streaks, inconclusive runs, passes this step) lives here, next to the verdict,
 * as Argo Rollouts' analysis package decides "failed" rather than its rollout loop.
 */
import { formatDuration } from '../plan/duration.js';
import type { Verdict } from './types.js';

export interface JudgeConfig {
  /**
   * The analysis window. After a weight change, inconclusive analyses within one window do not count toward the
   * limit; and consecutive failures count only once per window (overlapping windows are not independent evidence).
   */
  windowMs: number;
  intervalMs: number;
  /** Bake time of a step: no advance before this much time has passed at the step's weight. */
  stepDurationMs: number;
  minPassesPerStep: number;
  /** Independent inconclusive windows in a row before the migration pauses (or rolls back). */
  inconclusiveLimit: number;
  inconclusiveAction: 'pause' | 'rollback';
  /** A step held this long while waiting for the evidence to promote pauses for a human (policy analysis.maxBake). */
  maxBakeMs?: number;
  /** The 100 % step bakes at least this long: the post-promotion watch (policy analysis.postPromotionWatch). */
  postPromotionWatchMs?: number;
  /**
   * A step whose evidence is suspect (a third of the way to a rollback) holds up to this long past the moment it
   * was first ready to advance (policy analysis.holdWhileSuspect).
   */
  suspectHoldMs?: number;
}

export interface FailureStreak {
  count: number;
  at: number;
}

export interface JudgeMemory {
  /** Failure streak per check name: independent failures counted, and when the last counted one was seen. */
  failures: Record<string, FailureStreak>;
  /** Independent inconclusive windows in a row, and when the last counted one was seen. */
  inconclusive: FailureStreak;
  /** Passing analyses at the current step. */
  passes: number;
  /**
   * When the current step was first ready to advance (baked, passing, enough passes), whatever its evidence
   * leaned to: suspect evidence holds it up to `suspectHoldMs` from here. A step that waited for the power to
   * promote is ready only once it has it, so a regression that is building up at the last step is held there too.
   */
  readyAt?: number;
  /**
   * When a check failed at 100 % and the migration stepped back to compare like for like (once per migration:
   * a second failure at 100 % rolls back).
   */
  steppedBack?: number;
}

export type Decision =
  | { kind: 'advance' }
  | { kind: 'hold' }
  | { kind: 'pause'; reason: string }
  | { kind: 'rollback'; cause: 'regression' | 'inconclusive'; reason: string }
  /** Back to the step before 100 %: the VMs serve nothing at 100 %, so only there can a failure be told apart. */
  | { kind: 'stepBack'; reason: string };

export interface StepInfo {
  /** When the current step's weight was written (epoch ms). */
  startedAt: number;
  weight: number;
  /** Guarding a held weight (paused, awaiting approval): only a rollback can come out of it. */
  guarding: boolean;
  /** Bake time override (e.g. a weight inherited from before the migration: judged, not baked again). */
  bakeMs?: number;
  /** The window before this time may still hold traffic from another weight: inconclusive there is free. */
  settledAt?: number;
  /** The weight of the step before this one (undefined: none, e.g. a schedule of one step). */
  previousWeight?: number;
}

export function freshMemory(): JudgeMemory {
  return { failures: {}, inconclusive: { count: 0, at: 0 }, passes: 0 };
}

/** A new step starts: passes and inconclusive runs start over; failure streaks carry (a failing check stays failing). */
export function nextStep(m: JudgeMemory): JudgeMemory {
  const { readyAt: _done, ...rest } = m;
  return { ...rest, passes: 0, inconclusive: { count: 0, at: 0 } };
}

/** An operator resumed: inconclusive evidence starts over. */
export function resumed(m: JudgeMemory): JudgeMemory {
  return { ...m, inconclusive: { count: 0, at: 0 } };
}

/**
 * Counts a streak once per window: analyses every 10 s over a 1 m window mostly see the same requests.
 * Returns the streak after this observation.
 */
function countOnce(streak: FailureStreak | undefined, at: number, windowMs: number): FailureStreak {
  const independent = !streak || streak.count === 0 || at - streak.at >= windowMs;
  return independent ? { count: (streak?.count ?? 0) + 1, at } : streak;
}

/**
 * Updates per-check failure streaks; returns the first check that reached its threshold.
 * A pass clears the streak (unless the check counts failures cumulatively); inconclusive or skipped results keep
 * it (missing data neither condemns nor clears).
 */
export function countFailures(
  prev: Record<string, FailureStreak>,
  verdict: Verdict,
  windowMs: number,
): { failures: Record<string, FailureStreak>; tripped?: Verdict['checks'][number] } {
  const failures = { ...prev };
  let tripped: Verdict['checks'][number] | undefined;
  for (const check of verdict.checks) {
    const streak = failures[check.name];
    if (check.outcome === 'fail') {
      const next = countOnce(streak, verdict.at, windowMs);
      failures[check.name] = next;
      if (next.count >= check.failureThreshold && !tripped) tripped = check;
    } else if (check.outcome === 'pass' && streak && !check.cumulative) {
      failures[check.name] = { count: 0, at: verdict.at };
    }
  }
  return { failures, ...(tripped ? { tripped } : {}) };
}

/** Judges one verdict at the current step. */
export function judge(
  cfg: JudgeConfig,
  memory: JudgeMemory,
  verdict: Verdict,
  step: StepInfo,
): { memory: JudgeMemory; decision: Decision } {
  const { failures, tripped } = countFailures(memory.failures, verdict, cfg.windowMs);
  const settledAt = step.settledAt ?? step.startedAt + cfg.windowMs;
  // Waiting for traffic (every inconclusive check only waits) holds the step; it is not missing evidence.
  const waiting =
    verdict.outcome === 'inconclusive' &&
    verdict.checks.every((c) => c.outcome !== 'inconclusive' || c.waiting === true);
  const inconclusive =
    verdict.outcome === 'inconclusive' && !waiting
      ? verdict.at >= settledAt
        ? countOnce(memory.inconclusive, verdict.at, cfg.windowMs)
        : memory.inconclusive
      : { count: 0, at: verdict.at };
  const passes = verdict.outcome === 'pass' ? memory.passes + 1 : memory.passes;
  const next: JudgeMemory = {
    failures,
    inconclusive,
    passes,
    ...(memory.readyAt !== undefined ? { readyAt: memory.readyAt } : {}),
    ...(memory.steppedBack !== undefined ? { steppedBack: memory.steppedBack } : {}),
  };

  if (tripped) {
    const times = step.guarding ? 'while held' : `${tripped.failureThreshold}× in a row`;
    const back = step.previousWeight;
    if (step.weight >= 100 && !step.guarding && memory.steppedBack === undefined && back !== undefined && back > 0)
      return {
        memory: { ...next, steppedBack: verdict.at },
        decision: {
          kind: 'stepBack',
          reason: `${tripped.name} failed at ${step.weight} %: ${tripped.message} — the VMs serve nothing at ${step.weight} %, so a slowdown or failures they would share (a dependency) cannot be told from the containers' own; back to ${back} % to compare them like for like there (the evidence from ${step.weight} % set aside; a regression at ${back} % rolls back, and a second failure at ${step.weight} % too)`,
        },
      };
    return {
      memory: next,
      decision: {
        kind: 'rollback',
        cause: 'regression',
        reason: `${tripped.name} failed ${times} at ${step.weight} %: ${tripped.message}`,
      },
    };
  }
  if (step.guarding) return { memory: next, decision: { kind: 'hold' } };
  if (waiting && cfg.maxBakeMs !== undefined && verdict.at - step.startedAt >= cfg.maxBakeMs) {
    const held = formatDuration(Math.round((verdict.at - step.startedAt) / 1000) * 1000);
    return {
      memory: next,
      decision: {
        kind: 'pause',
        reason: `held ${held} at ${step.weight} % waiting for the evidence to promote, the policy's maxBake (${verdict.summary}) — RESUME to keep waiting, PROMOTE to go on without it, or ABORT`,
      },
    };
  }
  if (!waiting && verdict.outcome === 'inconclusive' && inconclusive.count >= cfg.inconclusiveLimit) {
    const what = `${cfg.inconclusiveLimit} inconclusive analysis windows in a row at ${step.weight} % (${verdict.summary})`;
    return {
      memory: next,
      decision:
        cfg.inconclusiveAction === 'rollback'
          ? { kind: 'rollback', cause: 'inconclusive', reason: what }
          : { kind: 'pause', reason: `${what} — holding; RESUME to retry or ABORT` },
    };
  }
  const bakeMs =
    step.bakeMs ??
    (step.weight >= 100 ? Math.max(cfg.stepDurationMs, cfg.postPromotionWatchMs ?? 0) : cfg.stepDurationMs);
  const ready =
    verdict.outcome === 'pass' &&
    verdict.at - step.startedAt >= bakeMs &&
    passes >= (step.bakeMs !== undefined ? 1 : cfg.minPassesPerStep);
  if (!ready) return { memory: next, decision: { kind: 'hold' } };
  const readyAt = memory.readyAt ?? verdict.at;
  // Suspect evidence holds a ready step at its weight (no alpha spent: the tests are valid at any stopping time).
  const suspect = verdict.checks.some((c) => c.suspect === true);
  const held = suspect && verdict.at - readyAt < (cfg.suspectHoldMs ?? 0);
  return { memory: { ...next, readyAt }, decision: { kind: held ? 'hold' : 'advance' } };
}
