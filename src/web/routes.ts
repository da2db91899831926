/**
 * The dashboard, served by the API process under /ui/: the page shell and bundle, a login that trades an API
 * token for a session cookie, the list and migration reads, commands, and one SSE stream for live updates. Reads
 * and commands go through MigrationService (the same paths as the HTTP API) and the one access model
 * (src/auth/access.ts): viewers read, operators also command, per namespace. Commands are recorded as `web:<user>`.
 */
import type { FastifyInstance } from 'fastify';
import type { TokenStore } from '../auth/tokens.js';
import { allows } from '../auth/access.js';
import { commandOf } from '../engine/vocabulary.js';
import type { Logger } from '../log/logger.js';
import { isMigrationId } from '../store/keys.js';
import {
  CommandRefusedError,
  ForbiddenError,
  NotFoundError,
  type MigrationService,
} from '../service/service.js';
import { CSP, loadAssets, shellHtml } from './assets.js';
import {
  WebGuard,
  jsonBody,
  notFound,
  readMigration,
  unauthorized,
  webPrincipal,
  type Caller,
} from './guard.js';
import { LiveHub } from './live.js';
import type { OneTimeLogins } from './one-time-login.js';
import { SessionStore, sessionCookie } from './session.js';
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
  /** One-time login codes (`GET /ui/login/once?code=…`), e.g. the one the playground prints. */
  oneTimeLogins?: OneTimeLogins;
}

interface Ctx {
  o: WebOptions;
  guard: WebGuard;
  hub: LiveHub;
  logger: Logger;
}

export async function mountWeb(app: FastifyInstance, o: WebOptions): Promise<void> {
  const logger = o.logger ?? (app.log as unknown as Logger);
  const ctx: Ctx = {
    o,
    guard: new WebGuard(o.tokens, new SessionStore(o.sessionTtlMs)),
    hub: new LiveHub(o.service, logger, o.pollMs ?? 1000),
    logger,
  };
  app.addHook('onClose', async () => ctx.hub.close());
  mountPages(app);
  mountSession(app, ctx);
  mountReads(app, ctx);
  mountCommands(app, ctx);
  mountEvents(app, ctx);
}

function mountPages(app: FastifyInstance): void {
  const assets = loadAssets();
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
}

const me = (c: Caller) => ({ user: c.principal.name, grants: c.principal.grants, csrf: c.session.csrf });

function mountSession(app: FastifyInstance, { o, guard, logger }: Ctx): void {
  const cookie = (id: string, maxAgeS: number) => sessionCookie(id, { maxAgeS, secure: !!o.secureCookie });
  app.post('/ui/api/login', async (req, reply) => {
    if (!guard.sameOrigin(req))
      return reply.code(403).send({ error: 'forbidden', message: 'cross-origin request refused' });
    let token: unknown;
    try {
      token = jsonBody(req).token;
    } catch {
      return reply.code(400).send({ error: 'bad request', message: 'send {"token": "…"} as JSON' });
    }
    const principal = typeof token === 'string' ? o.tokens.identify(token.trim()) : undefined;
    if (!principal) return reply.code(401).send({ error: 'unauthorized', message: 'unknown token' });
    const session = guard.sessions.create(principal.name);
    logger.info({ user: principal.name }, 'dashboard sign-in');
    reply.header('set-cookie', cookie(session.id, Math.floor((o.sessionTtlMs ?? 8 * 3600_000) / 1000)));
    return me({ session, principal });
  });
  app.get('/ui/login/once', async (req, reply) => {
    const code = (req.query as { code?: unknown }).code;
    const user = typeof code === 'string' ? o.oneTimeLogins?.redeem(code) : undefined;
    const principal = user ? o.tokens.principal(user) : undefined;
    reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store');
    if (!principal)
      return reply
        .code(401)
        .send({ error: 'unauthorized', message: 'this login link is unknown, used or expired' });
    const session = guard.sessions.create(principal.name);
    logger.info({ user: principal.name }, 'dashboard sign-in (one-time link)');
    reply.header('set-cookie', cookie(session.id, Math.floor((o.sessionTtlMs ?? 8 * 3600_000) / 1000)));
    return reply.redirect('/ui/');
  });
  app.post('/ui/api/logout', async (req, reply) => {
    const c = guard.write(req, reply);
    if (!c) return reply;
    guard.sessions.delete(c.session.id);
    reply.header('set-cookie', cookie('', 0));
    return { ok: true };
  });
  app.get('/ui/api/me', async (req, reply) => {
    const c = guard.caller(req);
    return c ? me(c) : unauthorized(reply);
  });
}

function mountReads(app: FastifyInstance, { o, guard }: Ctx): void {
  app.get('/ui/api/migrations', async (req, reply) => {
    const c = guard.caller(req);
    if (!c) return unauthorized(reply);
    const items = (await o.service.list(1000, 0)).filter((m) => allows(c.principal, m.namespace, 'read'));
    return { items };
  });
  app.get('/ui/api/migrations/:id', async (req, reply) => {
    const c = guard.caller(req);
    if (!c) return unauthorized(reply);
    try {
      return await readMigration(o.service, c.principal, (req.params as { id: string }).id, true);
    } catch (err) {
      if (err instanceof NotFoundError) return notFound(reply, err);
      throw err;
    }
  });
}

function mountCommands(app: FastifyInstance, { o, guard }: Ctx): void {
  app.post('/ui/api/migrations/:id/:command', async (req, reply) => {
    const c = guard.write(req, reply);
    if (!c) return reply;
    const { id, command } = req.params as { id: string; command: string };
    const type = commandOf(command.toLowerCase());
    if (!type) return reply.code(404).send({ error: 'not found', message: `unknown command "${command}"` });
    let reason: string | undefined;
    try {
      const r = jsonBody(req).reason;
      reason = typeof r === 'string' && r.trim() ? r.trim().slice(0, 500) : undefined;
    } catch {
      return reply.code(400).send({ error: 'bad request', message: 'send {"reason": "…"} as JSON' });
    }
    if (type === 'ABORT' && !reason)
      return reply.code(400).send({ error: 'bad request', message: 'an abort needs a reason' });
    try {
      if (!isMigrationId(id)) throw new NotFoundError(id);
      const principal = webPrincipal(c.principal, id, command);
      const { answer } = await o.service.commandAs(principal, id, { type, ...(reason ? { reason } : {}) });
      return reply.code(202).send(answer);
    } catch (err) {
      if (err instanceof NotFoundError) return notFound(reply, err);
      if (err instanceof ForbiddenError)
        return reply.code(403).send({ error: 'forbidden', message: err.message });
      if (err instanceof CommandRefusedError)
        return reply.code(409).send({ error: 'conflict', message: err.message, possible: err.possible });
      throw err;
    }
  });
}

/** GET /ui/api/events[?migration=<id>]: a snapshot, then changes as they are committed (one hub per server). */
function mountEvents(app: FastifyInstance, { o, guard, hub, logger }: Ctx): void {
  // Open streams would keep the server from closing: end them first (the pages reconnect to another replica).
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });
  app.get('/ui/api/events', async (req, reply) => {
    const c = guard.caller(req);
    if (!c) return unauthorized(reply);
    const id = (req.query as { migration?: string }).migration;
    if (id) {
      try {
        await readMigration(o.service, c.principal, id, false);
      } catch (err) {
        if (err instanceof NotFoundError) return notFound(reply, err);
        throw err;
      }
    }
    const sse = openSse(req, reply);
    const end = () => reply.raw.end();
    open.add(end);
    sse.onClose(() => open.delete(end));
    const visible = (ns: string) => {
      const p = o.tokens.principal(c.principal.name); // a token removed meanwhile sees nothing more
      return !!p && allows(p, ns, 'read');
    };
    sse.onClose(
      hub.watchList((e) => {
        if (e.type !== 'migration' || !visible(e.migration.namespace)) return;
        if (!id || e.migration.id === id) sse.send('migration', e.migration);
      }),
    );
    const principal = c.principal;
    const sendSnapshot = async () => {
      if (id) {
        // Subscribe first, then read the snapshot: the page merges both by entry id, so nothing falls in between.
        sse.onClose(
          await hub.watchMigration(id, (e) => e.type === 'history' && sse.send('history', e.entries)),
        );
        sse.send('snapshot', await readMigration(o.service, principal, id, true));
      } else {
        const items = (await o.service.list(1000, 0)).filter((m) => allows(principal, m.namespace, 'read'));
        sse.send('list', items);
      }
    };
    try {
      await sendSnapshot();
    } catch (err) {
      logger.warn({ err: (err as Error).message, migration: id }, 'dashboard stream failed');
      end();
    }
    return reply;
  });
}
