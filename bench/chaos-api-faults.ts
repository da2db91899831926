/**
 * The soak's invariants and figures for issue 20 (a hanging or failing Kubernetes API, a Redis that cannot take
 * writes), as pure functions over what was observed:
 *
 * - every failed rollback attempt is visible: each VirtualService request the fault failed during a rollback
 *   is followed within 30 s by a `rollbackRetry` entry (unless the rollback landed by then: the adapter's own
 *   retry inside the attempt succeeded), and each `rollbackRetry` entry reaches Slack within 30 s;
 * - the rollback write lands at most 30 s + one write after the API fault that held it up heals (a write is
 *   bounded by its call deadline, 10 s);
 * - no migration exists that only a request answered 5xx could have created.
 */
import type { FaultedRequest, HistoryItem, MigrationObservation, Violation } from './chaos-invariants.js';

/** The engine's retry cap: a failure is visible, and a healed API written to, within this. */
export const VISIBLE_MS = 30_000;
/** One write's own bound: the Kubernetes call deadline. */
export const ONE_WRITE_MS = 10_000;
export const API_FAULT_KINDS = ['kube-500', 'kube-hang', 'kube-hang-rollback'];

export interface FaultWindow {
  kind: string;
  from: number;
  to: number;
}

export interface SlackPost {
  channel: string;
  text: string;
  at: number;
}

export interface SubmitRequest {
  namespace: string;
  sentAt: number;
  outcome: number | 'timeout' | 'error';
  /** Sent during a Redis write pause by the fault itself (not retried). */
  probe: boolean;
}

export interface ApiFaultInput {
  migrations: MigrationObservation[];
  faulted: FaultedRequest[];
  windows: FaultWindow[];
  slack: SlackPost[];
  submits: SubmitRequest[];
  /** namespace → migrations the API lists for it at the end. */
  created: Map<string, number>;
  observedAt: number;
}

interface Rollback {
  from: number;
  /** The first write of 0 % the API server applied after the rollback began. */
  write?: number;
}

function rollbackOf(m: MigrationObservation): Rollback | undefined {
  const from = m.history.find((h) => h.type === 'phase' && h.phase === 'rollingBack')?.at;
  if (from === undefined) return undefined;
  const write = m.clusterWrites.find((w) => w.weight === 0 && w.at >= from)?.at;
  return write !== undefined ? { from, write } : { from };
}

const slackText = (attempt: number | undefined) => `Rollback write failed* (attempt ${attempt ?? '?'})`;

/** The `rollbackRetry` Slack post for entry `e` of `m`, if any. */
function slackFor(m: MigrationObservation, e: HistoryItem, slack: SlackPost[]): SlackPost | undefined {
  return slack.find((p) => p.channel === m.namespace && p.text.includes(slackText(e.attempt)));
}

export function checkApiFaultInvariants(i: ApiFaultInput): Violation[] {
  const out: Violation[] = [];
  for (const m of i.migrations) {
    const rb = rollbackOf(m);
    if (!rb) continue;
    out.push(...retriesVisible(m, rb, i), ...healToWrite(m, rb, i));
  }
  out.push(...noStrayCreates(i));
  return out;
}

function retriesVisible(m: MigrationObservation, rb: Rollback, i: ApiFaultInput): Violation[] {
  const invariant = 'rollback retries in history and Slack within 30 s';
  const out: Violation[] = [];
  const retries = m.history.filter((h) => h.type === 'rollbackRetry');
  for (const f of i.faulted) {
    if (f.namespace !== m.namespace || f.start < rb.from || f.start >= (rb.write ?? Infinity)) continue;
    const by = f.end + VISIBLE_MS;
    if (by > i.observedAt || (rb.write !== undefined && rb.write <= by)) continue;
    if (!retries.some((e) => e.at >= f.start && e.at <= by))
      out.push({
        invariant,
        migration: m.id,
        detail: `${f.method} of the VirtualService failed (${f.kind}) ${new Date(f.start).toISOString()}–${new Date(f.end).toISOString()} during the rollback; no rollbackRetry entry within 30 s`,
      });
  }
  for (const e of retries) {
    if (e.at + VISIBLE_MS > i.observedAt) continue;
    const post = slackFor(m, e, i.slack);
    if (!post || post.at > e.at + VISIBLE_MS)
      out.push({
        invariant,
        migration: m.id,
        detail: `rollbackRetry attempt ${e.attempt ?? '?'} at ${new Date(e.at).toISOString()}: ${post ? `reached Slack after ${post.at - e.at} ms` : 'never reached Slack'}`,
      });
  }
  return out;
}

/** The last fault window that ended before `t` (any kind), if it ended after `after`. */
function lastHealBefore(windows: FaultWindow[], t: number, after: number): FaultWindow | undefined {
  const w = windows.filter((x) => x.to <= t).sort((a, b) => b.to - a.to)[0];
  return w && w.to > after ? w : undefined;
}

/** Heal → rollback write for rollbacks the API fault held up (a request it failed during the rollback). */
export function healToWriteMs(m: MigrationObservation, i: ApiFaultInput): number | undefined {
  const rb = rollbackOf(m);
  if (!rb || rb.write === undefined || !heldUp(m, rb, i)) return undefined;
  const heal = lastHealBefore(i.windows, rb.write, rb.from);
  return heal && API_FAULT_KINDS.includes(heal.kind) ? rb.write - heal.to : undefined;
}

function heldUp(m: MigrationObservation, rb: Rollback, i: ApiFaultInput): boolean {
  return i.faulted.some((f) => f.namespace === m.namespace && f.start >= rb.from);
}

function healToWrite(m: MigrationObservation, rb: Rollback, i: ApiFaultInput): Violation[] {
  const invariant = 'heal → rollback write ≤ 30 s + one write';
  const bound = VISIBLE_MS + ONE_WRITE_MS;
  if (rb.write !== undefined) {
    const ms = healToWriteMs(m, i);
    return ms !== undefined && ms > bound
      ? [{ invariant, migration: m.id, detail: `rollback written ${ms} ms after the API healed` }]
      : [];
  }
  // Still not written: judged against the last heal if that was an API fault and long enough ago.
  const heal = lastHealBefore(i.windows, i.observedAt, rb.from);
  if (!heal || !API_FAULT_KINDS.includes(heal.kind) || i.observedAt - heal.to <= bound) return [];
  return [
    {
      invariant,
      migration: m.id,
      detail: `rollback still not written ${i.observedAt - heal.to} ms after the API healed (${heal.kind})`,
    },
  ];
}

function noStrayCreates(i: ApiFaultInput): Violation[] {
  const out: Violation[] = [];
  const byNs = new Map<string, SubmitRequest[]>();
  for (const s of i.submits) byNs.set(s.namespace, [...(byNs.get(s.namespace) ?? []), s]);
  for (const [ns, subs] of byNs) {
    const ok = subs.filter((s) => s.outcome === 201).length;
    const unknown = subs.filter((s) => s.outcome === 'timeout' || s.outcome === 'error').length;
    const failed = subs.filter((s) => typeof s.outcome === 'number' && s.outcome >= 500).length;
    const created = i.created.get(ns) ?? 0;
    if (failed > 0 && created > ok + unknown)
      out.push({
        invariant: 'no migration created by a request answered 5xx',
        detail: `${ns}: ${created} migrations, but only ${ok} submissions answered 201 (${failed} answered 5xx, ${unknown} unanswered)`,
      });
  }
  return out;
}

export interface Hold {
  migration: string;
  weight: number;
  ms: number;
  attempts: number;
  ended: 'written' | 'paused' | 'rolledBack' | 'other' | 'open';
}

/** Forward write holds: from the first failed write of a weight to that weight written (or the hold's end). */
export function holds(migrations: MigrationObservation[], observedAt: number): Hold[] {
  const out: Hold[] = [];
  for (const m of migrations) {
    const h = m.history;
    for (let k = 0; k < h.length; k++) {
      const e = h[k]!;
      if (e.type !== 'writeRetry' || (k > 0 && sameHold(h, k))) continue;
      const rest = h.slice(k + 1);
      const attempts = 1 + rest.filter((x) => x.type === 'writeRetry' && x.weight === e.weight).length;
      const end = rest.find(
        (x) =>
          (x.type === 'weight' && !x.rollback && x.weight === e.weight) ||
          (x.type === 'phase' && x.phase !== 'shifting' && x.phase !== 'baking'),
      );
      const ended: Hold['ended'] = !end
        ? 'open'
        : end.type === 'weight'
          ? 'written'
          : end.phase === 'paused'
            ? 'paused'
            : end.phase === 'rollingBack'
              ? 'rolledBack'
              : 'other';
      out.push({
        migration: m.id,
        weight: Number(e.weight),
        ms: (end?.at ?? observedAt) - e.at,
        attempts,
        ended,
      });
    }
  }
  return out;
}

/** True when entry k continues a hold begun by an earlier writeRetry of the same weight. */
function sameHold(h: HistoryItem[], k: number): boolean {
  for (let j = k - 1; j >= 0; j--) {
    const x = h[j]!;
    if (x.type === 'writeRetry') return x.weight === h[k]!.weight;
    if (x.type === 'weight' || x.type === 'phase') return false;
  }
  return false;
}

/** Failure → Slack delays of every rollbackRetry entry that reached Slack. */
export function rollbackSlackLagMs(migrations: MigrationObservation[], slack: SlackPost[]): number[] {
  const out: number[] = [];
  for (const m of migrations)
    for (const e of m.history)
      if (e.type === 'rollbackRetry') {
        const p = slackFor(m, e, slack);
        if (p) out.push(p.at - e.at);
      }
  return out.sort((a, b) => a - b);
}
