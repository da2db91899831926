/**
 * The chaos soak's end-of-run invariants and figures, as pure functions over what was observed: each
 * migration's record and history (from the API), the weights the Kubernetes API server applied, the lock
 * holder seen at every VirtualService write, and the outcome of every command request.
 */

export interface HistoryItem {
  type: string;
  at: number;
  phase?: string;
  weight?: number;
  rollback?: boolean;
  command?: string;
  accepted?: boolean;
  reason?: string;
  sinceMs?: number;
  attempt?: number;
  held?: number;
  retryAt?: number;
  error?: string;
}

export interface MigrationObservation {
  id: string;
  namespace: string;
  steps: number[];
  /** Phase in the store at the end. */
  phase: string;
  /** Weight in the store at the end. */
  storeWeight: number;
  /** The store's reason for the phase (pause, rollback or failure), if any. */
  reason?: string;
  /** How long before the end the store last changed (tells a slow migration from a stuck one). */
  idleMs?: number;
  /** Target weight in the cluster's VirtualService at the end. */
  clusterWeight: number | undefined;
  /** Target weights of the successful VirtualService PATCHes, in the order the API server applied them. */
  clusterWrites: Array<{ at: number; weight: number }>;
  history: HistoryItem[];
}

/** One VirtualService PATCH as the fault-injecting front saw it, with the lock holder at that instant. */
export interface WriteCheck {
  at: number;
  namespace: string;
  writerPid: number;
  /** pid in the migration's lock when the write went out; 'none' = no lock; 'unknown' = Redis unreachable. */
  holderPid: number | 'none' | 'unknown';
}

/** A VirtualService request the soak's API fault failed: a 500 sent, or a hang its client gave up on. */
export interface FaultedRequest {
  namespace: string;
  method: string;
  start: number;
  /** When the 500 went out, or when the client closed the hung request. */
  end: number;
  kind: '500' | 'hang';
}

export interface CommandRequest {
  id: string;
  type: string;
  /** Unique reason text sent with the command: finds it in the history. */
  token: string;
  sentAt: number;
  /** HTTP status, or 'timeout' / 'error' when no answer came. */
  outcome: number | 'timeout' | 'error';
}

export interface Violation {
  invariant: string;
  migration?: string;
  detail: string;
}

/** Every invariant the soak checks (bench/chaos-invariants.ts and bench/chaos-api-faults.ts), for the report. */
export const INVARIANTS = [
  'ends visibly',
  'cluster = store',
  'no rollback for API errors alone',
  'no step twice or skipped',
  'no write by a non-holder',
  'no command applied after its request failed',
  'no command lost',
  'rollback retries in history and Slack within 30 s',
  'heal → rollback write ≤ 30 s + one write',
  'no migration created by a request answered 5xx',
] as const;

export const ACCEPTABLE_END = ['completed', 'rolledBack', 'aborted', 'paused', 'rollingBack'];

/** A rollback reason that names only a failed Kubernetes write (a forward write must hold, not roll back). */
const API_ONLY = /^could not set weight|^gave up: |no answer within|attempt deadline|\bHTTP 5\d\d\b/;

/** Every invariant of issue 10's soak; an empty list means they all hold. */
export function checkInvariants(
  migrations: MigrationObservation[],
  writes: WriteCheck[],
  commands: CommandRequest[],
): Violation[] {
  const out: Violation[] = [];
  for (const m of migrations) {
    if (!ACCEPTABLE_END.includes(m.phase))
      out.push({
        invariant: 'ends visibly',
        migration: m.id,
        detail: `ended ${m.phase} at ${m.storeWeight} %${m.idleMs !== undefined ? ` (last change ${Math.round(m.idleMs / 1000)} s before the end)` : ''}`,
      });
    if (m.clusterWeight !== m.storeWeight)
      out.push({
        invariant: 'cluster = store',
        migration: m.id,
        detail: `cluster ${m.clusterWeight ?? '?'} %, store ${m.storeWeight} % (${m.phase})`,
      });
    if (m.phase === 'rolledBack' && API_ONLY.test(m.reason ?? ''))
      out.push({ invariant: 'no rollback for API errors alone', migration: m.id, detail: m.reason ?? '' });
    const steps = stepViolation(
      m.steps,
      m.clusterWrites.map((w) => w.weight),
    );
    if (steps)
      out.push({ invariant: 'no step twice or skipped', migration: m.id, detail: `cluster: ${steps}` });
    const reported = m.history
      .filter((h) => h.type === 'weight')
      .map((h) => (h.rollback ? 0 : Number(h.weight)));
    const hist = stepViolation(m.steps, reported, true);
    if (hist)
      out.push({ invariant: 'no step twice or skipped', migration: m.id, detail: `history: ${hist}` });
  }
  const byNs = new Map(migrations.map((m) => [m.namespace, m.id]));
  for (const w of writes) {
    if (w.holderPid === 'unknown' || w.holderPid === w.writerPid) continue;
    out.push({
      invariant: 'no write by a non-holder',
      ...(byNs.has(w.namespace) ? { migration: byNs.get(w.namespace)! } : {}),
      detail: `pid ${w.writerPid} wrote at ${new Date(w.at).toISOString()} while the lock was ${w.holderPid === 'none' ? 'free' : `held by pid ${w.holderPid}`}`,
    });
  }
  const byId = new Map(migrations.map((m) => [m.id, m]));
  for (const c of commands) {
    const m = byId.get(c.id);
    const entries = (m?.history ?? []).filter((h) => h.type === 'command' && h.reason === c.token);
    const failed = c.outcome === 'timeout' || c.outcome === 'error' || c.outcome >= 500;
    if (failed && entries.some((e) => e.accepted))
      out.push({
        invariant: 'no command applied after its request failed',
        migration: c.id,
        detail: `${c.type} (${c.token}) answered ${c.outcome} but was applied`,
      });
    if (c.outcome === 202 && entries.length === 0)
      out.push({
        invariant: 'no command lost',
        migration: c.id,
        detail: `${c.type} (${c.token}) answered 202 but never reached the history (${m?.phase ?? 'unknown'})`,
      });
  }
  return out;
}

/**
 * Why a sequence of written weights is not "the policy's steps in order, each once, then at most a rollback to
 * 0 that nothing follows" (undefined when it is). With `repeatsOk`, a step re-applied as a no-op (reported
 * twice) is fine; the cluster check counts writes that landed, so there a repeat is a step written twice.
 */
export function stepViolation(steps: number[], weights: number[], repeatsOk = false): string | undefined {
  let next = 0;
  let rolledBack = false;
  for (const w of weights) {
    if (w === 0) {
      rolledBack = true;
      continue;
    }
    if (rolledBack) return `${w} % written after the rollback (${weights.join(',')})`;
    if (repeatsOk && next > 0 && w === steps[next - 1]) continue;
    if (w !== steps[next])
      return w === steps[next - 1]
        ? `step ${w} % written twice (${weights.join(',')})`
        : `expected ${steps[next] ?? 'nothing'} %, got ${w} % (${weights.join(',')})`;
    next++;
  }
  return undefined;
}

export interface Figures {
  migrations: number;
  endPhases: Record<string, number>;
  /** `phase: reason` (numbers normalised) → migrations, for every migration that did not complete. */
  endReasons: Record<string, number>;
  takeoversMs: number[];
  /** rollingBack → rolledBack/aborted in the history; still pending at the end counts up to `endAt`. */
  longestRollbackPendingMs: number;
  stillRollingBack: number;
}

export function figures(migrations: MigrationObservation[], endAt: number): Figures {
  const endPhases: Record<string, number> = {};
  const endReasons: Record<string, number> = {};
  const takeoversMs: number[] = [];
  let longest = 0;
  let still = 0;
  for (const m of migrations) {
    endPhases[m.phase] = (endPhases[m.phase] ?? 0) + 1;
    if (m.phase !== 'completed') {
      const k = `${m.phase}: ${(m.reason ?? '-').replace(/\d+(?:\.\d+)?/g, '#').slice(0, 160)}`;
      endReasons[k] = (endReasons[k] ?? 0) + 1;
    }
    for (const h of m.history)
      if (h.type === 'takeover' && h.sinceMs !== undefined) takeoversMs.push(h.sinceMs);
    let since: number | undefined;
    for (const h of m.history) {
      if (h.type !== 'phase') continue;
      if (h.phase === 'rollingBack') since ??= h.at;
      else if (
        since !== undefined &&
        (h.phase === 'rolledBack' || h.phase === 'aborted' || h.phase === 'failed')
      ) {
        longest = Math.max(longest, h.at - since);
        since = undefined;
      }
    }
    if (since !== undefined) {
      still++;
      longest = Math.max(longest, endAt - since);
    }
  }
  return {
    migrations: migrations.length,
    endPhases,
    endReasons,
    takeoversMs: takeoversMs.sort((a, b) => a - b),
    longestRollbackPendingMs: longest,
    stillRollingBack: still,
  };
}
