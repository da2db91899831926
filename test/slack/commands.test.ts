/**
 * The Slack endpoint over loopback HTTP with real Redis: signature checks, replays and retries, the slash
 * command's answers, and authorization. No worker runs, so queued commands stay in the migration's inbox
 * where the test can see them (nothing else changes state).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSlackPolicy } from '../../src/slack/auth.js';
import { parseCommand } from '../../src/slack/commands.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import {
  PLAN,
  post,
  signed,
  slashBody,
  startFakeSlack,
  startSlackServer,
  until,
  type FakeSlack,
  type SlackServer,
} from './helpers.js';

const POLICY = parseSlackPolicy(`
rules:
  - namespaces: [payments]
    actions: [promote, pause, resume, abort]
    users: [UALICE]
    groups: [SRELEASE]
  - namespaces: ["*"]
    actions: [pause]
    users: [UBOB]
`);

let redis: RedisServer;
let fake: FakeSlack;
let srv: SlackServer;

beforeAll(async () => {
  redis = await startRedis();
  fake = await startFakeSlack();
  fake.groups.SRELEASE = ['UCAROL'];
  srv = await startSlackServer({
    redisUrl: redis.url,
    prefix: 'sc',
    fake,
    slack: { policy: POLICY, notifier: false },
  });
});
afterAll(async () => {
  await srv?.close();
  await fake?.close();
  await redis?.close();
});

async function submit(): Promise<string> {
  return (await srv.service.submit(PLAN, 'alice')).id;
}
const inbox = (id: string) => srv.store.inbox(id);
const ephemeral = (r: { json?: Record<string, unknown> }) => {
  expect(r.json?.response_type).toBe('ephemeral');
  return String(r.json?.text ?? '');
};

describe('request verification', () => {
  it('a correctly signed command acts; wrong signature, stale timestamp, changed body and replay get 401 and change nothing', async () => {
    const id = await submit();
    const body = slashBody('UALICE', `abort ${id} bad canary`);

    const wrong = await post(srv.base, signed(body, { secret: 'not-the-secret' }));
    expect(wrong.status).toBe(401);
    const stale = await post(
      srv.base,
      signed(body, { timestamp: Math.floor(Date.now() / 1000) - 5 * 60 - 5 }),
    );
    expect(stale.status).toBe(401);
    expect(stale.json?.message).toMatch(/stale/);
    const good = signed(body);
    const tampered = await post(srv.base, { ...good, body: good.body.replace('UALICE', 'UMALLORY') });
    expect(tampered.status).toBe(401);
    expect(tampered.json?.message).toMatch(/signature mismatch/);
    const unsigned = await fetch(`${srv.base}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(unsigned.status).toBe(401);
    expect(await inbox(id)).toEqual([]);

    const ok = await post(srv.base, good);
    expect(ok.status).toBe(200);
    expect(ephemeral(ok)).toMatch(/abort queued/);
    expect(await inbox(id)).toMatchObject([{ type: 'ABORT', by: 'slack:UALICE', reason: 'bad canary' }]);

    // The same signed request again: a replay.
    const replay = await post(srv.base, good);
    expect(replay.status).toBe(401);
    expect(replay.json?.message).toMatch(/replayed/);
    expect(await inbox(id)).toHaveLength(1);
  });

  it("Slack's retries (X-Slack-Retry-Num, same trigger_id) are acknowledged but never applied twice", async () => {
    const id = await submit();
    const body = slashBody('UALICE', `abort ${id}`, fake, 'trig.retry.1');
    const first = await post(srv.base, signed(body));
    expect(first.status).toBe(200);
    // A retry is signed again (new timestamp) and carries the retry headers.
    const retry = await post(
      srv.base,
      signed(body, { timestamp: Math.floor(Date.now() / 1000) + 1, retryNum: 1 }),
    );
    expect(retry.status).toBe(200);
    expect(retry.text).toBe('');
    // The very same bytes re-sent as a retry: acknowledged, not applied.
    const again = await post(srv.base, {
      ...signed(body),
      headers: { ...signed(body).headers, 'x-slack-retry-num': '2' },
    });
    expect(again.status).toBe(200);
    expect(await inbox(id)).toHaveLength(1);
  });
});

describe('slash command', () => {
  it('list and status answer ephemerally within the ack', async () => {
    const id = await submit();
    const list = await post(srv.base, signed(slashBody('UZED', 'list')));
    expect(list.status).toBe(200);
    expect(ephemeral(list)).toContain(id);
    const status = ephemeral(await post(srv.base, signed(slashBody('UZED', `status ${id}`))));
    expect(status).toContain('payments');
    expect(status).toMatch(/pending/);
    expect(status).toMatch(/possible now: abort/);
  });

  it('bad syntax, unknown ids and commands that make no sense now say what is possible', async () => {
    const id = await submit();
    const help = ephemeral(await post(srv.base, signed(slashBody('UALICE', 'frobnicate x'))));
    expect(help).toMatch(/Unknown command `frobnicate`/);
    expect(help).toMatch(/\/meshshift list/);
    expect(ephemeral(await post(srv.base, signed(slashBody('UALICE', 'promote'))))).toMatch(
      /needs a migration id/,
    );
    expect(ephemeral(await post(srv.base, signed(slashBody('UALICE', 'promote nope-000000'))))).toMatch(
      /No migration with id `nope-000000`/,
    );
    const refused = ephemeral(await post(srv.base, signed(slashBody('UALICE', `promote ${id}`))));
    expect(refused).toMatch(/PROMOTE is not possible while pending/);
    expect(refused).toMatch(/possible now: abort/);
    expect(await inbox(id)).toEqual([]);
  });

  it('unauthorized users get an ephemeral refusal and nothing changes; group members and per-action rules work', async () => {
    const id = await submit();
    const refused = ephemeral(await post(srv.base, signed(slashBody('UMALLORY', `abort ${id}`))));
    expect(refused).toMatch(/not allowed to abort migrations in namespace `payments`/);
    expect(refused).toMatch(/Nothing was changed/);
    // Bob may pause anywhere but not abort.
    expect(ephemeral(await post(srv.base, signed(slashBody('UBOB', `abort ${id}`))))).toMatch(/not allowed/);
    expect(await inbox(id)).toEqual([]);
    // Carol is in the SRELEASE user group (usergroups.users.list on the fake API).
    const carol = ephemeral(await post(srv.base, signed(slashBody('UCAROL', `abort ${id} rollback drill`))));
    expect(carol).toMatch(/abort queued/);
    expect(fake.byMethod('usergroups.users.list').some((c) => c.args.usergroup === 'SRELEASE')).toBe(true);
    expect(await inbox(id)).toMatchObject([{ type: 'ABORT', by: 'slack:UCAROL', reason: 'rollback drill' }]);
  });

  it('slow work is acknowledged at once and answered later through response_url', async () => {
    const slow = await startSlackServer({
      redisUrl: redis.url,
      prefix: 'sc',
      fake,
      slack: { policy: POLICY, notifier: false, ackBudgetMs: 0 },
    });
    try {
      const id = await submit();
      const t0 = Date.now();
      const r = await post(slow.base, signed(slashBody('UALICE', `status ${id}`, fake)));
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(String(r.json?.text)).toMatch(/working on it/);
      const late = await until('the late answer', () =>
        fake.responses.find((x) => String(x.text).includes(id)),
      );
      expect(late).toMatchObject({ response_type: 'ephemeral', replace_original: true });
    } finally {
      await slow.close();
    }
  });
});

describe('parsing', () => {
  it('parses the grammar strictly', () => {
    expect(parseCommand('abort m-1 it is broken')).toEqual({
      kind: 'act',
      action: 'abort',
      id: 'm-1',
      reason: 'it is broken',
    });
    expect(parseCommand('PROMOTE m-1')).toEqual({ kind: 'act', action: 'promote', id: 'm-1' });
    expect(parseCommand('promote m-1 now')).toMatchObject({ kind: 'help' });
    expect(parseCommand('status')).toMatchObject({ kind: 'help' });
    expect(parseCommand('')).toEqual({ kind: 'help' });
    expect(() => parseSlackPolicy('rules: [{namespaces: [a], actions: [deploy], users: [U1]}]')).toThrow(
      /actions/,
    );
  });
});
