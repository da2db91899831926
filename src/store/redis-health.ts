/**
 * Quiet when Redis is gone: one warning when this process loses Redis, one when it is back (with how long and
 * how many connection errors meanwhile), the `meshshift_redis_up` gauge and an error counter in between — not a
 * log line per reconnect attempt or queue poll.
 *
 * Connections that tell us both ways (ioredis clients: `error`, then `ready`) drive the state; Redis is "back"
 * when every one of them is ready again. Connections that only report errors (BullMQ's worker and queues) mark
 * Redis down when the error says it is unreachable (and count as back with the others); their other errors are
 * logged at most once per `quietMs`.
 */
import type { Logger } from '../log/logger.js';
import { isRedisUnavailable } from './redis-connection.js';

export interface RedisHealthMetrics {
  up: { set(v: number): void };
  errors: { inc(): void };
}

export class RedisHealth {
  private readonly down = new Set<string>();
  private readonly watched = new Map<string, { status?: string }>();
  private lastError = 0;
  private probe?: NodeJS.Timeout;
  private since = 0;
  private errors = 0;
  private lastNoise = -Infinity;

  constructor(
    private readonly log: Logger,
    private readonly quietMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  private metrics?: RedisHealthMetrics;

  /** Where the gauge and the counter go (set once the process' metrics exist). */
  report(metrics: RedisHealthMetrics): void {
    this.metrics = metrics;
    metrics.up.set(this.isDown ? 0 : 1);
  }

  get isDown(): boolean {
    return this.down.size > 0;
  }

  /** Watches an ioredis client (`error` … `ready`). */
  watch(
    source: string,
    client: { status?: string; on(event: string, fn: (err?: Error) => void): unknown },
  ): void {
    this.watched.set(source, client);
    client.on('error', (err) => this.error(source, err ?? new Error('unknown error')));
    client.on('ready', () => this.ready(source));
  }

  error(source: string, err: Error): void {
    this.lastError = this.now();
    this.errors++;
    this.metrics?.errors.inc();
    if (this.down.has(source)) return;
    const first = this.down.size === 0;
    this.down.add(source);
    if (!first) return;
    this.since = this.now();
    this.errors = 1;
    this.metrics?.up.set(0);
    this.watchRecovery();
    this.log.warn(
      { source, err: err.message },
      'Redis unavailable: the API answers 503 and workers take no jobs until it is back (meshshift_redis_up 0)',
    );
  }

  /** A watched connection is ready again; Redis is back once all are and no error came for 3 s (the probe). */
  ready(source: string): void {
    this.down.delete(source);
  }

  /**
   * Every second while down: back when every watched connection is ready and no connection (BullMQ's included,
   * which cannot report their own recovery) reported an error for 3 s — so a reconnect race does not flap.
   */
  private watchRecovery(): void {
    clearInterval(this.probe);
    this.probe = setInterval(() => {
      const quiet = this.now() - this.lastError >= 3000;
      const ready = [...this.watched.values()].every((c) => c.status === undefined || c.status === 'ready');
      if (this.isDown && quiet && ready && ![...this.down].some((s) => this.watched.has(s))) this.back();
      if (!this.isDown) clearInterval(this.probe);
    }, 1000);
    this.probe.unref?.();
  }

  private back(): void {
    this.down.clear();
    clearInterval(this.probe);
    this.metrics?.up.set(1);
    this.log.warn(
      { downMs: this.now() - this.since, errors: this.errors },
      'Redis is back: the API and the workers carry on',
    );
  }

  /** An error from a connection that does not report its recovery (BullMQ's worker and queues). */
  noise(source: string, err: Error): void {
    if (isRedisUnavailable(err) || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE/.test(err.message))
      return this.error(source, err);
    this.metrics?.errors.inc();
    if (this.isDown) {
      this.errors++;
      return;
    }
    const t = this.now();
    if (t - this.lastNoise < this.quietMs) return;
    this.lastNoise = t;
    this.log.warn({ source, err: err.message }, 'Redis connection error (repeats are not logged for 30 s)');
  }
}
