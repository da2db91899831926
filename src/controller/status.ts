/**
 * The MigrationPlan's `.status`, mirrored from the service's record and history: phase, weight, step, the last
 * verdict with its numbers, the rollback reason, and kstatus-compatible conditions (`Ready`, and `Reconciling` /
 * `Stalled` only while true, as kstatus expects) so `kubectl wait --for=condition=Ready`, Flux and Argo CD
 * understand it. Pure: no I/O.
 */
import { stepLabel } from '../engine/step-label.js';
import type { HistoryEntry, VerdictRecord } from '../engine/history.js';
import type { MigrationView } from '../engine/view.js';
import { isTerminalPhase } from '../engine/vocabulary.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface VerdictStatus {
  outcome: string;
  weight: number;
  summary: string;
  at: string;
  checks: { name: string; outcome: string; observed?: number; threshold?: number }[];
}

export interface PlanStatus {
  migrationId?: string;
  phase?: string;
  weight?: number;
  step?: string;
  observedGeneration?: number;
  /** The generation whose spec the migration runs (a later edit of an active migration is refused). */
  planGeneration?: number;
  startedAt?: string;
  finishedAt?: string;
  reason?: string;
  possible?: string[];
  lastVerdict?: VerdictStatus;
  lastHistoryId?: string;
  conditions?: Condition[];
}

/** A condition the controller wants, before transition times are settled. */
export type WantedCondition = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

const STARTS: readonly HistoryEntry['type'][] = ['started', 'preflight', 'phase', 'weight'];
const iso = (ms: number): string => new Date(ms).toISOString();

/** kstatus conditions for a migration's phase. */
export function conditionsFor(view: Pick<MigrationView, 'phase' | 'weight' | 'reason'>): WantedCondition[] {
  const { phase, weight } = view;
  const why = view.reason ?? '';
  const ready = (status: ConditionStatus, reason: string, message: string): WantedCondition => ({
    type: 'Ready',
    status,
    reason,
    message,
  });
  if (phase === 'completed') return [ready('True', 'Completed', 'all traffic is on the target (100 %)')];
  if (isTerminalPhase(phase)) {
    const reason = phase === 'rolledBack' ? 'RolledBack' : phase === 'aborted' ? 'Aborted' : 'Failed';
    const message = `${phase}${why ? `: ${why}` : ''}`;
    return [ready('False', reason, message), { type: 'Stalled', status: 'True', reason, message }];
  }
  const progressing: Record<string, [string, string]> = {
    pending: ['Pending', 'waiting to start'],
    preflight: ['Preflight', 'checking the mesh before the first write'],
    shifting: ['Shifting', `shifting traffic: ${weight} % on the target`],
    awaitingApproval: ['AwaitingApproval', `waiting for promote at ${weight} %`],
    paused: ['Paused', `paused at ${weight} %${why ? `: ${why}` : ''}`],
    rollingBack: ['RollingBack', `rolling back to the source${why ? `: ${why}` : ''}`],
    securing: ['Securing', 'tightening mTLS after completion'],
  };
  const [reason, message] = progressing[phase] ?? ['Progressing', phase];
  return [ready('False', reason, message), { type: 'Reconciling', status: 'True', reason, message }];
}

/** Settles transition times against the previous conditions (unchanged status keeps its time). */
export function settleConditions(
  wanted: readonly WantedCondition[],
  previous: readonly Condition[] | undefined,
  generation: number,
  now: number,
): Condition[] {
  return wanted.map((w) => {
    const prev = previous?.find((p) => p.type === w.type);
    const same = prev && prev.status === w.status;
    return {
      ...w,
      observedGeneration: generation,
      lastTransitionTime: same ? prev.lastTransitionTime : iso(now),
    };
  });
}

/** A history verdict entry as status shows it. */
export function verdictStatus(e: VerdictRecord): VerdictStatus {
  return { outcome: e.outcome, weight: e.weight, summary: e.summary, at: iso(e.at), checks: e.checks };
}

/** The status for a migration the service drives, given the newest history entries since the last mirror. */
export function mirrorStatus(args: {
  previous: PlanStatus;
  view: MigrationView;
  entries: readonly HistoryEntry[];
  generation: number;
  extraConditions?: readonly WantedCondition[];
  now: number;
}): PlanStatus {
  const { previous, view, entries, generation } = args;
  const next: PlanStatus = {
    ...previous,
    migrationId: view.id,
    phase: view.phase,
    weight: view.weight,
    step: stepLabel(view),
    observedGeneration: generation,
    possible: view.possible,
  };
  if (view.reason) next.reason = view.reason;
  else delete next.reason;
  for (const e of entries) {
    // The first thing the engine does (the service's history has no separate "started" entry).
    if (STARTS.includes(e.type) && !next.startedAt) next.startedAt = iso(e.at);
    if (e.type === 'finished') next.finishedAt = iso(e.at);
    if (e.type === 'verdict') next.lastVerdict = verdictStatus(e);
  }
  const last = entries[entries.length - 1];
  if (last) next.lastHistoryId = last.id;
  next.conditions = settleConditions(
    [...conditionsFor(view), ...(args.extraConditions ?? [])],
    previous.conditions,
    generation,
    args.now,
  );
  return next;
}
