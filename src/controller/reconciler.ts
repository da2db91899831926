/**
 * One reconcile of one MigrationPlan: keep the finalizer, hand a new plan to the service (idempotently: the
 * migration id derives from the object's uid), consume kubectl commands, refuse spec edits of a running
 * migration visibly, mirror the service's record and history into `.status` and Events, and on deletion roll
 * traffic back (ABORT) before letting the object go. The engine decides everything; this only relays.
 */
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { stringify } from 'yaml';
import type { Logger } from '../log/logger.js';
import { possibleOf, viewOf } from '../engine/view.js';
import { isTerminalPhase } from '../engine/vocabulary.js';
import { KubeApiError, isConflict, isNotFound, toKubeError } from '../mesh/kube/errors.js';
import { ValidationError } from '../plan/errors.js';
import { CommandRefusedError, trustedPrincipal, type MigrationService } from '../service/service.js';
import { StoreKeys } from '../store/keys.js';
import type { MigrationRecord, RedisMigrationStore } from '../store/store.js';
import { clearCommandPatch, commandRequestOf } from './commands.js';
import { CRD_GROUP as GROUP, CRD_PLURAL as PLURAL, CRD_VERSION as VERSION } from './crd-schema.js';
import { eventForEntry, warning, type EventRecorder, type EventSpec } from './events.js';
import { mirrorStatus, settleConditions, type PlanStatus, type WantedCondition } from './status.js';
import type { MigrationPlanObject } from './types.js';

export const FINALIZER = 'meshshift.io/rollback';
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface ReconcilerOptions {
  kc: k8s.KubeConfig;
  service: MigrationService;
  store: RedisMigrationStore;
  /** For the controller's own bookkeeping (consumed commands, deletions). */
  redis: Redis;
  events: EventRecorder;
  logger: Logger;
  /** Redis key prefix for the controller's own bookkeeping (consumed commands, deletions; keys from StoreKeys). */
  prefix: string;
  now?: () => number;
  /** Called with every object version the controller wrote (keeps the watch cache ahead of the stream). */
  onWrote(obj: MigrationPlanObject): void;
  onGone(obj: MigrationPlanObject): void;
}

/** `active`: poll again soon (status must follow the engine); `idle`: only on the next change. */
export type ReconcileResult = 'active' | 'idle';

/** The migration id (`<name>-<6 hex>`, the service's id form) for a MigrationPlan: stable per object uid. */
export const migrationIdFor = (obj: MigrationPlanObject): string =>
  `${obj.metadata.name}-${createHash('sha256')
    .update(obj.metadata.uid ?? '')
    .digest('hex')
    .slice(0, 6)}`;

/** The plan document the validator and the service read, from the custom resource. */
export function planTextOf(obj: MigrationPlanObject): string {
  const labels = obj.metadata.labels;
  return stringify({
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name: obj.metadata.name, ...(labels && Object.keys(labels).length ? { labels } : {}) },
    spec: obj.spec ?? {},
  });
}

export class Reconciler {
  private readonly api: k8s.CustomObjectsApi;
  private readonly now: () => number;
  private readonly keys: StoreKeys;
  constructor(private readonly o: ReconcilerOptions) {
    this.api = o.kc.makeApiClient(k8s.CustomObjectsApi);
    this.keys = new StoreKeys(o.prefix);
    this.now = o.now ?? Date.now;
  }

  async reconcile(input: MigrationPlanObject): Promise<ReconcileResult> {
    let obj = this.latest(input);
    const id = obj.status?.migrationId ?? migrationIdFor(obj);
    if (obj.metadata.deletionTimestamp) return this.finalize(obj, id);
    if (!(obj.metadata.finalizers ?? []).includes(FINALIZER)) {
      obj = await this.patch(obj, {
        metadata: {
          resourceVersion: obj.metadata.resourceVersion,
          finalizers: [...(obj.metadata.finalizers ?? []), FINALIZER],
        },
      });
    }
    let rec = await this.o.store.get(id);
    if (!rec) {
      if (obj.status?.migrationId) {
        await this.writeStatus(
          obj,
          this.stalled(obj, 'MigrationLost', `migration ${id} is not in Redis any more`),
        );
        return 'idle';
      }
      if (!(await this.submit(obj, id))) return 'idle';
      rec = await this.o.store.get(id);
      if (!rec) throw new Error(`migration ${id} vanished right after it was submitted`);
    }
    obj = await this.consumeCommand(obj, rec);
    await this.mirror(obj, rec);
    return isTerminalPhase(rec.phase) ? 'idle' : 'active';
  }

  /** Submits the plan; on a validation error writes Stalled/InvalidSpec naming the fields, and returns false. */
  private async submit(obj: MigrationPlanObject, id: string): Promise<boolean> {
    const who = obj.metadata.managedFields?.[0]?.manager ?? 'unknown';
    try {
      await this.o.service.submit(planTextOf(obj), `kubernetes:${who}`, {
        id,
        source: `MigrationPlan ${obj.metadata.namespace}/${obj.metadata.name}`,
      });
      this.o.logger.info(
        { migration: id, plan: obj.metadata.name, namespace: obj.metadata.namespace },
        'plan submitted',
      );
      return true;
    } catch (err) {
      if (err instanceof ValidationError) {
        const message = err.errors.map((e) => `${e.path || '(document)'}: ${e.message}`).join('; ');
        await this.event(
          obj,
          `invalid-g${obj.metadata.generation ?? 0}`,
          warning('InvalidSpec', 'Validate', message),
        );
        await this.writeStatus(obj, this.stalled(obj, 'InvalidSpec', message));
        return false;
      }
      if (err instanceof Error && /already exists/.test(err.message)) return true; // a previous leader submitted it
      throw err;
    }
  }

  private stalled(obj: MigrationPlanObject, reason: string, message: string): PlanStatus {
    const generation = obj.metadata.generation ?? 0;
    const wanted: WantedCondition[] = [
      { type: 'Ready', status: 'False', reason, message },
      { type: 'Stalled', status: 'True', reason, message },
    ];
    const prev = obj.status ?? {};
    return {
      ...prev,
      phase: prev.phase ?? 'invalid',
      observedGeneration: generation,
      reason: message,
      conditions: settleConditions(wanted, prev.conditions, generation, this.now()),
    };
  }

  /** Sends the command an annotation asks for (once per annotation version), then clears the annotation. */
  private async consumeCommand(obj: MigrationPlanObject, rec: MigrationRecord): Promise<MigrationPlanObject> {
    const cmd = commandRequestOf(obj);
    if (!cmd) return obj;
    const rv = obj.metadata.resourceVersion ?? '';
    const doneKey = this.keys.controllerCommand(obj.metadata.uid ?? '');
    const stamp = `${cmd.raw}@${rv}`;
    if ((await this.o.redis.get(doneKey)) !== stamp) {
      if (!cmd.ok) {
        await this.event(obj, `command-${rv}`, warning('InvalidCommand', 'Command', cmd.message));
      } else {
        try {
          // Keyed by the annotation as read (object, value, resourceVersion): a controller that takes over from
          // one killed between sending and recording it replays the answer instead of sending it twice.
          // Kubernetes RBAC authorised whoever set the annotation: the controller sends it as theirs.
          await this.o.service.commandAs(
            trustedPrincipal(cmd.by),
            rec.id,
            { type: cmd.type, ...(cmd.reason ? { reason: cmd.reason } : {}) },
            {
              idempotencyKey: `${obj.metadata.uid ?? ''}:${stamp}`
                .replace(/[^\x21-\x7e]/g, '_')
                .slice(0, 255),
            },
          );
        } catch (err) {
          if (!(err instanceof CommandRefusedError)) throw err;
          await this.event(
            obj,
            `command-${rv}`,
            warning('CommandRefused', cmd.type, `${err.message} (asked by ${cmd.by})`),
          );
        }
      }
      await this.o.redis.set(doneKey, stamp, 'EX', 7 * 24 * 3600);
    }
    try {
      return await this.patch(obj, clearCommandPatch(obj));
    } catch (err) {
      if (isConflict(err)) return obj; // changed meanwhile (maybe a new command): the next reconcile sees it
      throw err;
    }
  }

  /** Mirrors history into Events and the record into `.status` (one status write when something changed). */
  private async mirror(obj: MigrationPlanObject, rec: MigrationRecord): Promise<void> {
    const prev = obj.status ?? {};
    const entries = await this.o.store.history(
      rec.id,
      prev.lastHistoryId ? { after: prev.lastHistoryId } : {},
    );
    for (const e of entries) {
      const ev = eventForEntry(e);
      if (ev) await this.event(obj, e.id, ev, e.at);
    }
    const generation = obj.metadata.generation ?? 0;
    const planGeneration = prev.planGeneration ?? generation;
    const extra: WantedCondition[] = [];
    if (generation !== planGeneration) {
      const message = isTerminalPhase(rec.phase)
        ? `spec changed (generation ${generation}) after the migration finished (${rec.phase}); a finished plan stays as a record and is not run again: delete and re-create the MigrationPlan to run the new spec`
        : `spec changed (generation ${generation}) while the migration is ${rec.phase}; meshshift does not apply an edit half-way: it keeps running generation ${planGeneration}. Revert the edit, or abort (kubectl annotate mp/${obj.metadata.name} meshshift.io/command=abort) and re-create the MigrationPlan`;
      extra.push({ type: 'SpecApplied', status: 'False', reason: 'SpecChangeRefused', message });
      await this.event(obj, `spec-refused-g${generation}`, warning('SpecChangeRefused', 'Validate', message));
    }
    const status = mirrorStatus({
      previous: prev,
      view: viewOf(rec),
      entries,
      generation,
      extraConditions: extra,
      now: this.now(),
    });
    status.planGeneration = planGeneration;
    if (JSON.stringify(status) !== JSON.stringify(prev)) await this.writeStatus(obj, status);
  }

  /** Deletion: roll back an active migration (ABORT: one write to 100 % source), then drop the finalizer. */
  private async finalize(obj: MigrationPlanObject, id: string): Promise<ReconcileResult> {
    if (!(obj.metadata.finalizers ?? []).includes(FINALIZER)) return 'idle';
    const rec = await this.o.store.get(id);
    if (rec && !isTerminalPhase(rec.phase)) {
      const { possible } = possibleOf(rec);
      const key = this.keys.controllerDelete(obj.metadata.uid ?? '');
      if (possible.includes('ABORT') && (await this.o.redis.set(key, '1', 'EX', 3600, 'NX')) === 'OK') {
        await this.o.service
          .commandAs(trustedPrincipal('kubernetes:delete'), id, {
            type: 'ABORT',
            reason: 'the MigrationPlan was deleted',
          })
          .catch((err: unknown) => {
            if (!(err instanceof CommandRefusedError)) throw err;
          });
      }
      await this.mirror(obj, rec);
      return 'active';
    }
    if (rec) await this.mirror(obj, rec).catch(() => undefined);
    const latest = this.latest(obj);
    await this.patch(latest, {
      metadata: {
        resourceVersion: latest.metadata.resourceVersion,
        finalizers: (latest.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
      },
    }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    this.lastWritten.delete(obj.metadata.uid ?? '');
    this.o.onGone(obj);
    return 'idle';
  }

  private lastWritten = new Map<string, MigrationPlanObject>();
  private latest(obj: MigrationPlanObject): MigrationPlanObject {
    const w = this.lastWritten.get(obj.metadata.uid ?? '');
    return w && Number(w.metadata.resourceVersion) > Number(obj.metadata.resourceVersion) ? w : obj;
  }

  private async event(obj: MigrationPlanObject, key: string, ev: EventSpec, at?: number): Promise<void> {
    await this.o.events.record(
      { name: obj.metadata.name, namespace: obj.metadata.namespace ?? '', uid: obj.metadata.uid ?? '' },
      key,
      ev,
      at,
    );
  }

  private ref(obj: MigrationPlanObject) {
    return {
      namespace: obj.metadata.namespace ?? '',
      name: obj.metadata.name,
    };
  }

  private wrote(obj: MigrationPlanObject): MigrationPlanObject {
    this.lastWritten.set(obj.metadata.uid ?? '', obj);
    this.o.onWrote(obj);
    return obj;
  }

  private async patch(obj: MigrationPlanObject, body: Record<string, unknown>): Promise<MigrationPlanObject> {
    try {
      return this.wrote(
        (await this.api.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, plural: PLURAL, ...this.ref(obj), body },
          MERGE,
        )) as MigrationPlanObject,
      );
    } catch (err) {
      throw toKubeError(err, `patch MigrationPlan ${obj.metadata.namespace}/${obj.metadata.name}`);
    }
  }

  /** Status through the /status subresource, guarded by the resourceVersion read (409 → next reconcile). */
  private async writeStatus(obj: MigrationPlanObject, status: PlanStatus): Promise<void> {
    const latest = this.latest(obj);
    try {
      this.wrote(
        (await this.api.replaceNamespacedCustomObjectStatus({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          ...this.ref(latest),
          body: { ...latest, status },
        })) as MigrationPlanObject,
      );
    } catch (err) {
      const e = toKubeError(
        err,
        `update MigrationPlan ${obj.metadata.namespace}/${obj.metadata.name} status`,
      );
      if (e instanceof KubeApiError && e.code === 404) return;
      throw e;
    }
  }
}
