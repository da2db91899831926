/** What the engine needs from the mesh: a small interface, so tests and other meshes can plug in. */
import type { MetricSelectors } from '../gate/types.js';
import type { ResolvedPlan } from '../plan/load.js';
import type { PreflightCheck } from './preflight-check.js';

export type { PreflightCheck } from './preflight-check.js';

/**
 * What a failed preflight leads to, decided here and nowhere else (the machine's guards read it):
 * - `wait`: a dependency is unavailable (a check could not run) and nothing was found wrong: try again, for as long
 *   as it takes;
 * - `confirm`: only evidence is missing (no traffic seen yet): try again a few times;
 * - `stop`: a check found something wrong (not found, forbidden, invalid, wrong subset …): end now, report once.
 */
export type PreflightRetry = 'wait' | 'confirm' | 'stop';

export function preflightRetry(checks: readonly PreflightCheck[]): PreflightRetry {
  const failed = checks.filter((c) => !c.ok);
  if (!failed.every((c) => c.transient === true || c.awaiting === true)) return 'stop';
  return failed.some((c) => c.transient === true) ? 'wait' : 'confirm';
}

export interface PreflightReport {
  ok: boolean;
  checks: PreflightCheck[];
  /** Target weight found in the route (normally 0). */
  initialWeight: number;
  selectors: MetricSelectors;
  istioVersion: string;
}

export interface WeightWrite {
  at: number;
  weight: number;
  /** false when the cluster already had this weight (idempotent re-apply after a restart). */
  wrote: boolean;
  attempts: number;
  resourceVersion?: string;
}

export interface SetWeightOptions {
  /** The weight meshshift last wrote; a different weight in the cluster is drift. */
  expected: number;
  /** Overwrite whatever is there (rollback, or RESUME after the operator accepted drift). */
  force: boolean;
  /** Cancels the write: no attempt starts, and a request in flight is aborted, once this fires. */
  signal?: AbortSignal;
  /**
   * Runs before every PATCH attempt, retries included (e.g. "do we still hold the lease?"). Throwing stops the
   * write; the error is rethrown as it is.
   */
  beforeAttempt?: () => Promise<void>;
}

/** Cancellation for a read-only mesh call. */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface MeshAdapter {
  preflight(plan: ResolvedPlan, opts?: CallOptions): Promise<PreflightReport>;
  /** Sets the target's weight (the source gets 100 − weight) in one write. */
  setWeight(plan: ResolvedPlan, weight: number, opts: SetWeightOptions): Promise<WeightWrite>;
  /** Reads the current target weight. */
  currentWeight(plan: ResolvedPlan, opts?: CallOptions): Promise<number>;
}

export class PreflightError extends Error {
  /** See `preflightRetry`: a field, so that it survives a copy of the error. */
  readonly retry: PreflightRetry;

  constructor(readonly report: PreflightReport) {
    const failed = report.checks.filter((c) => !c.ok);
    super(
      `${failed.length} preflight check${failed.length === 1 ? '' : 's'} failed: ` +
        failed.map((c) => `[${c.id}] ${c.message}${c.fix ? ` (fix: ${c.fix})` : ''}`).join('; '),
    );
    this.name = 'PreflightError';
    this.retry = preflightRetry(report.checks);
  }
}
