/**
 * Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews `renewTime`
 * every `retryMs`; another replica takes over only when it has seen the same lease record unchanged for longer
 * than the lease duration (its own clock, so clock skew between nodes does not matter). Every write carries the
 * resourceVersion it read, so two candidates can never both win: the loser gets 409 Conflict.
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { KubeApiError, isConflict, isNotFound, toKubeError } from '../mesh/kube/errors.js';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** How often to renew (holder) or try (candidate). */
  retryMs: number;
  logger: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private readonly api: k8s.CoordinationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenewOk = 0;
  private observed: { record: string; at: number } | undefined;
  private stopped = false;

  constructor(
    kc: k8s.KubeConfig,
    private readonly o: LeaderOptions,
  ) {
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const loop = async (): Promise<void> => {
      if (this.stopped) return;
      await this.tryOnce().catch((err: unknown) =>
        this.o.logger.warn({ err: (err as Error).message }, 'leader election: lease call failed'),
      );
      // A leader that cannot renew for a whole lease duration must assume another replica took over.
      if (this.leading && Date.now() - this.lastRenewOk > this.o.leaseDurationMs)
        this.lose('renew deadline passed');
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.o.retryMs);
    };
    void loop();
  }

  /** Stops campaigning; a leader releases the lease so the next replica need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.lose('stopping');
    try {
      const lease = await this.api.readNamespacedLease({ namespace: this.o.namespace, name: this.o.name });
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1 };
      await this.api.replaceNamespacedLease({ namespace: this.o.namespace, name: this.o.name, body: lease });
    } catch {
      // Best effort: the lease expires on its own.
    }
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.o.logger.warn({ identity: this.o.identity, why }, 'leader election: stopped leading');
    this.o.onStoppedLeading();
  }

  private win(transitions: number): void {
    this.lastRenewOk = Date.now();
    if (this.leading) return;
    this.leading = true;
    this.o.logger.info(
      { identity: this.o.identity, lease: this.o.name, transitions },
      'leader election: leading',
    );
    this.o.onStartedLeading();
  }

  private async tryOnce(): Promise<void> {
    const { namespace, name, identity } = this.o;
    const now = new Date();
    const durationS = Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000));
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name });
    } catch (err) {
      const e = toKubeError(err, `read Lease ${namespace}/${name}`);
      if (!isNotFound(e)) throw e;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationS,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        this.win(0);
      } catch (createErr) {
        const ce = toKubeError(createErr, `create Lease ${namespace}/${name}`);
        if (!(ce instanceof KubeApiError && ce.code === 409)) throw ce; // AlreadyExists: another replica was faster
      }
      return;
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}|${lease.metadata?.resourceVersion ?? ''}`;
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
    const holder = spec.holderIdentity ?? '';
    const heldBySomeoneElse = holder !== '' && holder !== identity;
    const leaseMs = (spec.leaseDurationSeconds ?? durationS) * 1000;
    if (heldBySomeoneElse && Date.now() - this.observed.at < leaseMs) {
      this.lose(`lease held by ${holder}`);
      return;
    }
    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationS,
      renewTime: now,
      leaseTransitions: transitions,
      ...(holder === identity ? {} : { acquireTime: now }),
    };
    try {
      await this.api.replaceNamespacedLease({ namespace, name, body: lease });
      if (holder !== identity && holder !== '')
        this.o.logger.warn(
          { identity, previous: holder, sinceMs: Date.now() - this.observed.at },
          'leader election: took over an expired lease',
        );
      this.win(transitions);
    } catch (err) {
      const e = toKubeError(err, `update Lease ${namespace}/${name}`);
      if (isConflict(e)) {
        this.lose('lease changed under us');
        return;
      }
      throw e;
    }
  }
}
