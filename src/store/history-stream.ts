/**
 * History entries as stored in a migration's stream, and the rule that keeps the stream bounded: every weight
 * change, command, non-pass verdict and rollback is kept in full; a run of identical passing verdicts (same
 * weight, same checks passing) keeps its first entry and its latest one, which carries the run's length.
 * Pure: the commit script applies the rule from the run key computed here.
 */

import { parseHistoryRecord, type HistoryEntry, type HistoryRecord } from '../engine/history.js';

export type { HistoryEntry } from '../engine/history.js';
/** A history entry before it is stored: the engine's typed record (engine/history.ts). */
export type NewHistoryEntry = HistoryRecord;

export interface HistoryPage {
  items: HistoryEntry[];
  /** Cursor for the next page (`after`), when there may be more. */
  next?: string;
}

/**
 * The run an entry belongs to: passing verdicts at the same weight with the same checks passing are one run;
 * every other entry is its own ('').
 */
export function runKeyOf(e: NewHistoryEntry): string {
  if (e.type !== 'verdict' || e.outcome !== 'pass') return '';
  const checks = e.checks.map((c) => `${c.name}=${c.outcome}`).join(',');
  return `pass@${e.weight}:${checks}`;
}

/** The commit script's argument: [entry JSON, run key, at] per entry. */
export function encodeEntries(entries: NewHistoryEntry[]): string {
  return JSON.stringify(entries.map((e) => [JSON.stringify(e), runKeyOf(e), String(e.at)]));
}

/** One stream row (`[id, [field, value, …]]`) as an entry, parsed into the typed union (parseHistoryRecord). */
export function decodeEntry(streamId: string, kv: string[]): HistoryEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < kv.length; i += 2) f[kv[i]!] = kv[i + 1]!;
  let parsed: unknown;
  try {
    parsed = JSON.parse(f.e ?? '{}');
  } catch {
    parsed = { type: 'unreadable', at: Number(streamId.split('-')[0]) };
  }
  const e = parseHistoryRecord(parsed);
  return {
    ...e,
    ...(e.type === 'unreadable' && !e.at ? { at: Number(streamId.split('-')[0]) } : {}),
    id: streamId,
    seq: Number(f.seq ?? 0),
    ...(f.n ? { run: { length: Number(f.n), since: Number(f.since) } } : {}),
  };
}
