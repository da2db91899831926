/**
 * A rollback while the Kubernetes API hangs, at production timing (10 s call deadline, 25 s attempt deadline,
 * 60 s effect timeout, 30 s retry cap): real Redis and Prometheus, the Kubernetes API test server behind a
 * loopback proxy that holds every request open while "hanging" (a held request is never answered, even after
 * the heal). The engine must own the retries: one `rollbackRetry` entry (which the Slack notifier posts) and
 * one error log per failed attempt, numbered 1, 2, 3 …; no effect cancelled, no job left to BullMQ's backoff,
 * no takeover entry; and the rollback PATCH within 31 s of the heal. Slack is on (a fake Slack Web API on
 * loopback, configured through the environment as `serve` reads it): each failed attempt must reach it as a
 * message within 30 s of the failure.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/tokens.js';
import { startService } from '../../src/serve/start.js';
import { routeNameOf } from '../../src/engine/route-label.js';
import { createLogger } from '../../src/log/logger.js';
import { IstioMeshAdapter } from '../../src/mesh/istio.js';
import { startRedis } from '../../src/sim/redis.js';
import { startScenario } from '../../src/sim/scenario.js';
import { entryMessages } from '../../src/slack/format.js';
import { startHangingProxy } from '../harness/hanging-proxy.js';
import { startFakeSlack, type FakeSlack } from '../slack/helpers.js';
import {
  SERVICE_POLICY,
  TERMINAL,
  TOKEN,
  getMigration,
  http,
  serveOptions,
  tokensFile,
  waitFor,
} from './helpers.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const HANG_MS = 150_000;

/** Slack as `serve` reads it from the environment, pointed at a fake Slack Web API; restored after the test. */
async function slackFromEnv(): Promise<FakeSlack> {
  const fake = await startFakeSlack();
  const env = {
    SLACK_SIGNING_SECRET: 'test-signing-secret',
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_API_URL: fake.apiUrl,
    MESHSHIFT_SLACK_CHANNEL: 'C0HANG',
  };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  cleanups.push(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await fake.close();
  });
  return fake;
}

/** A `serve --role all` whose Kubernetes API sits behind the hanging proxy, and a migration at its first weight. */
async function world(prefix: string) {
  const slack = await slackFromEnv();
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const s = await startScenario({ metrics: prom(), policy: SERVICE_POLICY });
  cleanups.push(() => s.close());
  const proxy = await startHangingProxy(s.kube);
  cleanups.push(() => proxy.close());
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } });
  const svc = await startService(
    serveOptions(redis.url, prefix, { role: 'all', prometheus: prom().prometheusUrl }),
    {
      logger,
      tokens: new FileTokenStore(tokensFile()),
      mesh: new IstioMeshAdapter(proxy.kubeConfig()), // production call deadline: 10 s
    },
  );
  cleanups.push(() => svc.close());
  const base = svc.url!;
  await s.waitForTraffic();
  const r = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  const id = r.json.id as string;
  await waitFor(base, id, (m) => m.migration.weight > 0 || TERMINAL.includes(m.migration.phase));
  return { s, proxy, lines, svc, base, id, slack };
}

describe('a Kubernetes API that hangs', () => {
  it('API hanging 150 s after an abort: every failed attempt is the engine’s (history, a Slack message within 30 s, log), no self-takeover, PATCH ≤ 31 s after the heal', async () => {
    const { s, proxy, lines, svc, base, id, slack } = await world('hang');

    proxy.hang();
    const abortedAt = Date.now();
    const abort = await http(base, 'POST', `/v1/migrations/${id}/abort`, { token: TOKEN });
    expect(abort.status).toBe(202);
    await waitFor(base, id, (m) => m.migration.phase === 'rollingBack');
    await sleep(HANG_MS);
    const healedAt = Date.now();
    proxy.heal();
    const done = await waitFor(base, id, (m) => TERMINAL.includes(m.migration.phase), 60_000);
    expect(done.migration).toMatchObject({ phase: 'aborted', weight: 0 });

    const patches = s.kube.requests.filter((q) => q.method === 'PATCH' && q.at >= healedAt);
    expect(patches.length).toBe(1);
    const healToWriteMs = patches[0]!.at - healedAt;
    expect(healToWriteMs).toBeLessThanOrEqual(31_000);
    expect(proxy.held).toBeGreaterThan(0);

    const history = await svc.store.history(id, { count: 10_000 });
    const retries = history.filter((e) => e.type === 'rollbackRetry');
    // 150 s of hanging at ≤ 25 s per attempt: at least five failed attempts, each numbered in turn.
    expect(retries.length).toBeGreaterThanOrEqual(5);
    expect(retries.map((e) => e.attempt)).toEqual(retries.map((_, i) => i + 1));
    for (const e of retries) {
      expect(String(e.error)).toMatch(/attempt deadline|no answer within/);
      // Each is posted to Slack by the notifier (it posts every history entry that formats to a message).
      expect(
        entryMessages(e, { id, route: routeNameOf(s.plan), verdicts: 'changes' })
          .map((m) => m.text)
          .join(),
      ).toMatch(/Rollback write failed\* \(attempt \d+\)/);
      // The next attempt starts at most 30 s after the failed one.
      expect(Number(e.retryAt) - e.at).toBeLessThanOrEqual(30_000);
    }
    expect(history.filter((e) => e.type === 'takeover')).toEqual([]);
    // No failed attempt went unrecorded: attempts are cut at 25 s and retried within 30 s, so from the abort to
    // the heal no stretch longer than one attempt plus one wait passes without an entry.
    const marks = [abortedAt, ...retries.map((e) => e.at), healedAt];
    const gaps = marks.slice(1).map((t, i) => t - marks[i]!);
    expect(Math.max(...gaps), `gaps ${gaps.join(',')} ms`).toBeLessThanOrEqual(25_000 + 30_000 + 2_000);

    // Slack received each failed attempt as a message within 30 s of the failure.
    const posts = slack.byMethod('chat.postMessage');
    const slackLagMs = retries.map((e) => {
      const post = posts.find((p) =>
        String(p.args.text).includes(`Rollback write failed* (attempt ${e.attempt})`),
      );
      expect(post, `no Slack message for attempt ${e.attempt}`).toBeDefined();
      return post!.at - e.at;
    });
    for (const lag of slackLagMs) expect(lag).toBeLessThanOrEqual(30_000);

    const logs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const failed = logs.filter((l) => String(l.msg).startsWith('ROLLBACK WRITE FAILED'));
    expect(failed.map((l) => l.attempt)).toEqual(retries.map((e) => e.attempt));
    const noise = logs.filter((l) =>
      /did not finish|before its commit|taking over|BullMQ/.test(String(l.msg)),
    );
    expect(noise).toEqual([]);
    console.log(
      `rollback under a 150 s hang: ${retries.length} failed attempts recorded, ${proxy.held} requests held, ` +
        `heal → rollback PATCH ${(healToWriteMs / 1000).toFixed(1)} s; failure → Slack max ` +
        `${(Math.max(...slackLagMs) / 1000).toFixed(1)} s`,
    );
  }, 400_000);

  it('a forward step while the API hangs 75 s: the weight holds (writeRetry per failed attempt), pauses after writeFailureGrace, never rolls back; RESUME after the heal lands the step', async () => {
    const { s, proxy, svc, base, id, slack } = await world('fwdhang');
    proxy.hang(); // the next step's write (5 %) hangs
    await sleep(75_000);
    // writeFailureGrace 10m × timeScale 0.05 = 30 s: the held write has paused the migration by now.
    const paused = await getMigration(base, id);
    expect(paused.migration).toMatchObject({ phase: 'paused', weight: 1 });
    expect(paused.migration.reason).toMatch(
      /^weight write to 5 % failing for \d+ s \(\d+ attempts; last: set weight 5 %: no result within 25 s \(the engine's attempt deadline\); cancelled\); holding at 1 % — RESUME to try again, ABORT to roll back$/,
    );
    const during = await svc.store.history(id, { count: 10_000 });
    const retries = during.filter((e) => e.type === 'writeRetry');
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries.map((e) => e.attempt)).toEqual(retries.map((_, i) => i + 1));
    expect(retries[0]).toMatchObject({ weight: 5, held: 1 });
    // Analyses went on at the held weight while the write hung (still guarded).
    expect(during.filter((e) => e.type === 'verdict' && e.at > retries[0]!.at).length).toBeGreaterThan(0);
    proxy.heal();
    const resumedAt = Date.now();
    expect((await http(base, 'POST', `/v1/migrations/${id}/resume`, { token: TOKEN })).status).toBe(202);
    const moved = await waitFor(
      base,
      id,
      (m) => m.migration.weight >= 5 || TERMINAL.includes(m.migration.phase),
      60_000,
    );
    expect(moved.migration.weight).toBe(5);
    const writeAt = s.kube.requests.find((q) => q.method === 'PATCH' && q.at >= resumedAt)!.at;
    const history = await svc.store.history(id, { count: 10_000 });
    expect(history.filter((e) => e.type === 'phase' && e.phase === 'rollingBack')).toEqual([]);
    // Slack received each failed write attempt within 30 s of it (checked now: the last one may be fresh at 75 s).
    for (const e of retries) {
      const post = slack
        .byMethod('chat.postMessage')
        .find((p) => String(p.args.text).includes(`Weight write failed* (attempt ${e.attempt})`));
      expect(post, `no Slack message for write attempt ${e.attempt}`).toBeDefined();
      expect(post!.at - e.at).toBeLessThanOrEqual(30_000);
    }
    expect(history.filter((e) => e.type === 'takeover')).toEqual([]);
    console.log(
      `forward step under a 75 s hang: ${retries.length} failed attempts recorded, weight held at 1 %, paused ` +
        `after the grace; resume → step PATCH ${((writeAt - resumedAt) / 1000).toFixed(1)} s`,
    );
    expect((await http(base, 'POST', `/v1/migrations/${id}/abort`, { token: TOKEN })).status).toBe(202);
  }, 240_000);
});
