/**
 * The bounded shutdown of `meshshift serve` (SIGTERM/SIGINT), each step bounded so the process exits well within
 * Kubernetes' 30 s grace period:
 * 1. the controller releases its Lease (at most 3 s) so another replica leads at once;
 * 2. workers stop taking jobs and let the in-flight ones commit (at most `deadlineMs` − 5 s; then they are
 *    abandoned: their locks expire and another worker resumes them, fenced);
 * 3. the API and Slack (notifier pass, open requests) close, at most 3 s;
 * 4. the queue and the Redis connections close, at most 2 s.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../log/logger.js';
import type { MigrationQueue } from '../worker/queue.js';
import type { RedisConnections } from '../store/redis-connection.js';
import type { MigrationWorker } from '../worker/worker.js';
import type { MigrationPlanController } from '../controller/controller.js';

/** The bounded shutdown sequence (see the file comment). Idempotent: every call returns the same promise. */
export function shutdown(p: {
  logger: Logger;
  deadlineMs: number;
  worker: MigrationWorker | undefined;
  controller: MigrationPlanController | undefined;
  api: FastifyInstance;
  queues: MigrationQueue[];
  connections: RedisConnections;
}): () => Promise<void> {
  const { logger } = p;
  let closing: Promise<void> | undefined;
  const within = async (what: string, ms: number, work: () => Promise<unknown>): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      work().then(
        () => true,
        (err: unknown) => (logger.warn({ err: (err as Error).message }, `${what} failed`), true),
      ),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(0, ms)))),
    ]);
    clearTimeout(timer);
    if (!ok) logger.warn({ afterMs: ms }, `${what}: gave up waiting`);
    return ok;
  };
  return () =>
    (closing ??= (async () => {
      const t0 = Date.now();
      logger.info({ deadlineMs: p.deadlineMs }, 'shutting down: no new jobs; finishing in-flight ones');
      // The controller first: it releases its Lease so another replica leads at once.
      if (p.controller) await within('stopping the controller', 3000, () => p.controller!.stop());
      if (p.worker) {
        const drained = await within('stopping the worker', Math.max(1000, p.deadlineMs - 5000), () =>
          p.worker!.stop(),
        );
        if (!drained) await within('abandoning in-flight jobs', 1000, () => p.worker!.kill());
        logger.info({ ms: Date.now() - t0, drained }, 'worker stopped');
      }
      await within('closing the API and Slack', 3000, () => p.api.close());
      logger.info({ ms: Date.now() - t0 }, 'API closed');
      await within('closing the queue', 2000, () => Promise.all(p.queues.map((q) => q.close())));
      await p.connections.close(2000);
      logger.info({ ms: Date.now() - t0 }, 'stopped');
    })());
}
