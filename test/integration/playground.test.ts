/**
 * `meshshift playground` as a user runs it: the built binary, then EVERY command it prints, as printed (its
 * `export` line as the environment, `meshshift` as this Node running bin/meshshift.js, the real kubectl), the
 * one-time dashboard login and an Abort in Debian's Chromium, then Ctrl-C stops everything.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnTool } from '../../src/sim/tools.js';
import { sharedBrowser } from '../web/browser.js';

const BIN = path.resolve('bin/meshshift.js');
const children: ChildProcess[] = [];
const browser = sharedBrowser();

afterAll(async () => {
  await browser.close();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Words of one printed command line as a shell splits them: whitespace apart, single quotes removed. */
export function words(line: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quoted = false;
  for (const ch of line) {
    if (ch === "'") quoted = !quoted;
    else if (!quoted && /\s/.test(ch)) {
      if (word !== undefined) out.push(word);
      word = undefined;
      continue;
    } else word = (word ?? '') + ch;
    word ??= '';
  }
  if (word !== undefined) out.push(word);
  return out;
}

interface Guide {
  loginUrl: string;
  env: Record<string, string>;
  commands: string[];
  ports: number[];
}

function parseGuide(out: string): Guide {
  const lines = out.split('\n');
  const loginUrl = lines[lines.findIndex((l) => l.startsWith('Dashboard')) + 1]!.trim();
  const exportLine = lines.find((l) => l.trim().startsWith('export '))!.trim();
  const env = Object.fromEntries(
    words(exportLine)
      .slice(1)
      .map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
  );
  const commands = lines.filter((l) => /^ {2}(meshshift|kubectl) /.test(l)).map((l) => l.trim());
  const ports = [...out.matchAll(/(?:http|redis):\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  return { loginUrl, env, commands, ports: [...new Set(ports)] };
}

interface Run {
  code: number | null;
  out: string;
  child: ChildProcess;
  done: Promise<Run>;
}

/** Starts one printed command: `meshshift` is bin/meshshift.js under this Node, `kubectl` the listed kubectl. */
function start(line: string, env: Record<string, string>): Run {
  const [prog, ...args] = words(line);
  const opts: SpawnOptions = {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  };
  const child =
    prog === 'meshshift' ? spawn(process.execPath, [BIN, ...args], opts) : spawnTool('kubectl', args, opts);
  children.push(child);
  const run = { code: null, out: '', child } as unknown as Run;
  child.stdout!.on('data', (d: Buffer) => (run.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (run.out += d.toString()));
  run.done = new Promise((resolve) => child.on('close', (code) => resolve(Object.assign(run, { code }))));
  return run;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/** The printed commands, run as printed; remembers which ones ran. */
function runner(g: Guide) {
  const ran: string[] = [];
  const cmd = (prefix: string) => {
    const line = g.commands.find((c) => c.startsWith(prefix))!;
    expect(line, prefix).toBeDefined();
    ran.push(line);
    return line;
  };
  const exec = async (prefix: string) => {
    const r = await start(cmd(prefix), g.env).done;
    expect(r.code, r.out).toBe(0);
    return r.out;
  };
  return { ran, cmd, exec, background: (prefix: string) => start(cmd(prefix), g.env) };
}
type Runner = ReturnType<typeof runner>;

/** 1 and 2: submit and follow; the bad build rolls it back (`submit -w` exits 2); the weights; heal. */
async function submitThenBreak(r: Runner, pg: Run): Promise<void> {
  const submit = r.background('meshshift submit');
  await until(
    'the first step',
    async () => /"type":"weight","at":\d+,"weight":1,/.test(submit.out) || undefined,
    30_000,
    () => `submit: ${submit.out}\nplayground: ${pg.out}`,
  );
  const listed = JSON.parse(await r.exec('meshshift list')) as Array<{ name: string; phase: string }>;
  expect(listed.map((m) => [m.name, m.phase])).toEqual([['productcatalogservice-to-k8s', 'shifting']]);
  await r.exec(
    'kubectl annotate deployment productcatalogservice -n shop playground.meshshift.io/error-rate=',
  );
  const followed = await submit.done;
  expect(followed.code, followed.out).toBe(2);
  expect(followed.out).toMatch(/"phase":"rolledBack"/);
  expect(await r.exec('kubectl get virtualservice')).toBe('100 0');
  await r.exec(
    'kubectl annotate deployment productcatalogservice -n shop playground.meshshift.io/error-rate-',
  );
  expect(pg.out).toMatch(/⚡ fault: the containers now fail 30\.0 % of requests/);
  await until('healed', async () => /✔ healed/.test(pg.out) || undefined, 5000);
}

/** 3: kubectl apply, and `kubectl get mp -w` shows the controller running it with the CRD's columns. */
async function gitops(r: Runner): Promise<void> {
  expect(await r.exec('kubectl apply -f')).toBe(
    'migrationplan.meshshift.io/productcatalogservice-gitops created\n',
  );
  const watch = r.background('kubectl get mp -n shop -w');
  await until(
    'the MigrationPlan shifting',
    async () => /gitops\s+shifting/.test(watch.out) || undefined,
    30_000,
  );
  expect(watch.out).toMatch(/^NAME\s+PHASE\s+WEIGHT\s+STEP\s+LAST VERDICT\s+AGE/);
  watch.child.kill('SIGINT');
}

/** 4: the one-time login signs Chromium in; Abort from the dashboard; kubectl sees it. */
async function abortInDashboard(r: Runner, g: Guide): Promise<void> {
  const page = await (await browser.get()).newPage();
  await page.goto(g.loginUrl);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await page.getByRole('link', { name: 'productcatalogservice-gitops' }).click();
  await page.getByRole('button', { name: 'Abort…' }).click();
  await page.getByLabel(/Reason for aborting/).fill('trying the playground');
  await page.getByRole('button', { name: 'Confirm abort' }).click();
  const phase = () => page.getByTestId('phase').textContent();
  await until('aborted in the page', async () => (await phase()) === 'aborted' || undefined, 20_000);
  expect((await fetch(g.loginUrl, { redirect: 'manual' })).status).toBe(401); // used once
  expect(await r.exec('kubectl get mp productcatalogservice-gitops')).toMatch(
    /gitops\s+aborted\s+0\s+\d\/6 /,
  );
  const described = await r.exec('kubectl describe mp productcatalogservice-gitops');
  expect(described).toMatch(/CommandAccepted\s.*ABORT by web:playground/);
  expect(described).toMatch(/Warning\s+Aborted\s.*aborted: trying the playground/);
}

describe('meshshift playground', () => {
  it('prints a dashboard login and commands that all work, as printed; Ctrl-C stops everything', async () => {
    const t0 = Date.now();
    const mark = (what: string) =>
      console.log(`[figures] playground: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    void browser.get().catch(() => undefined); // launched while the playground starts; awaited below
    // A shorter time scale than the default ×0.05 keeps this test's wall time small; the commands are the same.
    const pg = start('meshshift playground --time-scale 0.03', {});
    const printed = await until(
      'the guide',
      async () => (/^ {2}\(files: /m.test(pg.out) ? pg.out : pg.code !== null ? pg.out : undefined),
      45_000,
    );
    expect(pg.code, printed).toBeNull();
    const g = parseGuide(printed);
    mark(`guide printed:\n${printed}\n`);
    const r = runner(g);
    await submitThenBreak(r, pg);
    mark('rolled back');
    await gitops(r);
    mark('MigrationPlan shifting');
    await abortInDashboard(r, g);
    mark('aborted from the dashboard');
    expect(r.ran.sort()).toEqual([...g.commands].sort()); // every printed command was run

    // Ctrl-C: everything it started stops.
    pg.child.kill('SIGINT');
    const stopped = await pg.done;
    expect(stopped.code, stopped.out).toBe(0);
    expect(stopped.out).toMatch(/\nstopped\n$/);
    expect(g.ports.length).toBeGreaterThanOrEqual(4); // Kubernetes API, Prometheus, Redis, serve
    for (const p of g.ports) expect(await listening(p), `port ${p}`).toBe(false);
    mark("stopped (the test's wall time)");
  });
});
