/**
 * What happens to a migration, as one typed union: the engine emits these while it advances (the CLI prints them,
 * `--output json` emits one per line), and drivers store them as the migration's history (verdicts compacted).
 * What is read back is parsed here (`parseHistoryRecord`), once, into the same union: every renderer (CLI, Slack,
 * dashboard, controller Events) switches on `type` and reads typed fields. Node-free (the dashboard bundle reads
 * these types): it imports only import-free files.
 */
import type { CheckOutcome, SideSample, Verdict } from '../gate/types.js';
import type { PreflightCheck } from '../mesh/preflight-check.js';
import { PHASES, type Phase } from './phases.js';

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
      /** Why, when the weight went back a step rather than forward (a failure at 100 %: gate/judge.ts). */
      reason?: string;
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

/** One side's numbers in a stored verdict; a sequential sample also carries the side's own histogram bounds. */
export type SampleSide = SideSample & { bounds?: readonly number[] };

/** A verdict as history keeps it: the checks with their numbers, and the raw sample's totals. */
export interface VerdictRecord extends At {
  type: 'verdict';
  outcome: Verdict['outcome'];
  weight: number;
  summary: string;
  checks: { name: string; outcome: CheckOutcome; observed?: number; threshold?: number }[];
  sample?: { source: SampleSide; target: SampleSide; windowMs: number; queries: number };
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
export type HistoryType = EngineEvent['type'] | DriverEvent['type'];

/** One history entry before it is stored. */
export type HistoryRecord = Exclude<EngineEvent, { type: 'verdict' }> | VerdictRecord | DriverEvent;

/** A stored entry that could not be read back as a record (kept, so that paging and cursors still work). */
export interface UnreadableRecord extends At {
  type: 'unreadable';
  /** What was wrong with it. */
  error: string;
}

/** What a stored entry reads back as: a record, or what could not be read. */
export type StoredRecord = HistoryRecord | UnreadableRecord;

/** A history entry as a driver stored it: the record, its stream id (the paging cursor) and sequence number. */
export type HistoryEntry = StoredRecord & {
  /** Redis stream id (time-ordered); also the paging cursor. */
  id: string;
  seq: number;
  /** On the latest entry of a compacted run: the run's length (its first entry is kept too) and its start. */
  run?: { length: number; since: number };
};

type FieldKind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'phase';
/** The fields each type of record must have, and of what kind (optional fields are not listed). */
const REQUIRED: { [T in HistoryType]: Record<string, FieldKind> } = {
  submitted: { by: 'string', plan: 'string', namespace: 'string', policy: 'string', steps: 'array' },
  started: { migration: 'string', policy: 'string', steps: 'array', resumed: 'boolean' },
  preflight: { ok: 'boolean', checks: 'array', initialWeight: 'number' },
  phase: { phase: 'phase', weight: 'number' },
  weight: { weight: 'number', previous: 'number', wrote: 'boolean', attempts: 'number' },
  verdict: { outcome: 'string', weight: 'number', summary: 'string', checks: 'array' },
  mtls: { ok: 'boolean', changed: 'boolean', message: 'string' },
  command: { command: 'string', accepted: 'boolean' },
  rollbackRetry: { attempt: 'number', retryAt: 'number', error: 'string' },
  writeRetry: { weight: 'number', held: 'number', attempt: 'number', retryAt: 'number', error: 'string' },
  finished: { phase: 'phase', weight: 'number', durationMs: 'number' },
  waiting: { reason: 'string' },
  schedule: { text: 'string' },
  takeover: { by: 'string', from: 'string', sinceMs: 'number', text: 'string' },
};

function kindOf(v: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'phase':
      return (PHASES as readonly unknown[]).includes(v);
    default:
      return typeof v === kind;
  }
}

/**
 * A value read back from storage (parsed JSON) as a history record: its `type` is known, `at` is a time and the
 * type's required fields are there with the right kinds. Anything else is an UnreadableRecord saying why.
 */
export function parseHistoryRecord(v: unknown): StoredRecord {
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  const at = typeof o.at === 'number' && Number.isFinite(o.at) ? o.at : 0;
  const type = o.type;
  if (typeof type !== 'string' || !(HISTORY_TYPES as readonly string[]).includes(type))
    return { type: 'unreadable', at, error: `unknown history entry type ${JSON.stringify(type)}` };
  if (typeof o.at !== 'number') return { type: 'unreadable', at, error: `${type} entry without a time` };
  const wrong = Object.entries(REQUIRED[type as HistoryType])
    .filter(([field, kind]) => !kindOf(o[field], kind))
    .map(([field, kind]) => `${field} (${kind})`);
  if (wrong.length)
    return { type: 'unreadable', at, error: `${type} entry without a valid ${wrong.join(', ')}` };
  return o as HistoryRecord; // checked above, field by field
}

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
