/**
 * `meshshift playground` (also `meshshift demo --serve`): the demo's simulated cluster and mesh, Prometheus and
 * Redis, and `meshshift serve --role all` (API, workers, MigrationPlan controller, dashboard) in this process,
 * running until Ctrl-C. It prints where everything is, a one-time dashboard login and commands to try (guide.ts);
 * a Deployment annotation injects a fault (fault.ts). Nothing here drives a migration: `serve` does, as in
 * production.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { parse, stringify } from 'yaml';
import { startService, type RunningService, type ServeOptions } from '../../serve/start.js';
import { bold, dim, green, red } from '../../term/style.js';
import { createLogger } from '../../log/logger.js';
import { OneTimeLogins } from '../../web/one-time-login.js';
import { startMetrics } from '../demo/run.js';
import type { PrometheusServer } from '../prometheus.js';
import { startRedis, type RedisServer } from '../redis.js';
import { startScenario, type Scenario } from '../scenario.js';
import { startFaultSwitch } from './fault.js';
import { guideLines, type GuideInput } from './guide.js';

export interface PlaygroundOptions {
  /** Policy time compression for new migrations (default 0.05, as the demo; 1 = real durations). */
  timeScale?: number;
  /** Port of `serve` (default 0: any free one). */
  port?: number;
  rps?: number;
  prometheusBin?: string;
  /** Resolves when the playground should stop (default: SIGINT or SIGTERM). */
  until?: Promise<unknown>;
}

const say = (s: string) => process.stdout.write(`${s}\n`);
const LOGIN_TTL_MIN = 15;
const USER = 'playground';
const CR_NAME = 'productcatalogservice-gitops';

interface Parts {
  prom?: PrometheusServer;
  redis?: RedisServer;
  scenario?: Scenario;
  svc?: RunningService;
  stopFaults?: () => void;
}

/** The plan, the same plan as a MigrationPlan object, the API token and the tokens file, in `dir`. */
function writeFiles(
  dir: string,
  s: Scenario,
): { planFile: string; crFile: string; tokenFile: string; tokensFile: string } {
  const token = randomBytes(24).toString('hex');
  const tokenFile = path.join(dir, 'token');
  const tokensFile = path.join(dir, 'tokens');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  writeFileSync(tokensFile, `${USER}:${token}\n`, { mode: 0o600 });
  const planFile = path.join(dir, 'plan.yaml');
  writeFileSync(planFile, s.planYaml);
  const doc = parse(s.planYaml) as { spec: Record<string, unknown> };
  const cr = {
    apiVersion: 'meshshift.io/v1alpha1',
    kind: 'MigrationPlan',
    metadata: { name: CR_NAME, namespace: s.fixture.namespace },
    spec: doc.spec,
  };
  const crFile = path.join(dir, 'migrationplan.yaml');
  writeFileSync(crFile, stringify(cr));
  return { planFile, crFile, tokenFile, tokensFile };
}

function serveOptions(
  p: { redis: string; tokensFile: string; kubeconfig: string; prometheus?: string },
  o: PlaygroundOptions,
): ServeOptions {
  return {
    role: 'all',
    redis: p.redis,
    prefix: 'playground',
    host: '127.0.0.1',
    port: o.port ?? 0,
    tokensFile: p.tokensFile,
    kubeconfig: p.kubeconfig,
    ...(p.prometheus ? { prometheus: p.prometheus } : {}),
    concurrency: 10,
    lockTtlMs: 10_000,
    maxPerNamespace: 0,
    maxConcurrent: 0,
    timeScale: o.timeScale ?? 0.05,
    tickAlignMs: 100,
    batchWindowMs: 20,
    reconcileEveryMs: 2000,
    controller: {
      namespaces: [],
      leaseNamespace: 'meshshift',
      leaseName: 'meshshift-controller',
      leaseDurationMs: 15_000,
      statusEveryMs: 500,
      resyncMs: 300_000,
    },
  };
}

/** How a user runs this meshshift: the entry script this process was started with, under this Node. */
function meshshiftCommand(): string {
  const script = process.argv[1] ?? 'bin/meshshift.js';
  return `${process.execPath} ${path.resolve(script)}`;
}

async function start(o: PlaygroundOptions, parts: Parts): Promise<GuideInput> {
  if (o.prometheusBin) process.env.PROMETHEUS_BIN = o.prometheusBin;
  const prom = (parts.prom = await startMetrics('meshshift playground'));
  const metrics = prom ? { prometheusUrl: prom.url, sdDir: prom.sdDir } : ('simulator' as const);
  const rps = o.rps ?? 600;
  // The mesh first: Prometheus discovers it while Redis and serve start.
  const s = (parts.scenario = await startScenario({ metrics, namespace: 'shop', policy: 'default', rps }));
  parts.redis = await startRedis({ persistent: false });
  s.kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'meshshift' } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshshift-playground-'));
  const kubeconfig = s.kube.writeKubeconfig(dir);
  const files = writeFiles(dir, s);
  const logFile = path.join(dir, 'serve.log');
  const logger = createLogger({
    level: 'info',
    destination: pino.destination({ dest: logFile, sync: false }),
  });
  const logins = new OneTimeLogins(LOGIN_TTL_MIN * 60_000);
  parts.svc = await startService(
    serveOptions(
      {
        redis: parts.redis.url,
        tokensFile: files.tokensFile,
        kubeconfig,
        ...(prom ? { prometheus: prom.url } : {}),
      },
      o,
    ),
    { logger, web: { oneTimeLogins: logins }, ...(prom ? {} : { metricsProvider: s.metrics }) },
  );
  const f = s.fixture;
  parts.stopFaults = startFaultSwitch({
    kube: s.kube,
    sim: s.sim,
    namespace: f.namespace,
    deployment: f.deployment,
    baseErrorRate: s.backends.find((b) => b.name === 'k8s')?.behavior?.errorRate ?? 0.001,
    onChange: (rate, fault) =>
      say(
        fault
          ? red(`⚡ fault: the containers now fail ${(rate * 100).toFixed(1)} % of requests`)
          : green(`✔ healed: the containers fail ${(rate * 100).toFixed(1)} % of requests again`),
      ),
  });
  await s.waitForTraffic(30_000);
  const serveUrl = parts.svc.url!;
  return {
    dir,
    kubeApiUrl: s.kube.url,
    kubeconfig,
    serveUrl,
    loginUrl: `${serveUrl}/ui/login/once?code=${logins.issue(USER)}`,
    loginTtlMin: LOGIN_TTL_MIN,
    prometheus: prom ? `${prom.url} (scrapes the mesh every 1 s)` : "not installed: the simulator's counters",
    redisUrl: parts.redis.url,
    namespace: f.namespace,
    service: f.service,
    serviceEntry: f.serviceEntry,
    deployment: f.deployment,
    virtualService: f.virtualService,
    rps,
    timeScale: o.timeScale ?? 0.05,
    ...files,
    planName: s.plan.name,
    crName: CR_NAME,
    logFile,
    meshshift: meshshiftCommand(),
  };
}

async function stop(parts: Parts): Promise<void> {
  parts.stopFaults?.();
  await parts.svc?.close().catch(() => undefined);
  await parts.scenario?.close().catch(() => undefined);
  await parts.redis?.close().catch(() => undefined);
  await parts.prom?.close().catch(() => undefined);
}

const signalled = () =>
  new Promise<NodeJS.Signals>((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.removeListener('SIGINT', on);
      process.removeListener('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });

/** Runs the playground until Ctrl-C (or `until`); 0 after a clean stop, 1 when it could not start. */
export async function runPlayground(o: PlaygroundOptions = {}): Promise<number> {
  const parts: Parts = {};
  const until = o.until ?? signalled();
  try {
    const guide = await start(o, parts);
    for (const line of guideLines(guide, { bold, dim })) say(line);
  } catch (err) {
    say(red(`meshshift playground: cannot start: ${(err as Error).message}`));
    await stop(parts);
    return 1;
  }
  await until;
  say(dim('stopping: serve, the mesh, the Kubernetes API server, Redis and Prometheus…'));
  await stop(parts);
  say('stopped');
  return 0;
}
