/**
 * The API never hangs on Redis: every request is answered within a budget (503 + Retry-After when it runs out),
 * and an error meaning "Redis is unreachable or failing over" is a 503, not a 500. Work still running when the
 * budget ends cannot take effect later for commands: their push carries a deadline (see command-deadline.ts).
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { isRedisUnavailable } from '../store/redis-connection.js';
import type { ServiceMetrics } from '../worker/metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request arrived. */
    startedAt: number;
  }
}

const UNAVAILABLE_BODY = (message: string) => JSON.stringify({ error: 'unavailable', message });

export function failFast(app: FastifyInstance, o: { budgetMs: number; metrics: ServiceMetrics }): void {
  app.decorateRequest('startedAt', 0);
  app.addHook('onRequest', async (req, reply) => {
    req.startedAt = performance.now();
    if (req.url === '/healthz') return;
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      // Answer now and detach the handler: whatever it returns later is dropped by fastify.
      reply.hijack();
      reply.raw.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' });
      reply.raw.end(
        UNAVAILABLE_BODY(
          `no answer from Redis within ${o.budgetMs} ms: retry later (commands are safe to retry with an Idempotency-Key)`,
        ),
      );
      o.metrics.httpRequests.inc({
        route: req.routeOptions.url ?? 'unknown',
        method: req.method,
        status: '503',
      });
      req.log.warn({ url: req.url, budgetMs: o.budgetMs }, 'request budget exhausted: answered 503');
    }, o.budgetMs);
    reply.raw.once('close', () => clearTimeout(timer));
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (isRedisUnavailable(err)) {
      req.log.warn({ url: req.url, err: err.message }, 'Redis unavailable: answered 503');
      return reply
        .code(503)
        .header('retry-after', '1')
        .type('application/json; charset=utf-8')
        .send(UNAVAILABLE_BODY(`Redis is unavailable (${err.message}): retry later`));
    }
    return reply.send(err); // fastify's own handling for everything else
  });
}
