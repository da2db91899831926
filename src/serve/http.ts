/**
 * The HTTP server of `meshshift serve`: the API (every role serves /healthz, /readyz, /metrics), the dashboard at
 * /ui/ and Slack on the same server, then listening.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApi } from '../api/server.js';
import { mountWeb } from '../web/routes.js';
import type { TokenStore } from '../auth/tokens.js';
import type { Logger } from '../log/logger.js';
import type { MigrationService } from '../service/service.js';
import type { ServiceMetrics } from '../worker/metrics.js';
import { describeTopology, waitReady } from '../store/redis-connection.js';
import type { Roles, ServeDeps, ServeOptions } from './options.js';
import type { Backends, RedisSide } from './redis.js';

const SLACK_ENV = [
  'SLACK_SIGNING_SECRET',
  'SLACK_SIGNING_SECRET_FILE',
  'SLACK_BOT_TOKEN',
  'SLACK_BOT_TOKEN_FILE',
];

/** The API with, where they apply, the dashboard and Slack mounted on it (not listening yet). */
export async function buildHttp(
  o: ServeOptions,
  deps: ServeDeps,
  p: {
    roles: Roles;
    service: MigrationService | undefined;
    tokens: TokenStore | undefined;
    metrics: ServiceMetrics;
    backends: Backends;
    prefix: string;
    logger: Logger;
  },
): Promise<FastifyInstance> {
  const { service, tokens, logger } = p;
  const apiService = p.roles.routes ? service : undefined;
  const api = await buildApi({
    ...(apiService ? { service: apiService } : {}),
    ...(tokens ? { tokens } : {}),
    redis: (p.backends.apiClient ?? p.backends.workerClient)! as Redis,
    metrics: p.metrics,
    logger,
    authReads: !!o.authReads,
    ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    keyPrefix: p.prefix,
    ...(o.policies ? { policiesDir: o.policies } : {}),
  });
  // The dashboard at /ui/ on the API's server, where it serves migrations and people can sign in with a token.
  if (apiService && tokens) await mountWeb(api, { ...(deps.web ?? {}), service: apiService, tokens });
  // Slack (slash commands, buttons, threaded notifications) when its secrets are configured; Bolt is loaded
  // only then, so processes without Slack do not carry it.
  if (SLACK_ENV.some((k) => process.env[k])) {
    const { mountSlackFromEnv } = await import('../slack/app.js');
    mountSlackFromEnv(api, {
      ...(service ? { service } : {}),
      store: p.backends.store,
      logger,
      ...(tokens ? { principals: tokens } : {}),
    });
  }
  return api;
}

/** Listens on --host/--port and says where it serves and where the dashboard is; returns the URL. */
export async function listen(
  api: FastifyInstance,
  o: ServeOptions,
  p: { redis: RedisSide; backends: Backends; hasTokens: boolean; logger: Logger },
): Promise<string> {
  const { logger } = p;
  const redis = describeTopology(p.redis.topology);
  // The API's connection refuses commands until it is connected: give it a moment before taking requests (if Redis
  // is not there yet, the API starts anyway and answers 503 until it is).
  if (p.backends.apiClient && !(await waitReady(p.backends.apiClient, 5000)))
    logger.warn({ redis }, 'Redis not reachable yet: the API answers 503 until it is');
  const address = await api.listen({ host: o.host, port: o.port });
  const url = address.replace('[::1]', '127.0.0.1');
  logger.info({ role: o.role, url, redis, prefix: p.redis.prefix }, 'meshshift serving');
  const dashboard = dashboardNote(o.role, p.hasTokens, url);
  logger.info({ dashboard: dashboard.url ?? 'off' }, dashboard.message);
  return url;
}

/** Where the dashboard is, or why it is off: `serve` says it once at start. */
export function dashboardNote(
  role: string,
  hasTokens: boolean,
  url: string,
): { url?: string; message: string } {
  if (role === 'worker' || role === 'controller')
    return { message: `dashboard off: --role ${role} serves no dashboard (it is on --role api or all)` };
  if (!hasTokens)
    return {
      message:
        'dashboard off: no --tokens-file (people sign in to the dashboard with a token from that file)',
    };
  return { url: `${url}/ui/`, message: `dashboard at ${url}/ui/ (sign in with a token from --tokens-file)` };
}
