/**
 * Slack test wiring: a fake Slack Web API (node:http, records every call), requests signed exactly as Slack
 * signs them, and the real service pieces (Redis store, BullMQ queue, MigrationService, optional in-process
 * MigrationWorker) behind the real fastify API with the Slack routes mounted.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApi } from '../../src/api/server.js';
import type { MetricsProvider } from '../../src/gate/input/provider.js';
import { silentLogger } from '../../src/log/logger.js';
import type { MeshAdapter } from '../../src/mesh/types.js';
import { createServiceMetrics } from '../../src/worker/metrics.js';
import { connectRedis, MigrationQueue, redisOptions } from '../../src/worker/queue.js';
import { MigrationService } from '../../src/service/service.js';
import { RedisMigrationStore } from '../../src/store/store.js';
import { MigrationWorker } from '../../src/worker/worker.js';
import { registerSlack, SLACK_PATH, type SlackHandle, type SlackOptions } from '../../src/slack/app.js';
import { signSlackRequest } from '../../src/slack/verify.js';

export const SIGNING_SECRET = 'test-signing-secret-8f14e45fceea167a';
export const BOT_TOKEN = 'xoxb-test-token';
export const CHANNEL = 'C0MIGRATE';

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  /** ts returned by chat.postMessage. */
  ts?: string;
  /** When the fake received it (epoch ms). */
  at: number;
}

export interface FakeSlack {
  url: string;
  /** Base for WebClient's slackApiUrl. */
  apiUrl: string;
  calls: SlackCall[];
  /** response_url deliveries (late slash-command answers). */
  responses: Array<Record<string, unknown>>;
  groups: Record<string, string[]>;
  byMethod(method: string): SlackCall[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Arguments as the Web API client sent them (form-encoded; blocks arrive as JSON strings). */
function parseArgs(body: string, type: string | undefined): Record<string, unknown> {
  if (!body) return {};
  if (type?.includes('json')) return JSON.parse(body) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(body)) {
    out[k] = /^[[{]/.test(v) ? (JSON.parse(v) as unknown) : v;
  }
  return out;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const responses: Array<Record<string, unknown>> = [];
  const groups: Record<string, string[]> = {};
  let seq = 0;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://x');
      const send = (o: Record<string, unknown>) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      if (url.pathname.startsWith('/respond/')) {
        responses.push(JSON.parse(body) as Record<string, unknown>);
        return send({ ok: true });
      }
      const method = url.pathname.replace(/^\/api\//, '');
      const args = parseArgs(body, req.headers['content-type']);
      const call: SlackCall = { method, args, at: Date.now() };
      calls.push(call);
      switch (method) {
        case 'chat.postMessage': {
          const ts = `1700000000.${String(++seq).padStart(6, '0')}`;
          call.ts = ts;
          return send({ ok: true, channel: args.channel, ts, message: { ts, text: args.text } });
        }
        case 'chat.update':
          return send({ ok: true, channel: args.channel, ts: args.ts });
        case 'chat.postEphemeral':
          return send({ ok: true, message_ts: `1700000001.${String(++seq).padStart(6, '0')}` });
        case 'usergroups.users.list':
          return send({ ok: true, users: groups[String(args.usergroup)] ?? [] });
        case 'auth.test':
          return send({ ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1' });
        default:
          return send({ ok: false, error: 'unknown_method' });
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    apiUrl: `${url}/api/`,
    calls,
    responses,
    groups,
    byMethod: (m) => calls.filter((c) => c.method === m),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface SlackServer {
  base: string;
  api: FastifyInstance;
  redis: Redis;
  store: RedisMigrationStore;
  queue: MigrationQueue;
  service: MigrationService;
  slack: SlackHandle;
  worker?: MigrationWorker;
  close(): Promise<void>;
}

export async function startSlackServer(args: {
  redisUrl: string;
  prefix: string;
  fake: FakeSlack;
  slack?: Partial<SlackOptions>;
  worker?: { mesh: MeshAdapter; metrics: MetricsProvider };
  timeScale?: number;
}): Promise<SlackServer> {
  const redis = connectRedis(args.redisUrl, 'slack-test');
  const store = new RedisMigrationStore(redis, args.prefix);
  const connection = redisOptions(args.redisUrl);
  const queue = new MigrationQueue(connection, args.prefix);
  const metrics = createServiceMetrics(() => store.countByPhase());
  let worker: MigrationWorker | undefined;
  if (args.worker) {
    worker = new MigrationWorker({
      store,
      queue,
      connection,
      mesh: args.worker.mesh,
      metrics: args.worker.metrics,
      logger: silentLogger,
      concurrency: 5,
      lockTtlMs: 3000,
      tickAlignMs: 50,
      reconcileEveryMs: 0,
    });
    await worker.start();
  }
  const service = new MigrationService({
    store,
    queue,
    logger: silentLogger,
    timeScale: args.timeScale ?? 1,
  });
  const api = await buildApi({ service, redis, metrics, logger: silentLogger });
  const slack = registerSlack(api, {
    signingSecret: SIGNING_SECRET,
    botToken: BOT_TOKEN,
    store,
    service,
    logger: silentLogger,
    slackApiUrl: args.fake.apiUrl,
    notifier: { intervalMs: 100 },
    ...args.slack,
  });
  const address = await api.listen({ host: '127.0.0.1', port: 0 });
  return {
    base: address.replace('[::1]', '127.0.0.1'),
    api,
    redis,
    store,
    queue,
    service,
    slack,
    ...(worker ? { worker } : {}),
    async close() {
      await api.close().catch(() => undefined);
      await worker?.stop().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await redis.quit().catch(() => undefined);
    },
  };
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

/** Signs a form body the way Slack does: v0=HMAC-SHA256(secret, "v0:" + ts + ":" + body). */
export function signed(
  body: string,
  opts: { secret?: string; timestamp?: number; retryNum?: number } = {},
): SignedRequest {
  const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': signSlackRequest(opts.secret ?? SIGNING_SECRET, ts, body),
      ...(opts.retryNum
        ? { 'x-slack-retry-num': String(opts.retryNum), 'x-slack-retry-reason': 'http_timeout' }
        : {}),
    },
  };
}

let triggers = 0;
export function slashBody(user: string, text: string, fake?: FakeSlack, trigger?: string): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: 'T1',
    team_domain: 'acme',
    channel_id: CHANNEL,
    channel_name: 'migrations',
    user_id: user,
    user_name: user.toLowerCase(),
    command: '/meshshift',
    text,
    api_app_id: 'A1',
    response_url: `${fake?.url ?? 'http://127.0.0.1:9'}/respond/${user}`,
    trigger_id: trigger ?? `trig.${Date.now()}.${++triggers}`,
  }).toString();
}

export function buttonBody(args: {
  user: string;
  actionId: string;
  value: string;
  messageTs: string;
  threadTs?: string;
  blocks?: unknown;
  fake?: FakeSlack;
}): string {
  const payload = {
    type: 'block_actions',
    user: { id: args.user, username: args.user.toLowerCase(), team_id: 'T1' },
    api_app_id: 'A1',
    token: 'deprecated',
    container: { type: 'message', message_ts: args.messageTs, channel_id: CHANNEL, is_ephemeral: false },
    trigger_id: `trig.btn.${Date.now()}.${++triggers}`,
    team: { id: 'T1', domain: 'acme' },
    channel: { id: CHANNEL, name: 'migrations' },
    message: {
      type: 'message',
      ts: args.messageTs,
      ...(args.threadTs ? { thread_ts: args.threadTs } : {}),
      text: 'buttons',
      blocks: args.blocks ?? [],
    },
    response_url: `${args.fake?.url ?? 'http://127.0.0.1:9'}/respond/${args.user}`,
    actions: [
      {
        type: 'button',
        action_id: args.actionId,
        block_id: 'meshshift-actions',
        value: args.value,
        text: { type: 'plain_text', text: 'x' },
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export async function post(
  base: string,
  req: SignedRequest,
  path = SLACK_PATH,
): Promise<{ status: number; text: string; json?: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: req.headers, body: req.body });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, ...(json ? { json } : {}) };
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const PLAN = `apiVersion: meshshift.io/v1alpha1
kind: MigrationPlan
metadata:
  name: checkout-to-k8s
spec:
  namespace: payments
  host: checkout.payments.svc.cluster.local
  virtualService:
    name: checkout
  source:
    subset: vm
    serviceEntry: checkout-vm
  target:
    subset: k8s
    deployment: checkout
  policy: default
  notify:
    slackChannel: ${CHANNEL}
`;

/** Every text a Slack call carried (text + section/context block texts). */
export function textOf(c: SlackCall): string {
  const parts = [String(c.args.text ?? '')];
  const blocks = Array.isArray(c.args.blocks) ? (c.args.blocks as Array<Record<string, unknown>>) : [];
  for (const b of blocks) {
    const t = b.text as { text?: string } | undefined;
    if (t?.text) parts.push(t.text);
    const els = Array.isArray(b.elements) ? (b.elements as Array<{ text?: unknown }>) : [];
    for (const e of els) if (typeof e.text === 'string') parts.push(e.text);
  }
  return parts.join('\n');
}
