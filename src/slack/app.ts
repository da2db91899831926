/**
 * The Slack surface of `meshshift serve`: a Bolt app whose receiver is a route on the service's fastify server
 * (`POST /slack/events`, for both the slash command and interactivity), plus the history notifier.
 *
 * Every request is checked before Bolt sees it: the v0 signature over the raw body, a timestamp at most 5
 * minutes from now, and no replay (the signature is remembered in Redis for 10 minutes: the same signed
 * request twice → 401). Slack's retries (`X-Slack-Retry-Num`) and any second delivery of one interaction
 * (same trigger_id) are acknowledged without acting again.
 */
import { readFileSync } from 'node:fs';
import { App, LogLevel, type Logger as BoltLogger, type Receiver, type ReceiverEvent } from '@slack/bolt';
import { WebClient } from '@slack/web-api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log/logger.js';
import type { MigrationService } from '../service/service.js';
import type { RedisMigrationStore } from '../store/store.js';
import type { SlackPrincipals } from '../auth/access.js';
import { SlackAuthorizer, type SlackPolicy } from './auth.js';
import { registerListeners } from './interactions.js';
import { SlackNotifier, type NotifierOptions } from './notifier.js';
import { verifySlackSignature } from './verify.js';

export const SLACK_PATH = '/slack/events';
/** Remembered signatures and trigger ids: longer than the 5-minute timestamp window. */
const SEEN_TTL_SECONDS = 600;

export interface SlackOptions {
  signingSecret: string;
  botToken: string;
  store: RedisMigrationStore;
  logger: Logger;
  /** Undefined in a worker-only process: then only the notifier runs (no routes). */
  service?: MigrationService;
  /** The authorization policy: an authorizer, a policy, or a YAML file. None = nobody may change anything. */
  authorizer?: SlackAuthorizer;
  policy?: SlackPolicy;
  authFile?: string;
  /** The tokens file's principals (one access model with the API and the dashboard). */
  principals?: SlackPrincipals;
  /** Web API base URL (tests point it at a fake; default https://slack.com/api/). */
  slackApiUrl?: string;
  path?: string;
  ackBudgetMs?: number;
  /** false: no notifier in this process. */
  notifier?: false | Partial<Omit<NotifierOptions, 'store' | 'client' | 'logger'>>;
}

export interface SlackHandle {
  client: WebClient;
  bolt?: App;
  notifier?: SlackNotifier;
  authorizer: SlackAuthorizer;
}

function boltLogger(log: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const out =
    (fn: 'debug' | 'info' | 'warn' | 'error') =>
    (...msg: unknown[]) =>
      log[fn](
        { component: 'slack-bolt' },
        msg.map((m) => (m instanceof Error ? m.message : String(m))).join(' '),
      );
  return {
    debug: out('debug'),
    info: out('info'),
    warn: out('warn'),
    error: out('error'),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

type AckBody = Record<string, unknown> | string | undefined;

/** A Bolt receiver that is a fastify route (Bolt's own receivers want their own server or Express). */
class FastifyReceiver implements Receiver {
  private bolt?: App;
  constructor(
    private readonly o: { signingSecret: string; store: RedisMigrationStore; logger: Logger; path: string },
  ) {}

  init(app: App): void {
    this.bolt = app;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  register(app: FastifyInstance): void {
    void app.register(async (scope) => {
      // The signature covers the exact bytes: keep them (the API's own parser decodes text).
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
      scope.post(this.o.path, (req, reply) => this.handle(req, reply));
    });
  }

  private async handle(req: FastifyRequest, reply: FastifyReply) {
    const log = this.o.logger;
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const header = (n: string) => {
      const v = req.headers[n];
      return Array.isArray(v) ? v[0] : v;
    };
    const v = verifySlackSignature({
      secret: this.o.signingSecret,
      rawBody: raw,
      signature: header('x-slack-signature'),
      timestamp: header('x-slack-request-timestamp'),
    });
    if (!v.ok) {
      log.warn({ reason: v.reason, ip: req.ip }, 'slack request refused');
      return reply.code(401).send({ error: 'unauthorized', message: v.reason });
    }
    const retryNum = Number(header('x-slack-retry-num') ?? 0) || undefined;
    const seen = this.o.store.slack;
    if (!(await seen.firstSeen('sig', v.signature.slice(3), SEEN_TTL_SECONDS))) {
      if (retryNum) return reply.code(200).send(); // Slack re-sent a request we already handled
      log.warn({ ip: req.ip }, 'slack request refused: replayed signature');
      return reply.code(401).send({ error: 'unauthorized', message: 'replayed request' });
    }

    const params = new URLSearchParams(raw.toString('utf8'));
    if (params.get('ssl_check') === '1') return reply.code(200).send();
    let body: Record<string, unknown>;
    try {
      const payload = params.get('payload');
      body = payload !== null ? (JSON.parse(payload) as Record<string, unknown>) : Object.fromEntries(params);
    } catch {
      return reply.code(400).send({ error: 'bad request', message: 'payload is not JSON' });
    }
    const trigger = typeof body.trigger_id === 'string' ? body.trigger_id : undefined;
    if (trigger) {
      if (!(await seen.firstSeen('trigger', trigger, SEEN_TTL_SECONDS))) {
        log.info({ trigger, retryNum }, 'slack delivery already handled: acknowledged, not applied again');
        return reply.code(200).send();
      }
    }
    if (!this.bolt) return reply.code(503).send({ error: 'slack app not initialised' });

    let acked = false;
    let resolveAck!: (b: AckBody) => void;
    const ackPromise = new Promise<AckBody>((r) => (resolveAck = r));
    const event: ReceiverEvent = {
      body,
      ...(retryNum ? { retryNum } : {}),
      ...(header('x-slack-retry-reason') ? { retryReason: header('x-slack-retry-reason')! } : {}),
      ack: async (response?: AckBody) => {
        if (acked) return;
        acked = true;
        resolveAck(response);
      },
    };
    const processing = this.bolt.processEvent(event).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    const first = await Promise.race([ackPromise.then((b) => ({ b })), processing.then((err) => ({ err }))]);
    if ('err' in first && !acked) {
      if (first.err) {
        log.error({ err: first.err.message }, 'slack request failed before it was acknowledged');
        return reply.code(500).send({ error: 'internal error' });
      }
      return reply.code(200).send(); // no listener acknowledged it (not for us)
    }
    const b = 'b' in first ? first.b : await ackPromise;
    if (b === undefined || b === '') return reply.code(200).send();
    if (typeof b === 'string') return reply.code(200).type('text/plain; charset=utf-8').send(b);
    return reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(b));
  }
}

/**
 * Mounts the Slack routes on the (not yet listening) fastify server and starts the notifier when it is ready;
 * both stop with `app.close()`.
 */
export function registerSlack(app: FastifyInstance, o: SlackOptions): SlackHandle {
  const client = new WebClient(o.botToken, {
    ...(o.slackApiUrl ? { slackApiUrl: o.slackApiUrl } : {}),
    logLevel: LogLevel.ERROR,
  });
  const authorizer =
    o.authorizer ??
    new SlackAuthorizer({
      client,
      ...(o.authFile ? { file: o.authFile } : {}),
      ...(o.policy ? { policy: o.policy } : {}),
      ...(o.principals ? { principals: o.principals } : {}),
    });
  const handle: SlackHandle = { client, authorizer };
  const logger = o.logger.child({ component: 'slack' });

  if (o.service) {
    const receiver = new FastifyReceiver({
      signingSecret: o.signingSecret,
      store: o.store,
      logger,
      path: o.path ?? SLACK_PATH,
    });
    const bolt = new App({
      receiver,
      authorize: async () => ({ botToken: o.botToken }),
      ignoreSelf: false,
      convoStore: false,
      logger: boltLogger(logger),
      clientOptions: {
        ...(o.slackApiUrl ? { slackApiUrl: o.slackApiUrl } : {}),
        retryConfig: { retries: 0 },
      },
    });
    registerListeners(bolt, {
      service: o.service,
      authorizer,
      logger,
      client,
      ...(o.ackBudgetMs !== undefined ? { ackBudgetMs: o.ackBudgetMs } : {}),
    });
    receiver.register(app);
    handle.bolt = bolt;
  }
  if (o.notifier !== false) {
    const notifier = new SlackNotifier({ store: o.store, client, logger, ...(o.notifier ?? {}) });
    handle.notifier = notifier;
    app.addHook('onReady', async () => notifier.start());
    app.addHook('onClose', async () => notifier.stop());
  }
  return handle;
}

function secret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) return readFileSync(file, 'utf8').trim();
  return env[name]?.trim() || undefined;
}

/**
 * `meshshift serve` calls this once, after building the API and before listening. Does nothing unless both
 * SLACK_SIGNING_SECRET(_FILE) and SLACK_BOT_TOKEN(_FILE) are set. Optional: MESHSHIFT_SLACK_AUTH_FILE (who may
 * act; without it every change from Slack is refused), MESHSHIFT_SLACK_CHANNEL (channel for plans without
 * spec.notify.slackChannel), MESHSHIFT_SLACK_VERDICTS=all|changes, SLACK_API_URL.
 */
export function mountSlackFromEnv(
  app: FastifyInstance,
  deps: {
    service?: MigrationService;
    store: RedisMigrationStore;
    logger: Logger;
    principals?: SlackPrincipals;
  },
  env: NodeJS.ProcessEnv = process.env,
): SlackHandle | undefined {
  const signingSecret = secret(env, 'SLACK_SIGNING_SECRET');
  const botToken = secret(env, 'SLACK_BOT_TOKEN');
  if (!signingSecret || !botToken) {
    if (signingSecret || botToken)
      deps.logger.warn('Slack is off: set both SLACK_SIGNING_SECRET(_FILE) and SLACK_BOT_TOKEN(_FILE)');
    return undefined;
  }
  const authFile = env.MESHSHIFT_SLACK_AUTH_FILE;
  if (!authFile && !deps.principals)
    deps.logger.warn(
      'no MESHSHIFT_SLACK_AUTH_FILE: every promote/pause/resume/abort from Slack will be refused',
    );
  const verdicts = env.MESHSHIFT_SLACK_VERDICTS === 'all' ? 'all' : 'changes';
  const handle = registerSlack(app, {
    signingSecret,
    botToken,
    store: deps.store,
    logger: deps.logger,
    ...(deps.service ? { service: deps.service } : {}),
    ...(authFile ? { authFile } : {}),
    ...(deps.principals ? { principals: deps.principals } : {}),
    ...(env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {}),
    notifier: {
      verdicts,
      ...(env.MESHSHIFT_SLACK_CHANNEL ? { defaultChannel: env.MESHSHIFT_SLACK_CHANNEL } : {}),
    },
  });
  deps.logger.info({ path: deps.service ? SLACK_PATH : undefined, authFile }, 'Slack enabled');
  return handle;
}
