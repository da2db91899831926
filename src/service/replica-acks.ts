/**
 * Writes that outlive a Sentinel failover. Redis replicates asynchronously: a write the primary has answered may
 * not have reached its replica when the primary dies, and Sentinel then promotes a replica without it — a
 * migration answered 201 that no longer exists, or a committed step (its weight already on the cluster) that the
 * store forgets. The chaos soak on Sentinel lost such writes. So after every write meshshift acknowledges (a
 * migration created, a step committed, a command queued) the store asks Redis to `WAIT` until a replica has it,
 * bounded in time.
 *
 * WAIT does not undo anything: when no replica confirms in time (the replica is down or far behind) the write
 * still stands and is answered as done — answering 5xx for a stored write would be worse (a retried submit would
 * start a second migration) — and the shortfall is counted and logged, so an operator sees that failover safety
 * is gone while it is.
 */
import type { Redis } from 'ioredis';

export interface ReplicaAcks {
  /** Replicas that must have the write (1 on Sentinel). */
  replicas: number;
  /** How long to wait for them, ms. */
  timeoutMs: number;
  /** Called when fewer replicas confirmed in time (or WAIT failed): the write stands, unprotected. */
  onShort?: (write: AckedWrite, acked: number, err?: Error) => void;
}

export type AckedWrite = 'create' | 'commit' | 'command';

/** Waits for `acks.replicas` replicas to confirm this connection's writes so far; never throws. */
export async function awaitReplicas(
  redis: Redis,
  acks: ReplicaAcks | undefined,
  write: AckedWrite,
): Promise<void> {
  if (!acks || acks.replicas <= 0) return;
  try {
    const acked = Number(await redis.call('WAIT', acks.replicas, acks.timeoutMs));
    if (acked < acks.replicas) acks.onShort?.(write, acked);
  } catch (err) {
    acks.onShort?.(write, 0, err as Error);
  }
}

/** Replica acks for a topology: one replica on Sentinel, within half the command timeout (≤ 500 ms); else none. */
export function replicaAcksFor(
  kind: 'standalone' | 'sentinel' | 'cluster',
  commandTimeoutMs: number | undefined,
  onShort: ReplicaAcks['onShort'],
): { replicaAcks?: ReplicaAcks } {
  if (kind !== 'sentinel') return {};
  const timeoutMs = Math.max(50, Math.min(500, Math.floor((commandTimeoutMs ?? 1000) / 2)));
  return { replicaAcks: { replicas: 1, timeoutMs, ...(onShort ? { onShort } : {}) } };
}

export interface ShortAckLog {
  warn(obj: Record<string, unknown>, msg: string): void;
}

/**
 * Counts unconfirmed writes (the counter attached once the process' metrics exist) and says so in the log at
 * most once per `quietMs`, with how many since the last line — a replica down for an hour is one line a minute.
 */
export function shortAckReporter(log: ShortAckLog, quietMs = 60_000, now: () => number = Date.now) {
  let counter: { inc(labels: { write: AckedWrite }): void } | undefined;
  let last = -Infinity;
  let since = 0;
  return {
    attach(c: { inc(labels: { write: AckedWrite }): void }) {
      counter = c;
    },
    onShort(write: AckedWrite, acked: number, err?: Error) {
      counter?.inc({ write });
      since++;
      if (now() - last < quietMs) return;
      last = now();
      log.warn(
        { write, acked, unconfirmed: since, ...(err ? { err: err.message } : {}) },
        'Redis: no replica confirmed a write in time; it stands, but a failover now could lose it',
      );
      since = 0;
    },
  };
}
