/**
 * History entries as stored in a migration's stream, and the rule that keeps the stream bounded: every weight
 * change, command, non-pass verdict and rollback is kept in full; a run of identical passing verdicts (same
 * weight, same checks passing) keeps its first entry and its latest one, which carries the run's length.
 * Pure: the commit script applies the rule from the run key computed here.
 */

export interface HistoryEntry {
  /** Redis stream id (time-ordered); also the paging cursor. */
  id: string;
  type: string;
  at: number;
  seq: number;
  /** On the latest entry of a compacted run: the run's length (its first entry is kept too) and its start. */
  run?: { length: number; since: number };
  [k: string]: unknown;
}

export type NewHistoryEntry = { type: string; at: number } & Record<string, unknown>;

export interface HistoryPage {
  items: HistoryEntry[];
  /** Cursor for the next page (`after`), when there may be more. */
  next?: string;
}

interface CheckLike {
  name?: unknown;
  outcome?: unknown;
}

/**
 * The run an entry belongs to: passing verdicts at the same weight with the same checks passing are one run;
 * every other entry is its own ('').
 */
export function runKeyOf(e: NewHistoryEntry): string {
  if (e.type !== 'verdict' || e.outcome !== 'pass') return '';
  const checks = Array.isArray(e.checks)
    ? (e.checks as CheckLike[]).map((c) => `${String(c.name)}=${String(c.outcome)}`).join(',')
    : '';
  return `pass@${String(e.weight)}:${checks}`;
}

/** The commit script's argument: [entry JSON, run key, at] per entry. */
export function encodeEntries(entries: NewHistoryEntry[]): string {
  return JSON.stringify(entries.map((e) => [JSON.stringify(e), runKeyOf(e), String(e.at)]));
}

/** One stream row (`[id, [field, value, …]]`) as an entry. */
export function decodeEntry(streamId: string, kv: string[]): HistoryEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < kv.length; i += 2) f[kv[i]!] = kv[i + 1]!;
  let e: NewHistoryEntry;
  try {
    e = JSON.parse(f.e ?? '{}') as NewHistoryEntry;
  } catch {
    e = { type: 'unreadable', at: Number(streamId.split('-')[0]) };
  }
  return {
    ...e,
    id: streamId,
    seq: Number(f.seq ?? 0),
    ...(f.n ? { run: { length: Number(f.n), since: Number(f.since) } } : {}),
  };
}
