/**
 * Launcher for a REAL Prometheus server (Debian's `prometheus` package) on a
 * free loopback port, scraping targets discovered through file_sd JSON files.
 *
 * Used by vitest's global setup and by the demo at runtime: it must not
 * import vitest.
 */
import type { ChildProcess } from 'node:child_process';
import { openSync, closeSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { findTool, installHint, requireTool, spawnTool } from './tools.js';
import { registerScrapeTarget, removeScrapeTarget } from './prometheus-targets.js';

export const PROMETHEUS_INSTALL_HINT = installHint('prometheus');

/** PROMETHEUS_BIN, else `prometheus` on PATH. Throws an Error naming the install command. */
export function findPrometheusBinary(): string {
  return requireTool('prometheus');
}

export { registerScrapeTarget };

export interface PrometheusServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** directory of file_sd JSON files (`<sdDir>/*.json`) */
  readonly sdDir: string;
  addTarget(id: string, target: string, labels?: Record<string, string>): Promise<void>;
  removeTarget(id: string): Promise<void>;
  stop(): Promise<void>;
  /** restart after stop on the same port and data dir */
  start(): Promise<void>;
  waitForSeries(promql: string, timeoutMs: number): Promise<void>;
  /** instant query helper: the raw `data.result` vector / matrix */
  query(promql: string): Promise<PromVectorSample[]>;
  /** stop + remove temp dir */
  close(): Promise<void>;
}

export interface PromVectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface StartPrometheusOptions {
  /** default 1 */
  scrapeIntervalSeconds?: number;
  /** default `<tempdir>/sd` */
  sdDir?: string;
  /** default: a free loopback port */
  port?: number;
  /** default 20000 */
  readyTimeoutMs?: number;
}

// --- make sure children die with us ------------------------------------------

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

function killAllChildren(): void {
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const d of liveDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveDirs.clear();
}

/**
 * Children are killed on a normal exit of this process ('exit' hook). Deaths by signal are covered by
 * `setpriv --pdeathsig KILL` (the kernel kills Prometheus when its parent dies, even by SIGKILL). We
 * do not install signal handlers: they would change how the host process (vitest, tsx, the demo)
 * reacts to SIGINT/SIGTERM.
 */
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllChildren);
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    const txt = await readFile(file, 'utf8');
    return txt.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function fetchWithTimeout(url: string, timeoutMs: number, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

class AddressInUseError extends Error {}

interface PrometheusFiles {
  /** the temp dir holding everything below (removed by close()) */
  dir: string;
  dataDir: string;
  sdDir: string;
  configFile: string;
  logFile: string;
}

/** A temp dir with the data dir, the file_sd dir (unless given) and a config scraping `<sdDir>/*.json`. */
async function prepareFiles(opts: StartPrometheusOptions): Promise<PrometheusFiles> {
  const interval = opts.scrapeIntervalSeconds ?? 1;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshshift-prom-'));
  liveDirs.add(dir);
  const files = {
    dir,
    dataDir: path.join(dir, 'data'),
    sdDir: opts.sdDir ?? path.join(dir, 'sd'),
    configFile: path.join(dir, 'prometheus.yml'),
    logFile: path.join(dir, 'prometheus.log'),
  };
  await mkdir(files.dataDir, { recursive: true });
  await mkdir(files.sdDir, { recursive: true });
  await writeFile(
    files.configFile,
    [
      'global:',
      `  scrape_interval: ${interval}s`,
      `  scrape_timeout: ${interval}s`,
      `  evaluation_interval: ${interval}s`,
      'scrape_configs:',
      '  - job_name: mesh',
      '    file_sd_configs:',
      `      - files: [${JSON.stringify(path.join(files.sdDir, '*.json'))}]`,
      '        refresh_interval: 1s',
      '',
    ].join('\n'),
  );
  return files;
}

/** How a spawned Prometheus ended before it was ready, if it did (filled in by its event handlers). */
interface ChildEnd {
  exited?: { code: number | null; signal: NodeJS.Signals | null };
  spawnError?: Error;
}

/**
 * Spawns Prometheus on 127.0.0.1:`port`, its output appended to the log file. With `setpriv` (util-linux) it runs
 * under `--pdeathsig KILL`, so the kernel kills it even if this process dies by SIGKILL.
 */
function spawnPrometheus(
  bin: string,
  files: PrometheusFiles,
  port: number,
  setpriv: boolean,
): { child: ChildProcess; end: ChildEnd } {
  const args = [
    `--config.file=${files.configFile}`,
    `--storage.tsdb.path=${files.dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--web.enable-lifecycle',
    '--web.enable-admin-api',
    '--log.level=warn',
    '--storage.tsdb.retention.time=1d',
  ];
  const fd = openSync(files.logFile, 'a');
  let child: ChildProcess;
  try {
    child = setpriv
      ? spawnTool('setpriv', ['--pdeathsig', 'KILL', '--', bin, ...args], { stdio: ['ignore', fd, fd] })
      : spawnTool('prometheus', args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  liveChildren.add(child);
  const end: ChildEnd = {};
  child.once('error', (err) => {
    end.spawnError = err;
  });
  child.once('exit', (code, signal) => {
    end.exited = { code, signal };
    liveChildren.delete(child);
  });
  return { child, end };
}

/**
 * Resolves once `/-/ready` answers 200. Throws AddressInUseError if it exited because the port was taken, and
 * an Error with the log's tail if it exited otherwise or was not ready in time (then it is killed).
 */
async function waitUntilReady(
  child: ChildProcess,
  end: ChildEnd,
  url: string,
  logFile: string,
  readyTimeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (end.spawnError !== undefined) throw end.spawnError;
    if (end.exited !== undefined) {
      const log = await tail(logFile);
      if (/address already in use/i.test(log.split('\n').slice(-5).join('\n'))) {
        throw new AddressInUseError(`port ${new URL(url).port} in use`);
      }
      throw new Error(
        `prometheus exited before becoming ready (code ${end.exited.code}, signal ${end.exited.signal}). Log tail:\n${log}`,
      );
    }
    try {
      const res = await fetchWithTimeout(`${url}/-/ready`, 1000);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await killChild(child);
      throw new Error(
        `prometheus not ready after ${readyTimeoutMs} ms on ${url}. Log tail:\n${await tail(logFile)}`,
      );
    }
    await sleep(25);
  }
}

/** SIGTERM (SIGKILL after 10 s); resolves once it has exited. */
async function killChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
  liveChildren.delete(c);
}

/** An instant query: the raw `data.result` vector (a scalar becomes one sample without labels). */
async function queryPrometheus(baseUrl: string, promql: string): Promise<PromVectorSample[]> {
  const u = new URL(`${baseUrl}/api/v1/query`);
  u.searchParams.set('query', promql);
  const res = await fetchWithTimeout(u.toString(), 5000);
  const body = (await res.json()) as {
    status?: string;
    error?: string;
    data?: { resultType?: string; result?: unknown };
  };
  if (res.status !== 200 || body.status !== 'success') {
    throw new Error(`prometheus query failed (${res.status}): ${body.error ?? JSON.stringify(body)}`);
  }
  const result = body.data?.result;
  if (body.data?.resultType === 'scalar' && Array.isArray(result)) {
    return [{ metric: {}, value: result as [number, string] }];
  }
  return Array.isArray(result) ? (result as PromVectorSample[]) : [];
}

/** Asks `query` every 200 ms until it returns a sample; throws with the last answer after `timeoutMs`. */
async function waitForSeries(
  query: (promql: string) => Promise<PromVectorSample[]>,
  promql: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const r = await query(promql);
      if (r.length > 0) return;
      last = 'empty result';
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`waitForSeries: no result for ${promql} within ${timeoutMs} ms (${last})`);
    }
    await sleep(200);
  }
}

export async function startPrometheus(opts: StartPrometheusOptions = {}): Promise<PrometheusServer> {
  const bin = findPrometheusBinary();
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  const files = await prepareFiles(opts);
  const { dir, dataDir, sdDir } = files;
  installExitHooks();
  // `setpriv --pdeathsig KILL` makes the kernel kill Prometheus even if we die by SIGKILL.
  const setpriv = findTool('setpriv') !== undefined;

  let port = opts.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let started = false;
  const baseUrl = (): string => `http://127.0.0.1:${port}`;

  /** Spawns it until it is ready; on the first start, a port taken meanwhile is replaced (up to 5 times). */
  const start = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const spawned = spawnPrometheus(bin, files, port, setpriv);
      child = spawned.child;
      try {
        await waitUntilReady(spawned.child, spawned.end, baseUrl(), files.logFile, readyTimeoutMs);
        return;
      } catch (err) {
        if (err instanceof AddressInUseError && opts.port === undefined && attempt < 5 && !started) {
          port = await freePort();
          continue;
        }
        throw err;
      }
    }
  };

  try {
    await start();
  } catch (err) {
    liveDirs.delete(dir);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  started = true;

  const query = (promql: string): Promise<PromVectorSample[]> => queryPrometheus(baseUrl(), promql);
  let closedDir = false;
  const server: PrometheusServer = {
    get url() {
      return baseUrl();
    },
    get port() {
      return port;
    },
    dataDir,
    sdDir,
    async addTarget(id, target, labels = {}) {
      await registerScrapeTarget(sdDir, id, target, labels);
    },
    removeTarget: (id) => removeScrapeTarget(sdDir, id),
    async stop() {
      if (child !== undefined) await killChild(child);
      child = undefined;
    },
    async start() {
      if (closedDir) throw new Error('prometheus server was closed');
      if (child !== undefined && child.exitCode === null && child.signalCode === null) return;
      await start();
    },
    waitForSeries: (promql, timeoutMs) => waitForSeries(query, promql, timeoutMs),
    query,
    async close() {
      await server.stop();
      if (!closedDir) {
        closedDir = true;
        liveDirs.delete(dir);
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
  return server;
}
