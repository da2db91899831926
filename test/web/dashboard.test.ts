/**
 * The dashboard in a real browser (Debian's Chromium via playwright-core) against a real `meshshift serve`
 * (API + workers, child process) with real Redis, real Prometheus and the simulated mesh on the Kubernetes API
 * test server. Screenshots go to test-results/ (docs/dashboard.png is refreshed with UPDATE_DOCS_SCREENSHOT=1).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';
import { FAST_CADENCE_FLAGS, startServeChild, type ServeChild } from '../harness/serve-child.js';
import { SERVICE_POLICY, TERMINAL, getMigration, http, waitFor } from '../service/helpers.js';
import { axe, sharedBrowser, signIn } from './browser.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const artifacts = path.join(root, 'test-results');
const OPERATOR = 'alice-web-token-0123456789abcdef';
const VIEWER = 'vera-web-token-0123456789abcdef';
const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });

let redis: RedisServer;
let s: Scenario;
let serve: ServeChild | undefined;
let base: string;
const browser = sharedBrowser();
const contexts: BrowserContext[] = [];
const urls: string[] = [];

async function newPage(token: string): Promise<Page> {
  const ctx = await (await browser.get()).newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('request', (r) => urls.push(r.url()));
  await signIn(page, base, token);
  return page;
}

const submit = async () => {
  const r = await http(base, 'POST', '/v1/migrations', { token: OPERATOR, body: s.planYaml });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json.id as string;
};
const streamMs = (id: string) => Number(id.split('-')[0]);

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  // Start the browser while the server starts; a launch failure surfaces in each test that needs it (a failure,
  // never a skip: a rejected beforeAll would leave the tests reported as skipped).
  void browser.get().catch(() => undefined);
  redis = await startRedis();
  s = await startScenario({ metrics: prom(), policy: `${SERVICE_POLICY}approvals:\n  - atWeight: 10\n` });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshshift-web-'));
  const kubeconfig = s.kube.writeKubeconfig(dir);
  const tokens = path.join(dir, 'tokens');
  writeFileSync(tokens, `alice:${OPERATOR} operator=${s.fixture.namespace}\nvera:${VIEWER} viewer=*\n`);
  serve = await startServeChild({
    cli: 'tsx',
    args: [
      '--role',
      'all',
      '--redis',
      redis.url,
      '--prefix',
      'web',
      '--kubeconfig',
      kubeconfig,
      '--prometheus',
      prom().prometheusUrl,
      '--tokens-file',
      tokens,
      '--time-scale',
      '0.05',
      ...FAST_CADENCE_FLAGS,
      '--log-level',
      'debug',
    ],
    startTimeoutMs: 30_000,
  });
  base = serve.url;
  await s.waitForTraffic();
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser.close();
  await serve?.stop();
  await s?.close();
  await redis?.close();
});

/** Three panels (weight, errors, latency) on one time axis: plot areas aligned, each y axis scaled to its data. */
async function checkPanels(page: Page): Promise<void> {
  const plot = page.locator('.plot');
  expect(await plot.getAttribute('data-unit')).toBe('s'); // a compressed run reads in seconds
  const panels = ['weight', 'errors', 'latency'];
  const boxes = await Promise.all(
    panels.map(async (p) => (await page.locator(`.panel[data-panel=${p}] .u-over`).boundingBox())!),
  );
  for (const b of boxes.slice(1)) {
    expect(Math.abs(b.x - boxes[0]!.x)).toBeLessThanOrEqual(1);
    expect(Math.abs(b.width - boxes[0]!.width)).toBeLessThanOrEqual(1);
  }
  expect(boxes[1]!.y).toBeGreaterThan(boxes[0]!.y + boxes[0]!.height);
  expect(boxes[2]!.y).toBeGreaterThan(boxes[1]!.y + boxes[1]!.height);
  const attr = async (p: string, a: string) =>
    Number(await page.locator(`.panel[data-panel=${p}]`).getAttribute(a));
  expect(await attr('weight', 'data-y-max')).toBe(5); // rolled back from 5 %: 0–5 %, not a line on the floor
  // Errors and latency: the axis ends just above the largest value (+10 %, then the next nice number).
  for (const p of ['errors', 'latency']) {
    const [max, yMax] = [await attr(p, 'data-max'), await attr(p, 'data-y-max')];
    expect(max, p).toBeGreaterThan(0);
    expect(yMax, p).toBeGreaterThanOrEqual(max);
    expect(yMax, p).toBeLessThanOrEqual(max * 1.1 * 1.34);
  }
  expect(await attr('errors', 'data-max')).toBeGreaterThanOrEqual(5); // the containers failed ~25 %
  expect(await page.locator('.plot canvas').count()).toBe(3);
}

describe('dashboard in a real browser', () => {
  it('the list updates live; Promote at the gate advances and Abort rolls back (Kubernetes weights); a viewer gets no buttons', async () => {
    const list = await newPage(OPERATOR);
    await list.getByText('live', { exact: true }).waitFor();
    // Record when the page shows each weight (the browser's clock; same machine as Redis).
    await list.evaluate(`
      window.seen = {};
      new MutationObserver(() => {
        for (const tr of document.querySelectorAll('tr[data-id]')) window.seen[tr.dataset.weight] ??= Date.now();
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    `);
    const id = await submit();
    const row = list.locator(`tr[data-id="${id}"]`);
    await row.waitFor(); // appeared without a reload
    const route = `VirtualService ${s.fixture.namespace}/${s.fixture.virtualService}`;
    expect(await row.locator('td.route').textContent()).toBe(route);
    await expect.poll(() => row.getAttribute('data-phase'), { timeout: 60_000 }).toBe('awaitingApproval');
    expect(await row.getAttribute('data-weight')).toBe('10');
    await list.screenshot({ path: path.join(artifacts, 'dashboard-list.png'), fullPage: true });

    // Commit → screen latency: the weight entries' Redis stream ids carry the commit time.
    const seen = await list.evaluate<Record<string, number>>('window.seen');
    const hist = (await getMigration(base, id)).history;
    const lat = hist.flatMap((e) => {
      const at = e.type === 'weight' ? seen[String(e.weight)] : undefined;
      return at !== undefined ? [at - streamMs(e.id)] : [];
    });
    expect(lat.length).toBeGreaterThanOrEqual(2);
    console.log(`[figures] commit→page latency (ms) for weights: ${lat.join(', ')}`);
    for (const l of lat) expect(l).toBeLessThan(3000);

    // Operator: Promote at the gate.
    const op = await newPage(OPERATOR);
    await op.goto(`${base}/ui/#/m/${id}`);
    const viewer = await newPage(VIEWER);
    await viewer.goto(`${base}/ui/#/m/${id}`);
    await op.getByRole('button', { name: 'Abort…' }).waitFor();
    expect(await op.getByTestId('route').textContent()).toBe(route);
    await viewer.getByTestId('phase').waitFor();
    expect(await viewer.getByRole('button', { name: /Promote|Pause|Resume|Abort/ }).count()).toBe(0);
    // Forged requests while PROMOTE is possible: a viewer's own session and CSRF token, an operator's cookie
    // without the CSRF header, and one from another origin. All refused; nothing moves.
    const viewerPost = await viewer.evaluate(async (mid) => {
      const me = (await (await fetch('/ui/api/me')).json()) as { csrf: string };
      const r = await fetch(`/ui/api/migrations/${mid}/promote`, {
        method: 'POST',
        headers: { 'x-csrf-token': me.csrf, 'content-type': 'application/json' },
        body: '{}',
      });
      return r.status;
    }, id);
    expect(viewerPost).toBe(403);
    const noCsrf = await op.evaluate(
      async (mid) =>
        (await fetch(`/ui/api/migrations/${mid}/promote`, { method: 'POST', body: '{}' })).status,
      id,
    );
    expect(noCsrf).toBe(403);
    const cookie = (await op.context().cookies()).find((c) => c.name === 'meshshift_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
    const csrf = await op.evaluate(
      async () => ((await (await fetch('/ui/api/me')).json()) as { csrf: string }).csrf,
    );
    const crossSite = await fetch(`${base}/ui/api/migrations/${id}/promote`, {
      method: 'POST',
      headers: {
        cookie: `meshshift_session=${cookie.value}`,
        'x-csrf-token': csrf,
        origin: 'http://evil.example',
      },
      body: '{}',
    });
    expect(crossSite.status).toBe(403);
    expect((await getMigration(base, id)).migration.phase).toBe('awaitingApproval');
    expect(s.weightWrites()).not.toContain(25);

    await op.getByRole('button', { name: 'Promote' }).click();
    await expect.poll(() => s.weightWrites(), { timeout: 30_000 }).toContain(25);

    // Abort asks for a reason, then rolls back to the VMs.
    await op.getByRole('button', { name: 'Abort…' }).click();
    await op.getByLabel(/Reason for aborting/).fill('pager went off');
    await op.getByRole('button', { name: 'Confirm abort' }).click();
    const done = await waitFor(base, id, (m) => TERMINAL.includes(m.migration.phase), 60_000);
    expect(done.migration.phase).toBe('aborted');
    expect(s.weightWrites().at(-1)).toBe(0);
    expect(s.sim.currentWeights()).toMatchObject({ k8s: 0 });
    await expect.poll(() => op.getByTestId('phase').textContent()).toBe('aborted');
    const cmds = done.history.filter((e) => e.type === 'command').map((e) => [e.command, e.by, e.reason]);
    expect(cmds).toEqual([
      ['PROMOTE', 'web:alice', undefined],
      ['ABORT', 'web:alice', 'pager went off'],
    ]);
    // The step it was aborted at, said so, in the list (live) and on the page.
    await expect.poll(() => row.locator('td').nth(5).textContent()).toBe('4/6 (aborted)');
    expect(await op.getByTestId('step').textContent()).toBe('step 4/6 (aborted)');
  });

  it('a regression: the chart has both sides, a fail marker and the rollback; screenshots; axe finds nothing critical', async () => {
    const id = await submit();
    await waitFor(base, id, (m) => m.migration.weight >= 5 || TERMINAL.includes(m.migration.phase), 60_000);
    s.sim.setBehavior('k8s', { errorRate: 0.25 });
    const page = await newPage(OPERATOR);
    await page.goto(`${base}/ui/#/m/${id}`);
    const done = await waitFor(base, id, (m) => TERMINAL.includes(m.migration.phase), 60_000);
    expect(done.migration.phase, done.migration.reason).toBe('rolledBack');
    expect(s.weightWrites().at(-1)).toBe(0);
    await expect.poll(() => page.getByTestId('phase').textContent(), { timeout: 30_000 }).toBe('rolledBack');
    const plot = page.locator('.plot');
    await expect
      .poll(async () => Number(await plot.getAttribute('data-rollback')), { timeout: 10_000 })
      .toBe(1);
    expect(Number(await plot.getAttribute('data-fail'))).toBeGreaterThanOrEqual(1);
    expect(Number(await plot.getAttribute('data-pass'))).toBeGreaterThanOrEqual(1);
    expect(Number(await plot.getAttribute('data-points-source'))).toBeGreaterThan(2);
    expect(Number(await plot.getAttribute('data-points-target'))).toBeGreaterThan(2);
    expect(await page.getByRole('button', { name: /Promote|Pause|Resume|Abort/ }).count()).toBe(0);
    // "2/6 (rolled back)", not "step –/6": the step it was rolled back from.
    expect(await page.getByTestId('step').textContent()).toBe('step 2/6 (rolled back)');
    await checkPanels(page);
    // Hovering the last marker (the rollback, near the right end of the time axis) shows its line.
    const box = (await page.locator('.panel[data-panel=weight] .u-over').boundingBox())!;
    const hovered = () => page.locator('.chart .hover').textContent();
    for (let x = box.x + box.width - 1; x > box.x + box.width * 0.85; x -= 3) {
      await page.mouse.move(x, box.y + box.height / 2);
      if (/^rollback/.test((await hovered()) ?? '')) break;
    }
    expect(await hovered()).toMatch(/^rollback: weight 5 → 0 %/);
    // Hovered values in every panel's legend: the time since the start, both sides' numbers with their units.
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    const legend = (panel: string, n: number) =>
      page
        .locator(`.panel[data-panel=${panel}] .u-legend .u-series`)
        .nth(n)
        .locator('.u-value')
        .textContent();
    await expect.poll(() => legend('weight', 0)).toMatch(/^\+\d+:\d\d$/);
    expect(await legend('weight', 1)).toMatch(/^(1|5) %$/);
    for (const n of [1, 2]) expect(await legend('errors', n)).toMatch(/^\d+(\.\d+)? %$/);
    // This policy judges p99 only (the window method queries the quantiles it checks): p50 has no values, and
    // the latency panel shows no empty p50 series.
    expect(await page.locator('.panel[data-panel=latency] h3').textContent()).toBe('Latency p99');
    expect(await page.locator('.panel[data-panel=latency] .u-legend .u-series').count()).toBe(3);
    for (const n of [1, 2]) expect(await legend('latency', n)).toMatch(/^\d+(\.\d+)? ms$/);
    await page.locator('.plot').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(artifacts, 'dashboard-rolled-back.png'), fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT)
      await page.screenshot({
        path: path.join(root, 'docs/dashboard.png'),
        clip: { x: 0, y: 0, width: 1280, height: 900 },
      });

    for (const p of [page, await newPage(OPERATOR)]) {
      const violations = await axe(p);
      if (violations.length) console.log(`[axe] ${JSON.stringify(violations.map((v) => [v.id, v.impact]))}`);
      expect(violations.filter((v) => v.impact === 'critical')).toEqual([]);
    }
  });

  it('serve said at start where the dashboard is', () => {
    expect(serve!.stderr()).toContain(
      `"msg":"dashboard at ${base}/ui/ (sign in with a token from --tokens-file)"`,
    );
  });

  it('no token in any page URL or in the server logs', () => {
    expect(urls.length).toBeGreaterThan(10);
    for (const u of urls) {
      expect(u).not.toContain(OPERATOR);
      expect(u).not.toContain(VIEWER);
    }
    const logs = serve!.stderr();
    expect(logs).toContain('dashboard sign-in');
    expect(logs).not.toContain(OPERATOR);
    expect(logs).not.toContain(VIEWER);
    expect(logs).not.toContain('meshshift_session=');
  });

  it('SIGTERM with live dashboard tabs open: the server ends the streams and exits', async () => {
    const page = await newPage(OPERATOR);
    await page.getByText('live', { exact: true }).waitFor();
    const { code, ms } = await serve!.stop();
    expect(code).toBe(0);
    console.log(`[figures] serve exit with an open dashboard stream: ${ms} ms`);
    expect(ms).toBeLessThan(10_000);
  });
});
