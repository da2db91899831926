/** POST /v1/migrations/:id/{promote,pause,resume,abort}: authorised and queued through `service.commandAs`. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allows } from '../auth/access.js';
import { commandOf } from '../engine/vocabulary.js';
import { isMigrationId } from '../store/keys.js';
import type { CommandPrincipal } from '../service/service.js';
import { forbiddenMessage, idempotencyKeyOf, notAnId, sendError, type ApiContext } from './context.js';

/** The optional body `{"reason": "…"}`: the reason, or undefined after a 400 has been sent. */
function reasonOf(req: FastifyRequest, reply: FastifyReply): { reason?: string } | undefined {
  const body = typeof req.body === 'string' ? req.body.trim() : '';
  if (!body) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return void reply
      .code(400)
      .send({ error: 'bad request', message: 'the body must be JSON like {"reason": "…"}' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return void reply
      .code(400)
      .send({ error: 'bad request', message: 'the body must be a JSON object like {"reason": "…"}' });
  const r = (parsed as { reason?: unknown }).reason;
  if (r !== undefined && typeof r !== 'string')
    return void reply.code(400).send({ error: 'bad request', message: 'reason must be a string' });
  return r !== undefined ? { reason: r } : {};
}

/** The bearer token's principal: operators of the migration's namespace may command it. */
export const apiPrincipal = (req: FastifyRequest): CommandPrincipal => ({
  by: req.caller ?? 'unknown',
  authorize: (namespace) => {
    const p = req.principal;
    return !p || allows(p, namespace, 'operate') ? undefined : forbiddenMessage(p.name, namespace);
  },
});

export function mountCommandRoutes(
  app: FastifyInstance,
  { service, authenticate, storeBy }: ApiContext,
): void {
  app.post('/v1/migrations/:id/:command', { preHandler: authenticate }, async (req, reply) => {
    const { id, command } = req.params as { id: string; command: string };
    const type = commandOf(command);
    if (!type)
      return reply.code(404).send({
        error: 'not found',
        message: `unknown command "${command}": use promote, pause, resume or abort`,
      });
    if (!isMigrationId(id)) return notAnId(reply, id);
    const body = reasonOf(req, reply);
    if (!body) return reply;
    const idem = idempotencyKeyOf(req, reply);
    if (!idem) return reply;
    const deadline = storeBy(req);
    try {
      const { answer } = await service.commandAs(
        apiPrincipal(req),
        id,
        { type, ...body },
        { deadline, ...(idem.key !== undefined ? { idempotencyKey: idem.key } : {}) },
      );
      return reply.code(202).send(answer);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
