/**
 * The MigrationPlan controller (`meshshift serve --role controller`, or inside `all`): a list+watch of
 * MigrationPlans feeding a work queue, one replica at a time reconciling (Lease leader election), and a short poll
 * of the plans whose migration is still running so `.status` follows the engine. Every replica keeps its watch
 * cache warm, so a new leader starts at once.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import type { Logger } from '../log/logger.js';
import type { MigrationService } from '../service/service.js';
import type { RedisMigrationStore } from '../store/store.js';
import { EventRecorder } from './events.js';
import { LeaderElector } from './leader.js';
import { Reconciler } from './reconciler.js';
import { PlanWatch, keyOf } from './watch.js';

export interface ControllerOptions {
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  leaseNamespace: string;
  leaseName: string;
  leaseDurationMs: number;
  /** Renew / retry period of the lease (default: a fifth of the lease duration). */
  leaseRetryMs?: number;
  /** How often running migrations are mirrored into status. */
  statusEveryMs: number;
  resyncMs: number;
  identity?: string;
}

/** Defaults when `serve` runs the controller without explicit options (in-process use). */
export function defaultControllerOptions(): ControllerOptions {
  return {
    namespaces: [],
    leaseNamespace: process.env.POD_NAMESPACE ?? 'meshshift',
    leaseName: 'meshshift-controller',
    leaseDurationMs: 15_000,
    statusEveryMs: 1000,
    resyncMs: 300_000,
  };
}

export interface ControllerDeps {
  kc: k8s.KubeConfig;
  service: MigrationService;
  store: RedisMigrationStore;
  redis: Redis;
  logger: Logger;
  prefix: string;
}

export class MigrationPlanController {
  readonly identity: string;
  private readonly watch: PlanWatch;
  private readonly elector: LeaderElector;
  private readonly reconciler: Reconciler;
  private readonly dirty = new Set<string>();
  private readonly active = new Set<string>();
  private draining: Promise<void> | undefined;
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Reconciles done (for metrics and tests). */
  reconciles = 0;

  constructor(
    private readonly o: ControllerOptions,
    private readonly d: ControllerDeps,
  ) {
    this.identity = o.identity ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
    this.watch = new PlanWatch(d.kc, {
      namespaces: o.namespaces,
      resyncMs: o.resyncMs,
      logger: d.logger,
      onChange: (key) => this.enqueue(key),
    });
    this.reconciler = new Reconciler({
      kc: d.kc,
      service: d.service,
      store: d.store,
      redis: d.redis,
      events: new EventRecorder(d.kc, this.identity),
      logger: d.logger,
      prefix: d.prefix,
      onWrote: (obj) => this.watch.remember(obj),
      onGone: (obj) => this.active.delete(keyOf(obj)),
    });
    this.elector = new LeaderElector(d.kc, {
      namespace: o.leaseNamespace,
      name: o.leaseName,
      identity: this.identity,
      leaseDurationMs: o.leaseDurationMs,
      retryMs: o.leaseRetryMs ?? Math.max(200, Math.floor(o.leaseDurationMs / 5)),
      logger: d.logger,
      onStartedLeading: () => {
        for (const key of this.watch.cache.keys()) this.enqueue(key);
      },
      onStoppedLeading: () => this.dirty.clear(),
    });
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  start(): void {
    this.watch.start();
    this.elector.start();
    this.poll = setInterval(() => {
      for (const key of this.active) this.enqueue(key);
    }, this.o.statusEveryMs);
    this.d.logger.info(
      {
        identity: this.identity,
        namespaces: this.o.namespaces.length ? this.o.namespaces : 'all',
        lease: `${this.o.leaseNamespace}/${this.o.leaseName}`,
      },
      'MigrationPlan controller started',
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    this.watch.stop();
    await this.draining;
    await this.elector.stop();
  }

  private enqueue(key: string): void {
    this.dirty.add(key);
    if (!this.draining && this.elector.isLeader && !this.stopped) {
      this.draining = this.drain().finally(() => {
        this.draining = undefined;
        if (this.dirty.size > 0 && this.elector.isLeader && !this.stopped) this.enqueue([...this.dirty][0]!);
      });
    }
  }

  /** Reconciles dirty keys one at a time while this replica leads. */
  private async drain(): Promise<void> {
    while (this.dirty.size > 0 && this.elector.isLeader && !this.stopped) {
      const key = this.dirty.values().next().value as string;
      this.dirty.delete(key);
      const obj = this.watch.cache.get(key);
      if (!obj) {
        this.active.delete(key);
        continue;
      }
      try {
        const r = await this.reconciler.reconcile(obj);
        this.reconciles++;
        if (r === 'active') this.active.add(key);
        else this.active.delete(key);
      } catch (err) {
        this.active.add(key); // try again on the next poll
        this.d.logger.warn({ plan: key, err: (err as Error).message }, 'reconcile failed; retrying');
      }
    }
  }
}
