/**
 * The one view of a migration that every interface shows (HTTP API, CLI, Slack, dashboard): built from what a
 * driver stored, with "what is possible now" asked of the machine itself.
 */
import type { ResolvedPlan } from '../plan/load.js';
import { runConfig } from './config.js';
import type { Verdict } from '../gate/types.js';
import type { MigrationView } from './migration-view.js';
import { routeNameOf } from './route-label.js';
import { initialSnapshot, inspect, phaseOf, possibleCommands, type CommandType } from './vocabulary.js';

/** What a driver keeps about a migration (the service's Redis record satisfies it). */
export interface ViewSource {
  id: string;
  name: string;
  namespace: string;
  plan: ResolvedPlan;
  snapshot?: unknown;
  timeScale: number;
  phase: string;
  weight: number;
  reason?: string;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  nextWakeAt?: number;
  heldByWindow: boolean;
  seq: number;
  lastVerdict?: unknown;
}

export type { MigrationView } from './migration-view.js';

/** The commands a stored migration accepts now, and its phase as the machine sees it. */
export function possibleOf(src: Pick<ViewSource, 'plan' | 'snapshot' | 'timeScale' | 'createdAt'>): {
  phase: string;
  possible: CommandType[];
  stepsReached: number;
} {
  const { config } = runConfig(src.plan, src.timeScale);
  const s = inspect(src.snapshot ?? initialSnapshot(config, src.createdAt), config);
  return {
    phase: phaseOf(s),
    possible: possibleCommands(s),
    stepsReached: Math.max(0, Math.min(config.steps.length, s.context.stepIndex + 1)),
  };
}

export function viewOf(rec: ViewSource): MigrationView {
  const now = possibleOf(rec);
  return {
    id: rec.id,
    name: rec.name,
    namespace: rec.namespace,
    route: routeNameOf(rec.plan),
    phase: rec.phase,
    weight: rec.weight,
    steps: rec.plan.policy.steps,
    policy: rec.plan.policyName,
    ...(rec.reason ? { reason: rec.reason } : {}),
    possible: now.possible,
    createdAt: new Date(rec.createdAt).toISOString(),
    createdBy: rec.createdBy,
    updatedAt: new Date(rec.updatedAt).toISOString(),
    ...(rec.nextWakeAt !== undefined ? { nextWakeAt: new Date(rec.nextWakeAt).toISOString() } : {}),
    ...(rec.plan.schedule ? { schedule: rec.plan.schedule } : {}),
    heldByWindow: rec.heldByWindow,
    seq: rec.seq,
    // The drive step stores the machine's last verdict (a gate Verdict) as JSON.
    ...(rec.lastVerdict ? { lastVerdict: rec.lastVerdict as Verdict } : {}),
    stepsReached: now.stepsReached,
  };
}
