/**
 * What happens to a migration, as one typed union: the engine emits these while it advances (the CLI prints them,
 * `--output json` emits one per line), and drivers store them as the migration's history (verdicts compacted).
 */
import type { Verdict } from '../gate/types.js';
import type { PreflightCheck } from '../mesh/types.js';
import type { Phase } from './vocabulary.js';

type At = { at: number };

/** Events the engine itself produces while advancing a migration. */
export type EngineEvent =
  | ({ type: 'started'; migration: string; policy: string; steps: number[]; resumed: boolean } & At)
  | ({ type: 'preflight'; ok: boolean; checks: PreflightCheck[]; initialWeight: number } & At)
  | ({ type: 'phase'; phase: Phase; from?: Phase; weight: number; reason?: string } & At)
  | ({
      type: 'weight';
      weight: number;
      previous: number;
      wrote: boolean;
      attempts: number;
      rollback?: boolean;
    } & At)
  | ({ type: 'verdict'; verdict: Verdict } & At)
  | ({ type: 'mtls'; ok: boolean; changed: boolean; message: string } & At)
  | ({
      type: 'command';
      command: string;
      by?: string;
      accepted: boolean;
      reason?: string;
      /** Why it was not applied. */
      refused?: string;
    } & At)
  /** A rollback write failed; it is tried again at `retryAt` (a rollback is never given up). */
  | ({ type: 'rollbackRetry'; attempt: number; retryAt: number; error: string } & At)
  /** A step's weight write failed for the API: `held` stays, the write of `weight` is tried again at `retryAt`. */
  | ({
      type: 'writeRetry';
      weight: number;
      held: number;
      attempt: number;
      retryAt: number;
      error: string;
    } & At)
  | ({ type: 'finished'; phase: Phase; weight: number; reason?: string; durationMs: number } & At);

/** A verdict as history keeps it: the checks with their numbers, and the raw sample's totals. */
export interface VerdictRecord extends At {
  type: 'verdict';
  outcome: Verdict['outcome'];
  weight: number;
  summary: string;
  checks: { name: string; outcome: string; observed?: number; threshold?: number }[];
  sample?: { source: unknown; target: unknown; windowMs: number; queries: number };
}

/** Events the service's drivers add (submission, schedule waits, takeovers). */
export type DriverEvent =
  | ({
      type: 'submitted';
      by: string;
      plan: string;
      namespace: string;
      policy: string;
      steps: number[];
      schedule?: unknown;
    } & At)
  | ({ type: 'waiting'; reason: string } & At)
  | ({ type: 'schedule'; text: string } & At)
  | ({
      type: 'takeover';
      by: string;
      from: string;
      fromPid?: number;
      sinceMs: number;
      text: string;
    } & At);

/** Every `type` a history entry can have (the OpenAPI enum is this list). */
export const HISTORY_TYPES = [
  'submitted',
  'started',
  'preflight',
  'phase',
  'weight',
  'verdict',
  'mtls',
  'command',
  'rollbackRetry',
  'writeRetry',
  'finished',
  'waiting',
  'schedule',
  'takeover',
] as const satisfies readonly HistoryType[];
type HistoryType = EngineEvent['type'] | DriverEvent['type'];

/** One history entry before it is stored. */
export type HistoryRecord = Exclude<EngineEvent, { type: 'verdict' }> | VerdictRecord | DriverEvent;

/** Compact, JSON-friendly history entry for an engine event (verdicts keep their numbers, not the raw sample). */
export function historyOf(e: EngineEvent): HistoryRecord {
  if (e.type !== 'verdict') return e;
  const v = e.verdict;
  return {
    type: 'verdict',
    at: e.at,
    outcome: v.outcome,
    weight: v.weight,
    summary: v.summary,
    checks: v.checks.map((c) => ({
      name: c.name,
      outcome: c.outcome,
      ...(c.observed !== undefined ? { observed: c.observed } : {}),
      ...(c.threshold !== undefined ? { threshold: c.threshold } : {}),
    })),
    ...(v.sample
      ? {
          sample: {
            source: v.sample.source,
            target: v.sample.target,
            windowMs: v.sample.windowMs,
            queries: v.sample.queries,
          },
        }
      : {}),
  };
}
