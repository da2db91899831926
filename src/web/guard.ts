/**
 * Who is calling the dashboard: the session cookie → the principal (grants re-read from the tokens file), and the
 * checks every state-changing request passes: same origin (Origin / Sec-Fetch-Site), a session, the CSRF header.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenStore } from '../auth/tokens.js';
import { allows, type Principal } from '../auth/access.js';
import { isMigrationId } from '../store/keys.js';
import { NotFoundError, type CommandPrincipal, type MigrationService } from '../service/service.js';
import { SESSION_COOKIE, cookieValue, sameSecret, type Session, type SessionStore } from './session.js';

export interface Caller {
  session: Session;
  principal: Principal;
}

/** History entries a page loads at most (history is compacted and capped by the store; this bounds a page). */
const MAX_HISTORY = 20_000;

export function jsonBody(req: FastifyRequest): Record<string, unknown> {
  const body = typeof req.body === 'string' ? req.body.trim() : '';
  if (!body) return {};
  const v = JSON.parse(body) as unknown;
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

export const unauthorized = (reply: FastifyReply) =>
  reply.code(401).send({ error: 'unauthorized', message: 'sign in with an API token' });
export const notFound = (reply: FastifyReply, err: NotFoundError) =>
  reply.code(404).send({ error: 'not found', message: err.message });

export class WebGuard {
  constructor(
    private readonly tokens: TokenStore,
    readonly sessions: SessionStore,
  ) {}

  caller(req: FastifyRequest): Caller | undefined {
    const session = this.sessions.get(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (!session) return undefined;
    const principal = this.tokens.principal(session.user);
    if (!principal) {
      this.sessions.delete(session.id); // the token was removed from the tokens file
      return undefined;
    }
    return { session, principal };
  }

  sameOrigin(req: FastifyRequest): boolean {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') return false;
    const origin = req.headers.origin;
    return origin !== undefined && origin === `${req.protocol}://${req.headers.host}`;
  }

  /** The caller of a state-changing request, or undefined after answering 403/401. */
  write(req: FastifyRequest, reply: FastifyReply): Caller | undefined {
    if (!this.sameOrigin(req)) {
      void reply.code(403).send({ error: 'forbidden', message: 'cross-origin request refused' });
      return undefined;
    }
    const c = this.caller(req);
    if (!c) {
      void unauthorized(reply);
      return undefined;
    }
    const header = req.headers['x-csrf-token'];
    if (!sameSecret(typeof header === 'string' ? header : undefined, c.session.csrf)) {
      void reply.code(403).send({ error: 'forbidden', message: 'missing or wrong X-CSRF-Token header' });
      return undefined;
    }
    return c;
  }
}

/**
 * The migration if the principal may read it (NotFoundError otherwise, so that other namespaces are not
 * revealed); `full`: with its whole history, pages followed up to MAX_HISTORY entries.
 */
export async function readMigration(service: MigrationService, p: Principal, id: string, full: boolean) {
  if (!isMigrationId(id)) throw new NotFoundError(id);
  const m = await service.get(id, full ? {} : { limit: 1 });
  if (!allows(p, m.migration.namespace, 'read')) throw new NotFoundError(id);
  let next = full ? m.historyNext : undefined;
  while (next && m.history.length < MAX_HISTORY) {
    const page = await service.get(id, { after: next, limit: 1000 });
    m.history.push(...page.history);
    next = page.historyNext;
  }
  return { migration: m.migration, history: m.history };
}

/**
 * A signed-in user as the sender of a command (`service.commandAs`): a namespace they may not read is not found,
 * one they only view is refused (403) naming the `command` word they sent.
 */
export function webPrincipal(p: Principal, id: string, command: string): CommandPrincipal {
  return {
    by: `web:${p.name}`,
    authorize: (namespace) => {
      if (!allows(p, namespace, 'read')) throw new NotFoundError(id);
      return allows(p, namespace, 'operate')
        ? undefined
        : `${p.name} is a viewer in namespace "${namespace}" (operators may ${command})`;
    },
  };
}
