/**
 * The HTTP API (fastify). Reads are open unless `authReads`; every mutation needs a bearer token from the token
 * file. Plans come as YAML or JSON and are validated before anything is stored (422 names each bad field).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { authenticator, type ApiContext, type ApiOptions } from './context.js';
import { mountCommandRoutes } from './command-routes.js';
import { failFast } from './fail-fast.js';
import { mountHealthRoutes } from './health-routes.js';
import { mountMigrationRoutes } from './migration-routes.js';

export type { ApiOptions } from './context.js';

/** The API: the health routes always; the migration and command routes when this process has the service. */
export async function buildApi(o: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: o.bodyLimit ?? 1024 * 1024,
  });

  // Plans are parsed by meshshift (YAML is a superset of JSON), so keep every body as text.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onResponse', async (req, reply) => {
    o.metrics.httpRequests.inc({
      route: req.routeOptions.url ?? 'unknown',
      method: req.method,
      status: String(reply.statusCode),
    });
  });
  const budgetMs = o.requestTimeoutMs ?? 2000;
  failFast(app, { budgetMs, metrics: o.metrics });
  mountHealthRoutes(app, o);

  if (!o.service) return app;
  const authenticate = authenticator(o);
  const ctx: ApiContext = {
    o,
    service: o.service,
    authenticate,
    readGuard: o.authReads ? { preHandler: authenticate } : {},
    // Redis must store a submission or a command well before this request's answer budget ends (margin for clock
    // skew and the reply's way back; the store also caps it by its command timeout): anything that reaches Redis
    // later is refused by the storing script, so a request answered 503 never takes effect later.
    storeBy: (req: FastifyRequest) =>
      Date.now() - (performance.now() - req.startedAt) + Math.max(100, budgetMs - 500),
  };
  mountMigrationRoutes(app, ctx);
  mountCommandRoutes(app, ctx);
  return app;
}
