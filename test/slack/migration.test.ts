/**
 * Real migrations end to end: the Kubernetes API test server, the mesh simulator (its own metrics, no
 * Prometheus), real Redis, the in-process worker, the Slack routes and notifier against a fake Slack Web API.
 * Approval buttons are clicked with signed interactive payloads; the thread is checked message by message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SlackNotifier } from '../../src/slack/notifier.js';
import { parseSlackPolicy } from '../../src/slack/auth.js';
import { silentLogger } from '../../src/log/logger.js';
import { startRedis } from '../../src/sim/redis.js';
import { startScenario } from '../../src/sim/scenario.js';
import {
  CHANNEL,
  buttonBody,
  post,
  signed,
  startFakeSlack,
  startSlackServer,
  textOf,
  until,
  type FakeSlack,
  type SlackCall,
  type SlackServer,
} from './helpers.js';

const POLICY = `
steps: [50, 100]
stepDuration: 20s
analysis:
  interval: 2s
  window: 20s
  minRequests: 20
  minPassesPerStep: 1
  inconclusiveLimit: 20
  confidence: 0
slo:
  errorRate:
    max: 0.05
  latency:
    p99:
      maxMs: 800
approvals:
  - atWeight: 50
`;
const AUTH = parseSlackPolicy(`
rules:
  - namespaces: ["*"]
    actions: [promote, abort]
    users: [UALICE]
`);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(prefix: string, k8s?: { errorRate: number }) {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const fake = await startFakeSlack();
  cleanups.push(() => fake.close());
  const s = await startScenario({ metrics: 'simulator', policy: POLICY, rps: 400, ...(k8s ? { k8s } : {}) });
  cleanups.push(() => s.close());
  const srv = await startSlackServer({
    redisUrl: redis.url,
    prefix,
    fake,
    worker: { mesh: s.mesh, metrics: s.metrics },
    timeScale: 0.1,
    slack: { policy: AUTH, notifier: { intervalMs: 100, verdicts: 'changes' } },
  });
  cleanups.push(() => srv.close());
  // A second process's notifier on the same Redis: every entry must still be posted once.
  const { WebClient } = await import('@slack/web-api');
  const second = new SlackNotifier({
    store: srv.store,
    client: new WebClient('xoxb-2', { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } }),
    logger: silentLogger,
    intervalMs: 70,
  });
  second.start();
  cleanups.push(() => second.stop());
  await s.waitForTraffic();
  const planYaml = `${s.planYaml}  notify:\n    slackChannel: ${CHANNEL}\n`;
  const id = (await srv.service.submit(planYaml, 'alice')).id;
  return { fake, s, srv, id };
}

function thread(fake: FakeSlack) {
  const posts = fake.byMethod('chat.postMessage');
  const parent = posts.find((c) => c.args.thread_ts === undefined);
  expect(parent, 'a parent message').toBeDefined();
  expect(posts.filter((c) => c.args.thread_ts === undefined)).toHaveLength(1);
  const replies = posts.filter((c) => c.args.thread_ts !== undefined);
  for (const r of replies) {
    expect(r.args.thread_ts).toBe(parent!.ts);
    expect(r.args.channel).toBe(CHANNEL);
  }
  const parentUpdates = fake.byMethod('chat.update').filter((c) => c.args.ts === parent!.ts);
  return { parent: parent!, replies, texts: replies.map(textOf), parentUpdates };
}

async function waitPhase(srv: SlackServer, id: string, phases: string[], timeoutMs = 60_000) {
  return until(
    `${id} in ${phases.join('/')}`,
    async () => {
      const m = (await srv.service.get(id)).migration;
      return phases.includes(m.phase) ? m : undefined;
    },
    timeoutMs,
  );
}

function buttonsMessage(fake: FakeSlack): SlackCall | undefined {
  return fake
    .byMethod('chat.postMessage')
    .find(
      (c) =>
        JSON.stringify(c.args.blocks ?? []).includes('meshshift:promote') &&
        textOf(c).includes('Approval needed'),
    );
}

describe('Slack with a real migration', () => {
  it('approval gate: unauthorized click refused, authorized Promote completes it; thread, numbers and parent edits', async () => {
    const { fake, srv, id } = await setup('ok');
    await waitPhase(srv, id, ['awaitingApproval']);
    const msg = await until('the approval buttons', () => buttonsMessage(fake));
    const click = (user: string) =>
      buttonBody({
        user,
        actionId: 'meshshift:promote',
        value: id,
        messageTs: msg.ts!,
        threadTs: String(msg.args.thread_ts),
        blocks: msg.args.blocks,
        fake,
      });

    // Not allowed: an ephemeral refusal in the thread, the migration still waits, no command queued.
    const denied = await post(srv.base, signed(click('UMALLORY')));
    expect(denied.status).toBe(200);
    const eph = await until('the refusal', () =>
      fake.byMethod('chat.postEphemeral').find((c) => c.args.user === 'UMALLORY'),
    );
    expect(String(eph.args.text)).toMatch(/not allowed to promote/);
    expect(eph.args.thread_ts).toBe(msg.args.thread_ts);
    expect(await srv.store.inbox(id)).toEqual([]);
    expect((await srv.service.get(id)).migration.phase).toBe('awaitingApproval');

    const ok = await post(srv.base, signed(click('UALICE')));
    expect(ok.status).toBe(200);
    const done = await waitPhase(srv, id, ['completed', 'rolledBack', 'aborted', 'failed']);
    expect(done.phase, done.reason).toBe('completed');
    // The buttons message now says who did what (buttons gone).
    const upd = await until('the buttons update', () =>
      fake.byMethod('chat.update').find((c) => c.args.ts === msg.ts),
    );
    expect(textOf(upd)).toMatch(/<@UALICE> promoted/);
    expect(JSON.stringify(upd.args.blocks)).not.toContain('meshshift:promote');
    // History records the Slack user.
    const { history } = await srv.service.get(id);
    expect(history.find((h) => h.type === 'command')).toMatchObject({
      command: 'PROMOTE',
      by: 'slack:UALICE',
      accepted: true,
    });

    // Thread: every reply under the one parent, in history order, each entry once (two notifiers ran).
    await until(
      'the completion reply',
      () => thread(fake).texts.some((t) => /Completed/.test(t)) || undefined,
    );
    await until(
      'the parent edit',
      () => thread(fake).parentUpdates.some((c) => /completed/.test(textOf(c))) || undefined,
    );
    const t = thread(fake);
    const steps = t.texts.filter((x) => /\*Step\*/.test(x));
    expect(steps).toHaveLength(2);
    expect(steps[0]).toMatch(/0 % → \*50 %\*/);
    expect(steps[1]).toMatch(/50 % → \*100 %\*/);
    const verdicts = t.texts.filter((x) => x.startsWith('*Verdict*'));
    expect(verdicts.length).toBeGreaterThan(0);
    expect(verdicts.find((v) => /pass/.test(v))).toMatch(/`error-rate` .* \d+\.\d+ % \(limit 5\.00 %\)/);
    expect(verdicts.find((v) => /pass/.test(v))).toMatch(
      /requests over \d+ s: VMs \d+ req \/ \d+ err · Kubernetes \d+ req/,
    );
    expect(t.texts.filter((x) => /Approval needed/.test(x))).toHaveLength(1);
    expect(t.texts.filter((x) => /<@UALICE> promoted the migration/.test(x))).toHaveLength(1);
    expect(t.texts.filter((x) => /Completed/.test(x))).toHaveLength(1);
    const order = (re: RegExp) => t.texts.findIndex((x) => re.test(x));
    expect(order(/0 % → \*50 %\*/)).toBeLessThan(order(/Approval needed/));
    expect(order(/Approval needed/)).toBeLessThan(order(/promoted the migration/));
    expect(order(/promoted the migration/)).toBeLessThan(order(/50 % → \*100 %\*/));
    expect(order(/50 % → \*100 %\*/)).toBeLessThan(order(/Completed/));
    const last = t.parentUpdates.at(-1)!;
    expect(textOf(last)).toMatch(/completed/);
    expect(textOf(last)).toContain('*100 %*');
    expect(t.parentUpdates.some((c) => /waiting for approval/.test(textOf(c)))).toBe(true);
    expect(new Set(t.texts).size + verdicts.length - new Set(verdicts).size).toBe(t.texts.length);
  });

  it('regression: the thread shows the failing verdict with its numbers and the rollback with its reason', async () => {
    const { fake, srv, id } = await setup('bad', { errorRate: 0.4 });
    const done = await waitPhase(srv, id, ['completed', 'rolledBack', 'aborted', 'failed']);
    expect(done.phase).toBe('rolledBack');
    await until(
      'the rolled-back reply',
      () => thread(fake).texts.some((t) => /Rolled back/.test(t)) || undefined,
    );
    await until(
      'the parent edit',
      () => thread(fake).parentUpdates.some((c) => /rolled back/.test(textOf(c))) || undefined,
    );
    const t = thread(fake);
    const fail = t.texts.find((x) => x.startsWith('*Verdict*') && /fail/.test(x));
    expect(fail).toMatch(/`error-rate` :red_circle: \d+\.\d+ % \(limit 5\.00 %\)/);
    expect(fail).toMatch(/Kubernetes \d+ req \/ \d+ err/);
    expect(t.texts.find((x) => /Rolling back/.test(x))).toMatch(/error/i);
    expect(t.texts.find((x) => /\*Rollback\*/.test(x))).toMatch(/50 % → 0 %/);
    expect(t.texts.find((x) => /Rolled back/.test(x))).toContain(
      done.reason!.slice(0, 30).replace(/&/g, '&amp;'),
    );
    expect(t.texts.some((x) => /Completed/.test(x))).toBe(false);
    expect(textOf(t.parentUpdates.at(-1)!)).toMatch(/rolled back · \*0 %\*/);
  });

  it('an Abort click at the approval gate aborts; the notifier resumes from its Redis cursor after a restart', async () => {
    const { fake, srv, id } = await setup('abort');
    await waitPhase(srv, id, ['awaitingApproval']);
    const msg = await until('the approval buttons', () => buttonsMessage(fake));
    // Restart the notifier: it must not re-post what is already in the thread.
    await srv.slack.notifier!.stop();
    const before = fake.byMethod('chat.postMessage').length;
    srv.slack.notifier!.start();
    const r = await post(
      srv.base,
      signed(
        buttonBody({
          user: 'UALICE',
          actionId: 'meshshift:abort',
          value: id,
          messageTs: msg.ts!,
          blocks: msg.args.blocks,
          fake,
        }),
      ),
    );
    expect(r.status).toBe(200);
    const done = await waitPhase(srv, id, ['aborted', 'rolledBack', 'completed', 'failed']);
    expect(done.phase).toBe('aborted');
    await until('the aborted reply', () => thread(fake).texts.some((t) => /Aborted/.test(t)) || undefined);
    const t = thread(fake);
    expect(t.texts.filter((x) => /Approval needed/.test(x))).toHaveLength(1);
    expect(fake.byMethod('chat.postMessage').length).toBeGreaterThan(before);
    expect(t.texts.find((x) => /<@UALICE> aborted the migration/.test(x))).toBeDefined();
    const upd = await until('the buttons update', () =>
      fake.byMethod('chat.update').find((c) => c.args.ts === msg.ts),
    );
    expect(textOf(upd)).toMatch(/<@UALICE> aborted/);
  });
});
