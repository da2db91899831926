/**
 * One drive job's work for one migration, under the worker's lease: decide what the schedule allows (start time,
 * cron, advance windows, concurrency slots), hand the operator commands to the engine, and commit the engine's
 * result with the history. The engine decides everything about the migration itself.
 */
import type { Logger } from '../log/logger.js';
import { advance, type Advanced, type EngineCommand, type EngineDeps } from '../engine/advance.js';
import type { Clock } from '../engine/clock.js';
import { historyOf, type HistoryRecord } from '../engine/history.js';
import type { Phase } from '../engine/vocabulary.js';
import type { ServiceMetrics } from './metrics.js';
import { commandExpired } from '../store/command-deadline.js';
import { mayAdvance, nextWindowOpen } from './schedule.js';
import { describeRoute } from '../store/record.js';
import type {
  CommandMessage,
  MigrationRecord,
  NewHistoryEntry,
  RedisMigrationStore,
} from '../store/store.js';

export interface DriveStepDeps {
  store: RedisMigrationStore;
  engine: Omit<EngineDeps, 'log'>;
  clock: Clock;
  log: Logger;
  serviceMetrics?: ServiceMetrics;
  limits: { perNamespace: number; total: number };
  slotRetryMs: number;
  /** Round wake-ups up to / date TICKs down to this grid (batched analyses). 0 = none. */
  tickAlignMs: number;
  removeCronStart: (id: string) => Promise<void>;
}

export interface DriveLease {
  seq: number;
  token: string;
  /** Throws when the lease is gone (checked before every mesh write). */
  check: () => Promise<void>;
}

export interface StepOutcome {
  seq: number;
  /** Delay of the next job in ms; undefined = none (finished, or waiting for a command / cron). */
  next?: number;
  phase: Phase;
  weight: number;
}

const align = (t: number, a: number, up: boolean) =>
  a > 0 ? (up ? Math.ceil(t / a) : Math.floor(t / a)) * a : t;

/**
 * A pending migration that the schedule lets start takes its VirtualService route (two migrations never shift
 * one route at once: the first to start claims it, the other waits) and a concurrency slot.
 */
async function mayStart(
  d: DriveStepDeps,
  rec: MigrationRecord,
  now: number,
): Promise<{ start: true } | { start: false; waitUntil: number; waitReason: string }> {
  const holder = await d.store.routeHolder(rec.id, rec.plan, true);
  if (holder)
    return {
      start: false,
      waitUntil: now + d.slotRetryMs,
      waitReason: `queued: ${describeRoute(rec.plan)} is being shifted by migration ${holder}; starts when it has finished`,
    };
  const slot = await d.store.takeSlot(rec.id, rec.plan.namespace, d.limits);
  if (slot.ok) return { start: true };
  return {
    start: false,
    waitUntil: now + d.slotRetryMs,
    waitReason: `queued: ${slot.running} migrations already running in ${slot.scope === 'namespace' ? `namespace ${rec.plan.namespace}` : 'the cluster'} (the limit)`,
  };
}

/** What the schedule says before the engine runs: commands it adds, whether a pending migration may start. */
async function planJob(
  d: DriveStepDeps,
  rec: MigrationRecord,
  inbox: CommandMessage[],
  history: NewHistoryEntry[],
) {
  const now = d.clock.now();
  const schedule = rec.plan.schedule;
  const commands: EngineCommand[] = inbox.map((c) => ({
    type: c.type,
    by: c.by,
    ...(c.reason ? { reason: c.reason } : {}),
  }));
  let heldByWindow = rec.heldByWindow;
  let awaitingCron = rec.awaitingCron;
  let waitUntil: number | undefined;
  let waitReason: string | undefined;
  let start = false;
  const aborting = inbox.some((c) => c.type === 'ABORT');
  if (aborting && awaitingCron) {
    awaitingCron = false;
    await d.removeCronStart(rec.id).catch(() => undefined);
  }
  if (rec.phase === 'pending' && !aborting) {
    if (awaitingCron) {
      waitReason = `waiting for the cron start "${schedule?.start?.cron}" (${schedule?.start?.timeZone})`;
    } else if (rec.startAt !== undefined && now < rec.startAt) {
      waitUntil = rec.startAt;
      waitReason = `scheduled to start at ${new Date(rec.startAt).toISOString()}`;
    } else if (!mayAdvance(schedule, now)) {
      waitUntil = nextWindowOpen(schedule, now);
      waitReason = `outside the advance windows: starts when the next window opens${waitUntil ? ` (${new Date(waitUntil).toISOString()})` : ''}`;
    } else {
      const gate = await mayStart(d, rec, now);
      if (gate.start) start = true;
      else ({ waitUntil, waitReason } = gate);
    }
    if (waitReason && waitReason !== rec.reason)
      history.push({ type: 'waiting', at: now, reason: waitReason });
  }
  // Advance windows: outside them, hold (PAUSE, still guarded); inside, resume what the schedule held.
  if (schedule?.windows?.length && !commands.length) {
    const open = mayAdvance(schedule, now);
    if (!open && (rec.phase === 'shifting' || rec.phase === 'awaitingApproval')) {
      commands.push({
        type: 'PAUSE',
        by: 'schedule',
        reason: `outside the advance windows; holding at ${rec.weight} % until the next window opens`,
      });
      heldByWindow = true;
    } else if (open && rec.phase === 'paused' && heldByWindow) {
      commands.push({ type: 'RESUME', by: 'schedule' });
    }
  }
  return { commands, start, heldByWindow, awaitingCron, waitUntil, waitReason };
}

/** One bounded piece of progress; commits it and says when the next job runs. */
export async function driveStep(
  d: DriveStepDeps,
  rec: MigrationRecord,
  lease: DriveLease,
  history: NewHistoryEntry[],
): Promise<StepOutcome> {
  const { store, clock } = d;
  const id = rec.id;
  const log = d.log.child({ seq: lease.seq });
  const stored = await store.inbox(id);
  const inbox = liveCommands(stored, clock, history);
  const job = await planJob(d, rec, inbox, history);
  const r = await advance(
    { ...d.engine, log, beforeWrite: lease.check },
    {
      id,
      plan: rec.plan,
      timeScale: rec.timeScale,
      snapshot: rec.snapshot,
      commands: job.commands,
      start: job.start,
      tickAt: align(clock.now(), d.tickAlignMs, false),
    },
  );
  const heldByWindow = stillHeldByWindow(job.heldByWindow, r);
  const records: HistoryRecord[] = r.events.map(historyOf);
  observe(d, rec, r);
  await lease.check();

  let next = r.terminal ? undefined : nextDelay(d, rec, r, job.waitUntil, heldByWindow);
  const reason = r.phase === 'pending' ? job.waitReason : r.reason;
  const verdict = r.context.lastVerdict;
  const committed = await store.commit(id, rec.plan.namespace, {
    token: lease.token,
    seq: lease.seq,
    fields: {
      snapshot: JSON.stringify(r.snapshot),
      phase: r.phase,
      weight: String(r.weight),
      updatedAt: String(clock.now()),
      // Last phase change or weight write: what the "migration stuck" alert watches.
      ...(r.phase !== rec.phase || r.weight !== rec.weight ? { transitionAt: String(clock.now()) } : {}),
      heldByWindow: heldByWindow ? '1' : '0',
      awaitingCron: job.awaitingCron ? '1' : '0',
      reason: reason ?? null,
      lastVerdict: verdict ? JSON.stringify(verdict) : null,
      nextWakeAt: next !== undefined ? String(clock.now() + next) : null,
    },
    inboxConsumed: stored.length,
    releaseSlot: r.terminal,
    history: [...history, ...records],
  });
  if (!r.terminal && committed.inbox > 0) next = 0; // a command arrived while we worked
  if (r.terminal) log.info({ phase: r.phase, weight: r.weight, reason }, 'migration finished');
  return { seq: committed.seq, ...(next !== undefined ? { next } : {}), phase: r.phase, weight: r.weight };
}

/**
 * The inbox without the commands stored after their deadline: each belongs to a request that failed (503), so it
 * is never applied, only recorded as dropped.
 */
function liveCommands(stored: CommandMessage[], clock: Clock, history: NewHistoryEntry[]): CommandMessage[] {
  const inbox = stored.filter((c) => !commandExpired(c, clock.now()));
  for (const c of stored.filter((c) => !inbox.includes(c))) {
    const refused = 'dropped: it reached Redis after its deadline (its request had failed)';
    history.push({
      type: 'command',
      at: clock.now(),
      command: c.type,
      by: c.by,
      accepted: false,
      reason: refused,
      refused,
    });
  }
  return inbox;
}

/**
 * Whether the advance windows still hold the migration paused after this step: an operator's PAUSE, RESUME or
 * ABORT takes the hold over, the schedule's own RESUME ends it, and so does any phase but paused.
 */
function stillHeldByWindow(held: boolean, r: Advanced): boolean {
  let heldByWindow = held;
  for (const c of r.commands) {
    if (!c.accepted) continue;
    if (c.by !== 'schedule' && (c.command === 'PAUSE' || c.command === 'RESUME' || c.command === 'ABORT'))
      heldByWindow = false;
    if (c.by === 'schedule' && c.command === 'RESUME') heldByWindow = false;
  }
  return r.phase === 'paused' && heldByWindow;
}

/**
 * Delay of the next job of a migration still running, in ms: the earliest of the engine's wake-up, the
 * schedule's wait and (held by a window) the next window's opening, on the tick grid; undefined when none.
 */
function nextDelay(
  d: DriveStepDeps,
  rec: MigrationRecord,
  r: Advanced,
  waitUntil: number | undefined,
  heldByWindow: boolean,
): number | undefined {
  const candidates: number[] = [];
  if (r.nextWakeAt !== undefined) candidates.push(r.nextWakeAt);
  if (waitUntil !== undefined) candidates.push(waitUntil);
  if (heldByWindow) {
    const open = nextWindowOpen(rec.plan.schedule, d.clock.now());
    if (open !== undefined) candidates.push(open);
  }
  if (!candidates.length) return undefined;
  // A decided rollback (or a retry) is never delayed to a grid slot.
  const due = Math.min(...candidates);
  return Math.max(0, (r.phase === 'rollingBack' ? due : align(due, d.tickAlignMs, true)) - d.clock.now());
}

/** Service metrics from the events of one step. */
function observe(d: DriveStepDeps, rec: MigrationRecord, r: Advanced) {
  const sm = d.serviceMetrics;
  if (!sm) return;
  const labels = { namespace: rec.plan.namespace, migration: rec.id };
  let stepStartedAt = (rec.snapshot as { context?: { stepStartedAt?: number } } | undefined)?.context
    ?.stepStartedAt;
  for (const e of r.events) {
    if (e.type === 'verdict') sm.verdicts.inc({ result: e.verdict.outcome, ...labels });
    if (e.type === 'weight' && !e.rollback && e.weight !== e.previous) {
      if (stepStartedAt !== undefined)
        sm.stepDuration.observe({ namespace: rec.plan.namespace }, (e.at - stepStartedAt) / 1000);
      stepStartedAt = e.at;
    }
    if (e.type === 'phase' && (e.phase === 'rolledBack' || e.phase === 'aborted'))
      sm.rollbacks.inc({ cause: r.context.rollback?.cause ?? 'unknown', ...labels });
  }
}
