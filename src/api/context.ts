/**
 * What the API's route groups share: the caller's authentication (bearer token → principal), the deadline by
 * which Redis must store a write, and the one mapping of service errors to HTTP answers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Principal } from '../auth/access.js';
import type { Logger } from '../log/logger.js';
import type { ServiceMetrics } from '../worker/metrics.js';
import { bearer, type TokenStore } from '../auth/tokens.js';
import {
  checkIdempotencyKey,
  CommandExpiredError,
  IdempotencyConflictError,
  SubmissionExpiredError,
} from '../store/command-deadline.js';
import {
  CommandRefusedError,
  ForbiddenError,
  NotFoundError,
  RouteBusyError,
  type MigrationService,
} from '../service/service.js';

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

declare module 'fastify' {
  interface FastifyRequest {
    caller?: string;
    principal?: Principal;
  }
}

export interface ApiContext {
  o: ApiOptions;
  service: MigrationService;
  /** preHandler of every mutation: 401 unless a valid bearer token; sets `req.caller` and `req.principal`. */
  authenticate: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  /** Route options of reads: authenticated only with `authReads`. */
  readGuard: { preHandler?: ApiContext['authenticate'] };
  /** When Redis must have stored this request's write (epoch ms). */
  storeBy: (req: FastifyRequest) => number;
}

export function authenticator(o: ApiOptions): ApiContext['authenticate'] {
  return async (req, reply) => {
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
}

/** The 403 text of a caller who may not operate in `namespace`. */
export const forbiddenMessage = (who: string, namespace: string): string =>
  `${who} may not change migrations in namespace "${namespace}" (needs operator=${namespace} in the tokens file)`;

export const forbidden = (reply: FastifyReply, who: string, namespace: string) =>
  reply.code(403).send({ error: 'forbidden', message: forbiddenMessage(who, namespace) });

/** The HTTP answer of a service error; anything else is rethrown (500). */
export function sendError(reply: FastifyReply, err: unknown) {
  if (err instanceof NotFoundError) return reply.code(404).send({ error: 'not found', message: err.message });
  if (err instanceof ForbiddenError)
    return reply.code(403).send({ error: 'forbidden', message: err.message });
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
}

/** Ids are checked before anything reaches Redis: anything that is not a migration id is not found. */
export const notAnId = (reply: FastifyReply, id: string) =>
  reply.code(404).send({
    error: 'not found',
    message: `no migration with id "${id.slice(0, 80)}": ids look like <plan name>-<6 hex digits> (GET /v1/migrations lists them)`,
  });

/** 400 for a malformed Idempotency-Key header; the key (or undefined) otherwise. */
export function idempotencyKeyOf(req: FastifyRequest, reply: FastifyReply): { key?: string } | undefined {
  const key = req.headers['idempotency-key'];
  const keyError = typeof key === 'string' ? checkIdempotencyKey(key) : key && 'send one Idempotency-Key';
  if (keyError) return void reply.code(400).send({ error: 'bad request', message: keyError });
  return typeof key === 'string' ? { key } : {};
}
