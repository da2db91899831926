/**
 * Scheduled rollouts: when a migration may start, and whether the time is inside an advance window.
 * All functions take the time explicitly (epoch ms), so tests drive them with a controllable clock.
 */
import { getNextMillis, type RepeatOptions } from 'bullmq';
import type { ResolvedPlan } from '../plan/load.js';
import type { Clock } from '../engine/clock.js';

export type PlanSchedule = NonNullable<ResolvedPlan['schedule']>;
export type AdvanceWindow = NonNullable<PlanSchedule['windows']>[number];

type Day = 'Sun' | 'Mon' | 'Tue' | 'Wed' | 'Thu' | 'Fri' | 'Sat';
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Day of week and minute of day of `at` in `timeZone`. */
export function localTime(at: number, timeZone: string): { day: Day; minute: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  let day = 'Sun';
  let hour = 0;
  let minute = 0;
  for (const p of f.formatToParts(new Date(at))) {
    if (p.type === 'weekday') day = p.value;
    else if (p.type === 'hour') hour = Number(p.value);
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { day: day as Day, minute: hour * 60 + minute };
}

const toMinute = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function inWindow(w: AdvanceWindow, at: number): boolean {
  const t = localTime(at, w.timeZone);
  return (
    w.days.includes(t.day as AdvanceWindow['days'][number]) &&
    t.minute >= toMinute(w.from) &&
    t.minute < toMinute(w.to)
  );
}

/** True when the plan has no windows, or `at` is inside one of them. */
export function mayAdvance(schedule: PlanSchedule | undefined, at: number): boolean {
  const windows = schedule?.windows;
  if (!windows || windows.length === 0) return true;
  return windows.some((w) => inWindow(w, at));
}

/**
 * The next time (≥ at) when some window is open, to the minute; undefined if none within 8 days.
 * Walks minute boundaries, so the answer is exact for HH:MM windows in any zone, DST included.
 */
export function nextWindowOpen(schedule: PlanSchedule | undefined, at: number): number | undefined {
  if (mayAdvance(schedule, at)) return at;
  let t = Math.ceil(at / 60_000) * 60_000;
  const end = at + 8 * 24 * 3600_000;
  // Closed time is skipped in 5-minute strides, then refined to the minute (windows are at least 5 minutes long).
  for (; t <= end; t += 5 * 60_000) {
    if (mayAdvance(schedule, t)) {
      let lo = t - 5 * 60_000;
      while (lo < t && !mayAdvance(schedule, lo + 60_000)) lo += 60_000;
      return Math.max(at, Math.min(t, lo + 60_000));
    }
  }
  return undefined;
}

/** Start time for `schedule.start.at` (epoch ms), or undefined. */
export function absoluteStart(schedule: PlanSchedule | undefined): number | undefined {
  return schedule?.start?.at ? Date.parse(schedule.start.at) : undefined;
}

/** Next occurrence of a cron expression after `after`, or throws with a readable message. */
export function nextCron(cron: string, timeZone: string, after: number): number {
  let next: number | undefined;
  try {
    next = getNextMillis(after, { pattern: cron, tz: timeZone });
  } catch (err) {
    throw new Error(`invalid cron expression "${cron}": ${(err as Error).message}`);
  }
  if (next === undefined) throw new Error(`cron expression "${cron}" never fires`);
  return next;
}

/**
 * A BullMQ repeat strategy that reads cron patterns against `clock` instead of the wall clock, so job
 * schedulers fire at the right moment under a shifted test clock (and exactly like BullMQ's default otherwise).
 */
export function clockRepeatStrategy(clock: Clock) {
  return (millis: number, opts: RepeatOptions): number | undefined => {
    const offset = clock.now() - Date.now();
    const next = getNextMillis(millis + offset, opts);
    return next === undefined ? undefined : next - offset;
  };
}
