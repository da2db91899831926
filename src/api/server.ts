/**
 * The HTTP API (fastify). Reads are open unless `authReads`; every mutation needs a bearer token from the token
 * file. Plans come as YAML or JSON and are validated before anything is stored (422 names each bad field).
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from '../log/logger.js';
import type { CommandType } from '../machine/types.js';
import { ValidationError } from '../plan/errors.js';
import type { ServiceMetrics } from '../worker/metrics.js';
import {
  CommandRefusedError,
  NotFoundError,
  RouteBusyError,
  type MigrationService,
} from '../service/service.js';
import { isHistoryCursor, isMigrationId } from '../store/keys.js';
import {
  checkIdempotencyKey,
  CommandExpiredError,
  SubmissionExpiredError,
  IdempotencyConflictError,
} from '../store/command-deadline.js';
import { allows, type Principal } from '../auth/access.js';
import { parsePlan } from '../plan/load.js';
import { bearer, type TokenStore } from '../auth/tokens.js';
import { failFast } from './fail-fast.js';
import { complete, release, reserve, submitSlot, type Reservation } from './idempotent-submit.js';
import { openApiDocument } from './openapi.js';

export interface ApiOptions {
  /** Undefined when the process runs only workers: then only /healthz, /readyz, /metrics are served. */
  service?: MigrationService;
  tokens?: TokenStore;
  redis: Redis;
  metrics: ServiceMetrics;
  logger: Logger;
  /** Require a token for GET /v1/* too. */
  authReads?: boolean;
  /** Max request body (plans are small). */
  bodyLimit?: number;
  /** Every request is answered within this budget: 503 when Redis is slow or unreachable. Default 2000 ms. */
  requestTimeoutMs?: number;
  /** The store's Redis key prefix (Idempotency-Key records live under it). */
  keyPrefix?: string;
  /** Policies directory of the service (a plan is parsed first when the caller may not operate everywhere). */
  policiesDir?: string;
}

const COMMANDS: Record<string, CommandType> = {
  promote: 'PROMOTE',
  pause: 'PAUSE',
  resume: 'RESUME',
  abort: 'ABORT',
};

declare module 'fastify' {
  interface FastifyRequest {
    caller?: string;
    principal?: Principal;
  }
}

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
  // Redis must store a submission or a command well before this request's answer budget ends (margin for clock
  // skew and the reply's way back; the store also caps it by its command timeout): anything that reaches Redis
  // later is refused by the storing script, so a request answered 503 never takes effect later.
  const storeBy = (req: FastifyRequest) =>
    Date.now() - (performance.now() - req.startedAt) + Math.max(100, budgetMs - 500);

  const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!o.tokens) {
      return reply.code(401).send({
        error: 'unauthorized',
        message: 'this server has no API tokens configured (start it with --tokens-file)',
      });
    }
    const token = bearer(req.headers.authorization);
    if (!token)
      return reply.code(401).header('www-authenticate', 'Bearer').send({
        error: 'unauthorized',
        message: 'send "Authorization: Bearer <token>" (tokens come from the server\'s --tokens-file)',
      });
    const who = o.tokens.identify(token);
    if (!who)
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer error="invalid_token"')
        .send({ error: 'unauthorized', message: 'invalid token' });
    req.caller = who.name;
    req.principal = who;
  };
  const forbidden = (reply: FastifyReply, who: string, namespace: string) =>
    reply.code(403).send({
      error: 'forbidden',
      message: `${who} may not change migrations in namespace "${namespace}" (needs operator=${namespace} in the tokens file)`,
    });

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

  const service = o.service;
  if (!service) return app;

  const readGuard = o.authReads ? { preHandler: authenticate } : {};
  const sendError = (reply: FastifyReply, err: unknown) => {
    if (err instanceof NotFoundError)
      return reply.code(404).send({ error: 'not found', message: err.message });
    if (err instanceof CommandRefusedError)
      return reply
        .code(409)
        .send({ error: 'conflict', message: err.message, phase: err.phase, possible: err.possible });
    if (err instanceof IdempotencyConflictError)
      return reply.code(422).send({ error: 'idempotency key reused', message: err.message });
    if (err instanceof RouteBusyError)
      return reply.code(409).send({ error: 'conflict', message: err.message, running: err.running });
    if (err instanceof CommandExpiredError || err instanceof SubmissionExpiredError)
      return reply.code(503).header('retry-after', '1').send({ error: 'unavailable', message: err.message });
    throw err;
  };

  app.post('/v1/migrations', { preHandler: authenticate }, async (req, reply) => {
    const body = typeof req.body === 'string' ? req.body : '';
    if (!body.trim())
      return reply.code(422).send({
        error: 'invalid plan',
        errors: [{ path: '', message: 'the request body is empty: send a MigrationPlan as YAML or JSON' }],
      });
    const key = req.headers['idempotency-key'];
    const keyError = typeof key === 'string' ? checkIdempotencyKey(key) : key && 'send one Idempotency-Key';
    if (keyError) return reply.code(400).send({ error: 'bad request', message: keyError });
    const slot =
      typeof key === 'string'
        ? submitSlot(o.keyPrefix ?? 'meshshift', req.caller ?? 'unknown', key, body)
        : undefined;
    if (slot) {
      let r: Reservation;
      try {
        r = await reserve(o.redis, slot);
      } catch (err) {
        if (err instanceof IdempotencyConflictError)
          return reply.code(422).send({ error: 'idempotency key reused', message: err.message });
        throw err;
      }
      if (r.state === 'pending')
        return reply.code(409).send({
          error: 'conflict',
          message: 'a request with this Idempotency-Key is still in progress: retry in a few seconds',
        });
      if (r.state === 'done') {
        const view = JSON.parse(r.answer) as { id: string };
        return reply.code(201).header('location', `/v1/migrations/${view.id}`).send(view);
      }
    }
    try {
      const p = req.principal;
      if (p && !allows(p, '*', 'operate')) {
        const ns = parsePlan(body, 'request body', o.policiesDir).namespace;
        if (!allows(p, ns, 'operate')) return forbidden(reply, p.name, ns);
      }
      const view = await service.submit(body, req.caller ?? 'unknown', { deadline: storeBy(req) });
      // Stored: answer 201 now (waiting on Redis again could turn it into a 503 for a migration that exists).
      if (slot)
        void complete(o.redis, slot, JSON.stringify(view)).catch((err: Error) =>
          req.log.warn({ err: err.message }, 'could not record the Idempotency-Key answer'),
        );
      return reply.code(201).header('location', `/v1/migrations/${view.id}`).send(view);
    } catch (err) {
      if (err instanceof SubmissionExpiredError || err instanceof RouteBusyError) {
        if (slot) await release(o.redis, slot).catch(() => undefined); // nothing was stored
        return sendError(reply, err);
      }
      if (err instanceof ValidationError) {
        // Nothing was stored: the key is free for a corrected plan. (After other failures the "in progress" marker
        // stays until it expires, so a retry cannot create a second migration while the first may still land.)
        if (slot) await release(o.redis, slot).catch(() => undefined);
        return reply.code(422).send({ error: 'invalid plan', message: err.message, errors: err.errors });
      }
      throw err;
    }
  });

  app.get('/v1/migrations', readGuard, async (req, reply) => {
    const q = req.query as { limit?: string; offset?: string; live?: string };
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    const offset = q.offset === undefined ? 0 : Number(q.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      return reply
        .code(400)
        .send({ error: 'bad request', message: 'limit must be an integer from 1 to 1000' });
    if (!Number.isInteger(offset) || offset < 0)
      return reply.code(400).send({ error: 'bad request', message: 'offset must be a non-negative integer' });
    if (q.live !== undefined && q.live !== 'true' && q.live !== 'false')
      return reply.code(400).send({ error: 'bad request', message: 'live must be true or false' });
    return { items: await service.list(limit, offset, { live: q.live === 'true' }) };
  });

  /** Ids are checked before anything reaches Redis: anything that is not a migration id is not found. */
  const notAnId = (reply: FastifyReply, id: string) =>
    reply.code(404).send({
      error: 'not found',
      message: `no migration with id "${id.slice(0, 80)}": ids look like <plan name>-<6 hex digits> (GET /v1/migrations lists them)`,
    });

  /** The id and history page a request names; undefined once a 404 or 400 has been sent. */
  const pageOf = (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as { id: string };
    if (!isMigrationId(id)) return void notAnId(reply, id);
    const page = historyPage(req.query);
    if (!('error' in page)) return { id, page };
    void reply.code(400).send({ error: 'bad request', message: page.error });
  };

  app.get('/v1/migrations/:id', readGuard, async (req, reply) => {
    const r = pageOf(req, reply);
    if (!r) return reply;
    try {
      return await service.get(r.id, r.page);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/v1/migrations/:id/history', readGuard, async (req, reply) => {
    const r = pageOf(req, reply);
    if (!r) return reply;
    try {
      const items = await service.history(r.id, r.page.after, r.page.limit);
      return { items, ...(items.length === r.page.limit ? { next: items.at(-1)!.id } : {}) };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post('/v1/migrations/:id/:command', { preHandler: authenticate }, async (req, reply) => {
    const { id, command } = req.params as { id: string; command: string };
    const type = COMMANDS[command];
    if (!type)
      return reply.code(404).send({
        error: 'not found',
        message: `unknown command "${command}": use promote, pause, resume or abort`,
      });
    if (!isMigrationId(id)) return notAnId(reply, id);
    let reason: string | undefined;
    const body = typeof req.body === 'string' ? req.body.trim() : '';
    if (body) {
      try {
        const parsed = JSON.parse(body) as unknown;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          return reply
            .code(400)
            .send({ error: 'bad request', message: 'the body must be a JSON object like {"reason": "…"}' });
        const r = (parsed as { reason?: unknown }).reason;
        if (r !== undefined && typeof r !== 'string')
          return reply.code(400).send({ error: 'bad request', message: 'reason must be a string' });
        reason = r;
      } catch {
        return reply
          .code(400)
          .send({ error: 'bad request', message: 'the body must be JSON like {"reason": "…"}' });
      }
    }
    const key = req.headers['idempotency-key'];
    const keyError = typeof key === 'string' ? checkIdempotencyKey(key) : key && 'send one Idempotency-Key';
    if (keyError) return reply.code(400).send({ error: 'bad request', message: keyError });
    const deadline = storeBy(req);
    try {
      const p = req.principal;
      if (p && !allows(p, '*', 'operate')) {
        const ns = (await service.get(id, { limit: 1 })).migration.namespace;
        if (!allows(p, ns, 'operate')) return forbidden(reply, p.name, ns);
      }
      const answer = await service.command(id, type, req.caller ?? 'unknown', reason, {
        deadline,
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      });
      return reply.code(202).send(answer);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  return app;
}

/** History paging parameters: `after` (an entry id from a previous page) and `limit` (1 to 1000, default 1000). */
export function historyPage(query: unknown): { after?: string; limit: number } | { error: string } {
  const q = (query ?? {}) as { after?: unknown; limit?: unknown };
  if (q.after !== undefined && !isHistoryCursor(q.after))
    return {
      error: `after must be a history entry id such as "1732900000000-0" (the "id" or "next" of a previous page), got ${JSON.stringify(q.after).slice(0, 80)}`,
    };
  const limit = q.limit === undefined ? HISTORY_PAGE_MAX : Number(q.limit);
  if (typeof q.limit === 'object' || !Number.isInteger(limit) || limit < 1 || limit > HISTORY_PAGE_MAX)
    return { error: `limit must be an integer from 1 to ${HISTORY_PAGE_MAX}` };
  return { ...(q.after ? { after: q.after } : {}), limit };
}

const HISTORY_PAGE_MAX = 1000;
