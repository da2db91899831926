/**
 * The `serve` command's flags and the API client commands. Kept apart from src/serve/start.ts so that `validate`
 * and `run` do not load fastify, BullMQ or Bolt at start-up.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { createLogger } from '../log/logger.js';
import { parseDuration } from '../plan/duration.js';
import { registerClientCommands } from './client.js';
import { addControllerOptions, controllerOptionsFrom, type ControllerFlags } from '../controller/flags.js';
import type { RunningService, ServeOptions } from '../serve/start.js';

const duration = (what: string) => (v: string) => {
  const ms = parseDuration(v);
  if (ms === undefined)
    throw new InvalidArgumentError(`${what}: expected a duration such as "30s" or "500ms"`);
  return ms;
};
/** A retention: whole days ("30d") or a duration ("12h"). */
const retention = (v: string) => {
  const days = /^\s*(\d+)d\s*$/.exec(v);
  const ms = days ? Number(days[1]) * 24 * 3600_000 : parseDuration(v);
  if (!ms) throw new InvalidArgumentError('--retention: expected e.g. "30d" or "12h" (more than zero)');
  return ms;
};
const integer = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number ≥ ${min}`);
  return n;
};
const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number, e.g. 0.05');
  return n;
};
const env = process.env;
/**
 * `--some-flag <duration>`, in milliseconds; it defaults to $MESHSHIFT_SOME_FLAG (named in the help), else to
 * `fallback`.
 */
const durationOption = (flag: string, fallback: string, description: string): Option => {
  const envName = `MESHSHIFT_${flag.slice(2).toUpperCase().replaceAll('-', '_')}`;
  return new Option(`${flag} <duration>`, `${description} [${envName}]`)
    .argParser(duration(flag))
    .default(parseDuration(env[envName] ?? fallback));
};
const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').filter((x) => x.trim())];

/** Registers `serve` and the API client commands on the program (server code loads only when `serve` runs). */
export function registerServiceCommands(program: Command, setCode: (code: number) => void): void {
  const serve = program
    .command('serve')
    .description('run the HTTP API and/or workers that drive migrations stored in Redis')
    .addOption(
      new Option('--role <role>', 'api, worker, controller (MigrationPlan resources) or all')
        .choices(['api', 'worker', 'controller', 'all'])
        .default(env.MESHSHIFT_ROLE ?? 'all'),
    );
  addRedisOptions(serve);
  addApiOptions(serve);
  addWorkerOptions(serve);
  serve
    .option('--policies <dir>', 'folder with policy YAML files')
    .option('--log-level <level>', 'pino level [MESHSHIFT_LOG_LEVEL]', env.MESHSHIFT_LOG_LEVEL ?? 'info')
    .action((flags: ServeFlags) => runServe(serveOptionsFrom(flags), setCode));
  addControllerOptions(serve);
  registerClientCommands(program, setCode);
}

/** Where the store is: one Redis, a Sentinel group or a Cluster, and how long a command may take. */
function addRedisOptions(serve: Command): void {
  serve
    .option(
      '--redis <url>',
      'Redis URL [MESHSHIFT_REDIS_URL]',
      env.MESHSHIFT_REDIS_URL ?? 'redis://127.0.0.1:6379',
    )
    .option(
      '--prefix <prefix>',
      'Redis key prefix [MESHSHIFT_REDIS_PREFIX]',
      env.MESHSHIFT_REDIS_PREFIX ?? 'meshshift',
    )
    .option(
      '--redis-sentinels <host:port,...>',
      'Redis Sentinel addresses; --redis then gives only password/db/TLS [MESHSHIFT_REDIS_SENTINELS; MESHSHIFT_REDIS_SENTINEL_PASSWORD]',
      list,
      list(env.MESHSHIFT_REDIS_SENTINELS ?? ''),
    )
    .option(
      '--redis-sentinel-name <name>',
      'Sentinel master group name [MESHSHIFT_REDIS_SENTINEL_NAME]',
      env.MESHSHIFT_REDIS_SENTINEL_NAME ?? 'mymaster',
    )
    .option(
      '--redis-cluster <host:port,...>',
      'Redis Cluster nodes (the prefix gets a {hash tag}) [MESHSHIFT_REDIS_CLUSTER]',
      list,
      list(env.MESHSHIFT_REDIS_CLUSTER ?? ''),
    )
    .addOption(durationOption('--redis-timeout', '1s', "the API's Redis command timeout"));
}

/** The HTTP side: answer and shutdown deadlines, where it listens, who may call it. */
function addApiOptions(serve: Command): void {
  serve
    .addOption(
      durationOption(
        '--request-timeout',
        '2s',
        'the API answers every request within this, 503 if Redis does not answer',
      ),
    )
    .addOption(durationOption('--shutdown-timeout', '20s', 'SIGTERM to exit, at most'))
    .option('--host <address>', 'listen address [MESHSHIFT_HOST]', env.MESHSHIFT_HOST ?? '0.0.0.0')
    .option(
      '--port <port>',
      'listen port, 0 = any [MESHSHIFT_PORT]',
      integer(0),
      Number(env.MESHSHIFT_PORT ?? 8080),
    )
    .option(
      '--tokens-file <file>',
      'API bearer tokens, one "name:token" per line [MESHSHIFT_TOKENS_FILE]',
      env.MESHSHIFT_TOKENS_FILE,
    )
    .option(
      '--auth-reads',
      'require a token for GET /v1/* too [MESHSHIFT_AUTH_READS=1]',
      env.MESHSHIFT_AUTH_READS === '1',
    );
}

/** The workers: the cluster and Prometheus they reach, their parallelism, limits, cadence and retention. */
function addWorkerOptions(serve: Command): void {
  serve
    .option('--kubeconfig <file>', 'kubeconfig (workers; default $KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option(
      '--prometheus <url>',
      'Prometheus base URL (workers) [MESHSHIFT_PROMETHEUS_URL]',
      env.MESHSHIFT_PROMETHEUS_URL,
    )
    .option(
      '--concurrency <n>',
      'drive jobs in parallel per worker process [MESHSHIFT_WORKER_CONCURRENCY]',
      integer(1),
      Number(env.MESHSHIFT_WORKER_CONCURRENCY ?? 50),
    )
    .addOption(durationOption('--lock-ttl', '30s', 'migration lock expiry = takeover delay after a crash'))
    .option(
      '--max-per-namespace <n>',
      'concurrent migrations per namespace, 0 = no limit [MESHSHIFT_MAX_PER_NAMESPACE]',
      integer(0),
      Number(env.MESHSHIFT_MAX_PER_NAMESPACE ?? 0),
    )
    .option(
      '--max-concurrent <n>',
      'concurrent migrations in the cluster, 0 = no limit [MESHSHIFT_MAX_CONCURRENT]',
      integer(0),
      Number(env.MESHSHIFT_MAX_CONCURRENT ?? 0),
    )
    .option(
      '--time-scale <factor>',
      'compress policy durations of new migrations (demos/tests) [MESHSHIFT_TIME_SCALE]',
      positive,
      Number(env.MESHSHIFT_TIME_SCALE ?? 1),
    )
    .addOption(durationOption('--tick-align', '1s', 'round wake-ups up to this, so migrations tick together'))
    .addOption(
      durationOption(
        '--batch-window',
        '50ms',
        'collect analyses this long into one Prometheus query; 0ms = off',
      ),
    )
    .addOption(durationOption('--reconcile-every', '30s', 're-create lost drive jobs this often'))
    .option(
      '--retention <duration>',
      'forget finished migrations (record and history) this long after they finished [MESHSHIFT_RETENTION]',
      retention,
      retention(env.MESHSHIFT_RETENTION ?? '30d'),
    );
}

/** What commander hands the action: ServeOptions with the durations under their flag names (ms). */
type ServeFlags = Omit<
  ServeOptions,
  | 'lockTtlMs'
  | 'tickAlignMs'
  | 'batchWindowMs'
  | 'reconcileEveryMs'
  | 'retentionMs'
  | 'redisTimeoutMs'
  | 'requestTimeoutMs'
  | 'shutdownTimeoutMs'
> & {
  lockTtl: number;
  tickAlign: number;
  batchWindow: number;
  reconcileEvery: number;
  retention: number;
  redisTimeout: number;
  requestTimeout: number;
  shutdownTimeout: number;
} & ControllerFlags;

function serveOptionsFrom(flags: ServeFlags): ServeOptions {
  const {
    lockTtl,
    tickAlign,
    batchWindow,
    reconcileEvery,
    retention: retentionMs,
    redisTimeout,
    requestTimeout,
    ...rest
  } = flags;
  const { shutdownTimeout, ...serve } = rest;
  const sentinelPassword = env.MESHSHIFT_REDIS_SENTINEL_PASSWORD;
  return {
    ...controllerOptionsFrom(serve),
    retentionMs,
    redisTimeoutMs: redisTimeout,
    requestTimeoutMs: requestTimeout,
    shutdownTimeoutMs: shutdownTimeout,
    ...(sentinelPassword ? { redisSentinelPassword: sentinelPassword } : {}),
    lockTtlMs: lockTtl,
    tickAlignMs: tickAlign,
    batchWindowMs: batchWindow,
    reconcileEveryMs: reconcileEvery,
  };
}

/** Starts the service and runs it until SIGTERM or SIGINT, then closes it (bounded); exit code 1 if it cannot start. */
async function runServe(o: ServeOptions, setCode: (code: number) => void): Promise<void> {
  const logger = createLogger({ level: o.logLevel ?? 'info' });
  let svc: RunningService;
  try {
    const { startService } = await import('../serve/start.js');
    svc = await startService(o, { logger });
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'cannot start');
    process.stderr.write(`meshshift serve: ${(err as Error).message}\n`);
    setCode(1);
    return;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      logger.info({ signal: sig }, 'signal received');
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
      // Whatever lingers after the bounded shutdown (a socket to an unreachable Slack) must not keep the
      // process alive past its grace period.
      void svc.close().then(() => {
        setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  setCode(0);
}
