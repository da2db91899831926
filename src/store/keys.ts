/**
 * Every Redis key meshshift uses, built in one place (as BullMQ's queue-keys). Ids are validated against their
 * pattern before a key is built, so a request can never name another key (`<id>:history`, an index, a lock).
 *
 * Per migration (id):
 *   {p}:m:{id}            hash: record (plan, snapshot, seq, phase, weight, …) and the history run state
 *   {p}:m:{id}:history    stream: history entries
 *   {p}:m:{id}:inbox      list: operator commands waiting for the worker
 *   {p}:m:{id}:lock       string: the lease of the worker driving the migration
 *   {p}:slack:n:{id}      hash: the Slack notifier's thread and cursor;  {p}:slack:n:{id}:lock its lease
 * Indexes:
 *   {p}:migrations        zset id → creation time (all that are kept)
 *   {p}:live              zset id → creation time (not finished: what the reconciler and gauges read)
 *   {p}:finished          zset id → finish time (retention: removed with their keys after the retention)
 *   {p}:phases            hash phase → count of kept migrations (for /metrics, without reading each one)
 *   {p}:indexes           string: version of these indexes (built once for data stored before them)
 *   {p}:active, {p}:active:ns:{namespace}   sets: concurrency slots of started migrations
 *   {p}:slack:done        set: migrations the Slack notifier has fully posted
 * Requests and bookkeeping:
 *   {p}:idem:{hash}       string: an operator command's Idempotency-Key answer (hash of caller, migration, key)
 *   {p}:idem:submit:{hash}   string: a submission's Idempotency-Key answer (hash of caller and key)
 *   {p}:route:{hash}      string: the migration shifting a VirtualService route
 *   {p}:slack:seen:{kind}:{v}   string: replay protection for signed Slack requests
 *   {p}:controller:command:{uid}   string: the MigrationPlan annotation command last consumed (per object uid)
 *   {p}:controller:delete:{uid}    string: the deleted MigrationPlan's abort was sent (per object uid)
 *   {p}:bull:…            BullMQ's own keys (the queue's prefix)
 *
 * With a hash-tagged prefix such as `{meshshift}` every key lands in one Redis Cluster slot, so the multi-key
 * scripts (commit touches a migration's keys and the indexes) stay single-slot.
 */
import { createHash } from 'node:crypto';

/** A migration id: the plan's name (a DNS-1123 subdomain) and six hex digits. */
export const MIGRATION_ID_PATTERN =
  /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*-[0-9a-f]{6}$/;
const MAX_ID_LENGTH = 253 + 7;

/** A history cursor: a Redis stream id (`<ms>-<n>`). */
export const HISTORY_CURSOR_PATTERN = /^\d{1,15}-\d{1,15}$/;

export function isMigrationId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= MAX_ID_LENGTH && MIGRATION_ID_PATTERN.test(id);
}

export function isHistoryCursor(c: unknown): c is string {
  return typeof c === 'string' && HISTORY_CURSOR_PATTERN.test(c);
}

export class InvalidIdError extends Error {
  constructor(id: string) {
    super(
      `"${id.slice(0, 80)}" is not a migration id (expected <plan name>-<6 hex digits>, e.g. "checkout-3fa2c1")`,
    );
    this.name = 'InvalidIdError';
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Namespaces are DNS-1123 labels (the plan schema checks them); the slot sets are keyed by them. */
const NAMESPACE_PATTERN = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

export class StoreKeys {
  readonly index: string;
  readonly live: string;
  readonly finished: string;
  readonly phases: string;
  readonly indexVersion: string;
  readonly active: string;
  readonly slackDone: string;
  /** Prefix of the migration hashes (`{p}:m:`; the route claim script appends the holder's id). */
  readonly migrationPrefix: string;
  /** BullMQ's key prefix for the drive queue. */
  readonly bull: string;

  constructor(readonly prefix = 'meshshift') {
    if (!prefix || /[\s:]$/.test(prefix))
      throw new Error(`invalid Redis key prefix "${prefix}": use e.g. "meshshift" or "{meshshift}"`);
    this.index = `${prefix}:migrations`;
    this.live = `${prefix}:live`;
    this.finished = `${prefix}:finished`;
    this.phases = `${prefix}:phases`;
    this.indexVersion = `${prefix}:indexes`;
    this.active = `${prefix}:active`;
    this.slackDone = `${prefix}:slack:done`;
    this.migrationPrefix = `${prefix}:m:`;
    this.bull = `${prefix}:bull`;
  }

  private id(id: string): string {
    if (!isMigrationId(id)) throw new InvalidIdError(id);
    return id;
  }

  migration(id: string): string {
    return `${this.migrationPrefix}${this.id(id)}`;
  }
  history(id: string): string {
    return `${this.migration(id)}:history`;
  }
  inbox(id: string): string {
    return `${this.migration(id)}:inbox`;
  }
  lock(id: string): string {
    return `${this.migration(id)}:lock`;
  }
  activeIn(namespace: string): string {
    if (!NAMESPACE_PATTERN.test(namespace)) throw new Error(`"${namespace}" is not a namespace name`);
    return `${this.prefix}:active:ns:${namespace}`;
  }
  slackState(id: string): string {
    return `${this.prefix}:slack:n:${this.id(id)}`;
  }
  slackLock(id: string): string {
    return `${this.slackState(id)}:lock`;
  }
  /** Replay protection for signed Slack requests (`kind` is sig/trigger; `v` a digest or trigger id). */
  slackSeen(kind: 'sig' | 'trigger', v: string): string {
    return `${this.prefix}:slack:seen:${kind}:${v}`;
  }
  /** Which migration is shifting a VirtualService route (`routeIdentity`; hashed, so any text is safe). */
  route(identity: string): string {
    return `${this.prefix}:route:${sha256(identity).slice(0, 32)}`;
  }
  /**
   * An operator command's Idempotency-Key answer, scoped to the caller and the migration (a hash, so any text is
   * safe; the same hash tag as the inbox).
   */
  commandIdempotency(caller: string, migration: string, key: string): string {
    return `${this.prefix}:idem:${sha256(`${caller}\n${migration}\n${key}`).slice(0, 32)}`;
  }
  /** A submission's Idempotency-Key answer, scoped to the caller (a hash, so any text is safe). */
  submitIdempotency(caller: string, key: string): string {
    return `${this.prefix}:idem:submit:${sha256(`${caller}\n${key}`).slice(0, 32)}`;
  }
  /** The controller's record of the annotation command it last consumed on a MigrationPlan (by object uid). */
  controllerCommand(uid: string): string {
    return `${this.prefix}:controller:command:${uid}`;
  }
  /** Set once the controller has sent the abort for a deleted MigrationPlan (by object uid). */
  controllerDelete(uid: string): string {
    return `${this.prefix}:controller:delete:${uid}`;
  }
  /** Every key that holds one migration's data (what retention expires). */
  all(id: string): string[] {
    return [this.migration(id), this.history(id), this.inbox(id), this.slackState(id)];
  }
}
