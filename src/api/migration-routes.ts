/** Submitting a plan (with an optional Idempotency-Key), listing migrations, one migration, its history. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allows } from '../auth/access.js';
import { ValidationError } from '../plan/errors.js';
import { parsePlan } from '../plan/load.js';
import { IdempotencyConflictError, SubmissionExpiredError } from '../store/command-deadline.js';
import { isHistoryCursor, isMigrationId } from '../store/keys.js';
import { RouteBusyError } from '../service/service.js';
import { forbidden, idempotencyKeyOf, notAnId, sendError, type ApiContext } from './context.js';
import { complete, release, reserve, submitSlot, type Reservation } from './idempotent-submit.js';

export function mountMigrationRoutes(app: FastifyInstance, ctx: ApiContext): void {
  mountSubmit(app, ctx);
  mountReads(app, ctx);
}

/** POST /v1/migrations: validate, authorise by the plan's namespace, store, answer 201 with the view. */
function mountSubmit(app: FastifyInstance, { o, service, authenticate, storeBy }: ApiContext): void {
  app.post('/v1/migrations', { preHandler: authenticate }, async (req, reply) => {
    const body = typeof req.body === 'string' ? req.body : '';
    if (!body.trim())
      return reply.code(422).send({
        error: 'invalid plan',
        errors: [{ path: '', message: 'the request body is empty: send a MigrationPlan as YAML or JSON' }],
      });
    const idem = idempotencyKeyOf(req, reply);
    if (!idem) return reply;
    const slot =
      idem.key !== undefined
        ? submitSlot(o.keyPrefix ?? 'meshshift', req.caller ?? 'unknown', idem.key, body)
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
}

/** The id and history page a request names; undefined once a 404 or 400 has been sent. */
function pageOf(req: FastifyRequest, reply: FastifyReply) {
  const { id } = req.params as { id: string };
  if (!isMigrationId(id)) return void notAnId(reply, id);
  const page = historyPage(req.query);
  if (!('error' in page)) return { id, page };
  void reply.code(400).send({ error: 'bad request', message: page.error });
}

/** GET /v1/migrations, /v1/migrations/:id and /v1/migrations/:id/history. */
function mountReads(app: FastifyInstance, { service, readGuard }: ApiContext): void {
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
}

const HISTORY_PAGE_MAX = 1000;

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
