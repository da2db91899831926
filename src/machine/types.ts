/** Data the migration machine keeps and the events it accepts. All JSON-serializable. */
import type { JudgeConfig, JudgeMemory } from '../gate/judge.js';
import type { MetricSelectors, TimeRange, Verdict } from '../gate/types.js';

/**
 * The policy, reduced to what the machine decides with (durations in ms, already time-scaled): the judge's
 * settings (gate/judge.ts JudgeConfig) and the schedule around them.
 */
export interface MachineConfig extends JudgeConfig {
  steps: number[];
  approvals: number[];
  /** After the last step: move the PeerAuthentication to STRICT (plan spec.mtls.tightenAfterCompletion). */
  tightenMtls?: boolean;
  /**
   * How long a forward weight write may keep failing for infrastructure reasons (holding the weight, retried)
   * before the migration pauses (policy writeFailureGrace; default 10 min when absent, e.g. older snapshots).
   */
  writeFailureGraceMs?: number;
}

export type RollbackCause = 'regression' | 'abort' | 'error' | 'inconclusive';

export interface HistoryNote {
  at: number;
  by?: string;
  text: string;
}

export type { FailureStreak } from '../gate/judge.js';

/** A write that must land (rollback, mTLS tightening): how far it got and when it is tried next. */
export interface Retrying {
  attempts: number;
  /** Epoch ms of the next attempt (a TICK at or after it starts one). */
  retryAt: number;
  lastError?: string;
}

export interface MigrationContext {
  config: MachineConfig;
  /** Index into config.steps of the weight being applied or held; -1 before the first write. */
  stepIndex: number;
  /** Target weight (percent) that meshshift last wrote and confirmed. */
  weight: number;
  /** Weight found in the cluster at preflight (normally 0). */
  initialWeight: number;
  selectors?: MetricSelectors;
  now: number;
  /** When START was accepted (epoch ms). */
  startedAt?: number;
  stepStartedAt?: number;
  lastAnalysisAt?: number;
  /** The judge's evidence for the current step (failure streaks, inconclusive windows, passes). */
  judge: JudgeMemory;
  /**
   * The weight was found in the cluster at preflight (a split that existed before meshshift): it is judged
   * before anything grows, and the next step is the first one above it.
   */
  inherited: boolean;
  lastVerdict?: Verdict;
  analyses: number;
  approvedWeights: number[];
  /** Set when paused for drift: the next RESUME overwrites the weights that someone else wrote. */
  forceNextWrite: boolean;
  pauseReason?: string;
  rollback?: { cause: RollbackCause; reason: string; by?: string; at: number } & Partial<Retrying>;
  /** Retries of a failed preflight (nothing was written yet). */
  preflightRetry?: Retrying;
  /** Retries of the mTLS tightening after completion of the traffic shift. */
  securing?: Retrying;
  /**
   * A forward weight write that failed for infrastructure reasons (no answer, 429, 5xx, the attempt deadline):
   * the weight is held (still guarded) and the write retried; `since` is when the first failed attempt started.
   */
  writeHold?: Retrying & { since: number; weight: number };
  /**
   * A failure at 100 % stepped the migration back (gate/judge.ts `stepBack`): why and when, and the time its
   * evidence at 100 % covers, which the like-for-like tests set aside from then on.
   */
  stepBack?: { reason: string; at: number; setAside: TimeRange };
  error?: string;
  completedAt?: number;
  /** Outcome of the optional mTLS step after completion. */
  mtls?: string;
}

export interface MigrationInput {
  config: MachineConfig;
  now: number;
}

type Stamp = { at: number };
type Who = { by?: string };
export type MigrationEvent =
  | ({ type: 'START' } & Stamp & Who)
  | ({ type: 'TICK' } & Stamp)
  | ({ type: 'PROMOTE' } & Stamp & Who)
  | ({ type: 'PAUSE'; reason?: string } & Stamp & Who)
  | ({ type: 'RESUME' } & Stamp & Who)
  | ({ type: 'ABORT'; reason?: string } & Stamp & Who);

/** The operator commands, in a stable order (the one definition; engine/vocabulary.ts re-exports it). */
export const COMMANDS = ['PROMOTE', 'PAUSE', 'RESUME', 'ABORT'] as const;
export type CommandType = (typeof COMMANDS)[number];

// Actor contracts. The engine provides the implementations (engine/effects.ts); the machine only knows these shapes.
export interface PreflightOutput {
  at: number;
  initialWeight: number;
  selectors: MetricSelectors;
}
export interface SetWeightInput {
  weight: number;
  /** The weight meshshift believes is in the cluster; anything else is drift. */
  expected: number;
  force: boolean;
  /** Why, when the write is not the schedule's next step (a step back). */
  reason?: string;
}
export interface SetWeightOutput {
  at: number;
  weight: number;
}
export interface AnalyzeInput {
  weight: number;
  selectors: MetricSelectors;
  /** When the current step's weight was written: evidence since then belongs to this step. */
  stepStartedAt?: number;
  /** When the migration started: the sequential method carries evidence across steps from then. */
  evidenceSince?: number;
  /** Evidence bins in this range count for nothing (the 100 % a migration stepped back from). */
  setAside?: TimeRange;
}
export interface RollbackInput {
  reason: string;
  /** The weight meshshift last confirmed in the cluster (reported as `previous`). */
  from: number;
  attempt: number;
}
export interface SecureOutput {
  at: number;
  message: string;
}
export interface RollbackOutput {
  at: number;
}
