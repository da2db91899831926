/**
 * The dashboard, served by the API process under /ui/: the page shell and bundle, a login that trades an API
 * token for a session cookie, the list and migration reads, commands, and one SSE stream for live updates. Reads
 * and commands go through MigrationService (the same paths as the HTTP API) and the one access model
 * (src/auth/access.ts): viewers read, operators also command, per namespace. Commands are recorded as `web:<user>`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TokenStore } from '../api/auth.js';
import { allows, type Principal } from '../auth/access.js';
import { COMMANDS, type CommandType } from '../engine/vocabulary.js';
import type { Logger } from '../log/logger.js';
import { isMigrationId } from '../service/keys.js';
import { CommandRefusedError, NotFoundError, type MigrationService } from '../service/service.js';
import { CSP, loadAssets, shellHtml } from './assets.js';
import { LiveHub } from './live.js';
import {
  SessionStore,
  cookieValue,
  sameSecret,
  sessionCookie,
  SESSION_COOKIE,
  type Session,
} from './session.js';
import { openSse } from './sse.js';

export interface WebOptions {
  service: MigrationService;
  tokens: TokenStore;
  /** Live poll period (default 1 s: at most one store read round per second per server, whatever the tabs). */
  pollMs?: number;
  sessionTtlMs?: number;
  /** Mark the cookie Secure (set when serving behind TLS). */
  secureCookie?: boolean;
  logger?: Logger;
}

/** History entries a page loads at most (history is compacted and capped by the store; this bounds a page). */
const MAX_HISTORY = 20_000;

interface Caller {
  session: Session;
  principal: Principal;
}

const json = (req: FastifyRequest): Record<string, unknown> => {
  const body = typeof req.body === 'string' ? req.body.trim() : '';
  if (!body) return {};
  const v = JSON.parse(body) as unknown;
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
};

export async function mountWeb(app: FastifyInstance, o: WebOptions): Promise<void> {
  const assets = loadAssets();
  const sessions = new SessionStore(o.sessionTtlMs);
  const logger = o.logger ?? (app.log as unknown as Logger);
  const hub = new LiveHub(o.service, logger, o.pollMs ?? 1000);
  app.addHook('onClose', async () => hub.close());
  app.decorate('webHub', hub);

  const caller = (req: FastifyRequest): Caller | undefined => {
    const session = sessions.get(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (!session) return undefined;
    const principal = o.tokens.principal(session.user);
    if (!principal) {
      sessions.delete(session.id); // the token was removed from the tokens file
      return undefined;
    }
    return { session, principal };
  };
  const unauthorized = (reply: FastifyReply) =>
    reply.code(401).send({ error: 'unauthorized', message: 'sign in with an API token' });

  /** Same-origin check for state-changing requests (with SameSite=Strict and the CSRF header). */
  const sameOrigin = (req: FastifyRequest): boolean => {
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') return false;
    return origin !== undefined && origin === `${req.protocol}://${req.headers.host}`;
  };
  const guardWrite = (req: FastifyRequest, reply: FastifyReply): Caller | undefined => {
    if (!sameOrigin(req)) {
      void reply.code(403).send({ error: 'forbidden', message: 'cross-origin request refused' });
      return undefined;
    }
    const c = caller(req);
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
  };
  const me = (c: Caller) => ({ user: c.principal.name, grants: c.principal.grants, csrf: c.session.csrf });

  app.get('/ui', async (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui/', async (_req, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .send(shellHtml(assets.size() === 0)),
  );
  app.get('/ui/assets/:file', async (req, reply) => {
    const a = assets.get((req.params as { file: string }).file);
    if (!a) return reply.code(404).send({ error: 'not found', message: 'no such dashboard asset' });
    return reply.header('content-type', a.type).header('x-content-type-options', 'nosniff').send(a.body);
  });

  app.post('/ui/api/login', async (req, reply) => {
    if (!sameOrigin(req))
      return reply.code(403).send({ error: 'forbidden', message: 'cross-origin request refused' });
    let token: unknown;
    try {
      token = json(req).token;
    } catch {
      return reply.code(400).send({ error: 'bad request', message: 'send {"token": "…"} as JSON' });
    }
    const principal = typeof token === 'string' ? o.tokens.identify(token.trim()) : undefined;
    if (!principal) return reply.code(401).send({ error: 'unauthorized', message: 'unknown token' });
    const session = sessions.create(principal.name);
    logger.info({ user: principal.name }, 'dashboard sign-in');
    const maxAgeS = Math.floor((o.sessionTtlMs ?? 8 * 3600_000) / 1000);
    reply.header('set-cookie', sessionCookie(session.id, { maxAgeS, secure: !!o.secureCookie }));
    return me({ session, principal });
  });
  app.post('/ui/api/logout', async (req, reply) => {
    const c = guardWrite(req, reply);
    if (!c) return reply;
    sessions.delete(c.session.id);
    reply.header('set-cookie', sessionCookie('', { maxAgeS: 0, secure: !!o.secureCookie }));
    return { ok: true };
  });
  app.get('/ui/api/me', async (req, reply) => {
    const c = caller(req);
    return c ? me(c) : unauthorized(reply);
  });

  app.get('/ui/api/migrations', async (req, reply) => {
    const c = caller(req);
    if (!c) return unauthorized(reply);
    const items = (await o.service.list(1000, 0)).filter((m) => allows(c.principal, m.namespace, 'read'));
    return { items };
  });

  /** The migration with its whole history (pages followed up to `MAX_HISTORY`), if the caller may read it. */
  const readable = async (c: Caller, id: string) => {
    if (!isMigrationId(id)) throw new NotFoundError(id);
    const m = await o.service.get(id);
    if (!allows(c.principal, m.migration.namespace, 'read')) throw new NotFoundError(id);
    let next = m.historyNext;
    while (next && m.history.length < MAX_HISTORY) {
      const page = await o.service.get(id, { after: next, limit: 1000 });
      m.history.push(...page.history);
      next = page.historyNext;
    }
    return { migration: m.migration, history: m.history };
  };
  app.get('/ui/api/migrations/:id', async (req, reply) => {
    const c = caller(req);
    if (!c) return unauthorized(reply);
    try {
      return await readable(c, (req.params as { id: string }).id);
    } catch (err) {
      if (err instanceof NotFoundError)
        return reply.code(404).send({ error: 'not found', message: err.message });
      throw err;
    }
  });

  app.post('/ui/api/migrations/:id/:command', async (req, reply) => {
    const c = guardWrite(req, reply);
    if (!c) return reply;
    const { id, command } = req.params as { id: string; command: string };
    const type = command.toUpperCase() as CommandType;
    if (!(COMMANDS as readonly string[]).includes(type))
      return reply.code(404).send({ error: 'not found', message: `unknown command "${command}"` });
    let reason: string | undefined;
    try {
      const r = json(req).reason;
      reason = typeof r === 'string' && r.trim() ? r.trim().slice(0, 500) : undefined;
    } catch {
      return reply.code(400).send({ error: 'bad request', message: 'send {"reason": "…"} as JSON' });
    }
    if (type === 'ABORT' && !reason)
      return reply.code(400).send({ error: 'bad request', message: 'an abort needs a reason' });
    try {
      if (!isMigrationId(id)) throw new NotFoundError(id);
      const m = await o.service.get(id, { limit: 1 });
      if (!allows(c.principal, m.migration.namespace, 'read')) throw new NotFoundError(id);
      if (!allows(c.principal, m.migration.namespace, 'operate'))
        return reply.code(403).send({
          error: 'forbidden',
          message: `${c.principal.name} is a viewer in namespace "${m.migration.namespace}" (operators may ${command})`,
        });
      return reply.code(202).send(await o.service.command(id, type, `web:${c.principal.name}`, reason));
    } catch (err) {
      if (err instanceof NotFoundError)
        return reply.code(404).send({ error: 'not found', message: err.message });
      if (err instanceof CommandRefusedError)
        return reply.code(409).send({ error: 'conflict', message: err.message, possible: err.possible });
      throw err;
    }
  });

  app.get('/ui/api/events', async (req, reply) => {
    const c = caller(req);
    if (!c) return unauthorized(reply);
    const id = (req.query as { migration?: string }).migration;
    if (id) {
      try {
        await readable(c, id);
      } catch (err) {
        if (err instanceof NotFoundError)
          return reply.code(404).send({ error: 'not found', message: err.message });
        throw err;
      }
    }
    const sse = openSse(req, reply);
    const visible = (ns: string) => {
      const p = o.tokens.principal(c.principal.name);
      return !!p && allows(p, ns, 'read');
    };
    sse.onClose(
      hub.watchList((e) => {
        if (e.type !== 'migration' || !visible(e.migration.namespace)) return;
        if (!id || e.migration.id === id) sse.send('migration', e.migration);
      }),
    );
    if (id) {
      const stop = await hub.watchMigration(id, (e) => {
        if (e.type === 'history') sse.send('history', e.entries);
      });
      sse.onClose(stop);
      sse.send('snapshot', await readable(c, id));
    } else {
      const items = (await o.service.list(1000, 0)).filter((m) => allows(c.principal, m.namespace, 'read'));
      sse.send('list', items);
    }
    return reply;
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    webHub?: LiveHub;
  }
}
