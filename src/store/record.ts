/** A migration's record and its mapping to and from the fields of its Redis hash. */
import { upgradeResolvedPlan, type ResolvedPlan } from '../plan/load.js';
import { routeLabel, routeNameOf } from '../engine/route-label.js';

export interface MigrationSummary {
  id: string;
  namespace: string;
  plan: string;
  phase: string;
  weight: number;
  /** Epoch ms of the last phase change or weight write. */
  transitionAt: number;
}

export interface MigrationRecord {
  id: string;
  name: string;
  namespace: string;
  plan: ResolvedPlan;
  /** Version of the state; the next drive job has id `<id>-<seq>`. */
  seq: number;
  /** Persisted xstate snapshot, or undefined before the first drive. */
  snapshot?: unknown;
  phase: string;
  weight: number;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  /** Policy time scale for this migration (1 in production; smaller in demos/tests). */
  timeScale: number;
  /** Scheduled start (epoch ms) for `schedule.start.at`. */
  startAt?: number;
  /** Waiting for the cron job scheduler to fire (`schedule.start.cron`). */
  awaitingCron: boolean;
  /** Paused by meshshift because the time is outside every advance window. */
  heldByWindow: boolean;
  /** The worker that is running a drive job now (cleared on commit): left set by a worker that died mid-step. */
  runningBy?: string;
  runningPid?: number;
  runningSince?: number;
  /** One line for humans: why it is paused, rolled back, waiting, failed. */
  reason?: string;
  lastVerdict?: unknown;
  nextWakeAt?: number;
}

/** The fields summaries read (in this order). */
export const SUMMARY_FIELDS = ['namespace', 'name', 'phase', 'weight', 'transitionAt', 'createdAt'] as const;

export function summaryOf(id: string, v: Array<string | null>): MigrationSummary {
  const [namespace, name, phase, weight, transitionAt, createdAt] = v;
  return {
    id,
    namespace: namespace ?? '',
    plan: name ?? id,
    phase: phase ?? 'unknown',
    weight: Number(weight ?? 0),
    transitionAt: Number(transitionAt ?? createdAt ?? 0),
  };
}

export function toFields(rec: MigrationRecord): Record<string, string> {
  const f: Record<string, string> = {
    id: rec.id,
    name: rec.name,
    namespace: rec.namespace,
    plan: JSON.stringify(rec.plan),
    seq: String(rec.seq),
    phase: rec.phase,
    weight: String(rec.weight),
    createdAt: String(rec.createdAt),
    createdBy: rec.createdBy,
    updatedAt: String(rec.updatedAt),
    timeScale: String(rec.timeScale),
    awaitingCron: rec.awaitingCron ? '1' : '0',
    heldByWindow: rec.heldByWindow ? '1' : '0',
  };
  if (rec.snapshot !== undefined) f.snapshot = JSON.stringify(rec.snapshot);
  if (rec.startAt !== undefined) f.startAt = String(rec.startAt);
  if (rec.reason !== undefined) f.reason = rec.reason;
  return f;
}

const num = (s: string | undefined) => (s === undefined || s === '' ? undefined : Number(s));
const optional = <K extends string, V>(k: K, v: V | undefined) =>
  (v === undefined ? {} : { [k]: v }) as Partial<Record<K, V>>;

export function fromFields(h: Record<string, string>): MigrationRecord | undefined {
  if (!h.id || !h.plan) return undefined;
  return {
    id: h.id,
    name: h.name ?? h.id,
    namespace: h.namespace ?? '',
    plan: upgradeResolvedPlan(JSON.parse(h.plan) as ResolvedPlan),
    seq: Number(h.seq ?? 0),
    ...optional('snapshot', h.snapshot ? (JSON.parse(h.snapshot) as unknown) : undefined),
    phase: h.phase ?? 'pending',
    weight: Number(h.weight ?? 0),
    createdAt: Number(h.createdAt ?? 0),
    createdBy: h.createdBy ?? 'unknown',
    updatedAt: Number(h.updatedAt ?? 0),
    timeScale: Number(h.timeScale ?? 1),
    ...optional('startAt', num(h.startAt)),
    awaitingCron: h.awaitingCron === '1',
    heldByWindow: h.heldByWindow === '1',
    ...optional('runningBy', h.runningBy || undefined),
    ...optional('runningPid', num(h.runningPid)),
    ...optional('runningSince', num(h.runningSince)),
    ...optional('reason', h.reason || undefined),
    ...optional('lastVerdict', h.lastVerdict ? (JSON.parse(h.lastVerdict) as unknown) : undefined),
    ...optional('nextWakeAt', num(h.nextWakeAt)),
  };
}

export interface CommandMessage {
  type: 'PROMOTE' | 'PAUSE' | 'RESUME' | 'ABORT';
  by: string;
  reason?: string;
  at: number;
  /** Epoch ms by which Redis had to store it, and when it did (see command-deadline.ts). */
  deadline?: number;
  storedAt?: number;
}

export type LockResult =
  | { ok: true; previous?: { by: string; pid?: number; since: number } }
  | { ok: false; why: 'stale'; seq: number }
  | { ok: false; why: 'locked'; ttlMs: number; holder: string }
  | { ok: false; why: 'gone' };

export class FencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencedError';
  }
}

/** The route a plan shifts, for people ("VirtualService shop/pcs route to pcs/vm", "HTTPRoute shop/pcs rule …"). */
export function describeRoute(plan: Pick<ResolvedPlan, 'namespace' | 'route' | 'source'>): string {
  const d = plan.source.destination;
  const rule = plan.route.rule ?? `to ${d.host}${d.subset ? `/${d.subset}` : ''}`;
  const word = plan.route.kind === 'VirtualService' ? 'route' : 'rule';
  return `${routeLabel(routeNameOf(plan))} ${word} ${rule}`;
}

/** What identifies a route for the claim that keeps two migrations of it from running at once. */
export const routeIdentity = (plan: Pick<ResolvedPlan, 'namespace' | 'route' | 'source'>): string =>
  describeRoute(plan);
