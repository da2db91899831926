/** Liveness, readiness (Redis answers within 1 s), Prometheus metrics and the OpenAPI document. */
import type { FastifyInstance } from 'fastify';
import { openApiDocument } from './openapi.js';
import type { ApiOptions } from './context.js';

export function mountHealthRoutes(app: FastifyInstance, o: ApiOptions): void {
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await Promise.race([
        o.redis.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout after 1 s')), 1000)),
      ]);
      return { ok: true, redis: 'reachable' };
    } catch (err) {
      return reply.code(503).send({ ok: false, redis: `unreachable: ${(err as Error).message}` });
    }
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await o.metrics.registry.metrics();
    return reply.header('content-type', o.metrics.registry.contentType).send(text);
  });
  app.get('/openapi.json', async () => openApiDocument);
}
