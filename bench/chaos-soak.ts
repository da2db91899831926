/**
 * The chaos soak (issue 10): many migrations on two `meshshift serve --role worker` processes under a seeded
 * fault schedule (bench/chaos-faults.ts) in the world of bench/chaos-world.ts, while operators pause, resume and
 * abort some migrations over the API. After a drain, the invariants of bench/chaos-invariants.ts are checked
 * and the figures returned.
 */
import { mulberry32 } from '../src/sim/random.js';
import {
  checkApiFaultInvariants,
  healToWriteMs,
  holds,
  rollbackSlackLagMs,
  type ApiFaultInput,
  type Hold,
  type SubmitRequest,
} from './chaos-api-faults.js';
import { injectFaults, type FaultKind } from './chaos-faults.js';
import {
  checkInvariants,
  figures,
  type CommandRequest,
  type Figures,
  type MigrationObservation,
  type Violation,
} from './chaos-invariants.js';
import { createdByNamespace, memory, observe } from './chaos-observe.js';
import type { RedisMode } from './chaos-redis.js';
import { soakPlan, startChaosWorld, type ChaosWorld } from './chaos-world.js';

export interface SoakOptions {
  migrations: number;
  /** Faults and submissions happen during this time; then the soak drains. */
  seconds: number;
  seed: number;
  /** Upper bound for the drain (every migration finished or visibly paused). */
  drainSeconds: number;
  /** Redis for the soak: a Sentinel group (default) or one persistent node. */
  redis?: RedisMode;
  /** Go on past `seconds` until every fault kind has happened once. */
  everyKind?: boolean;
  /** Only these fault kinds (default: all). */
  faults?: FaultKind[];
  log?: (line: string) => void;
}

export interface SoakReport {
  violations: Violation[];
  figures: Figures & {
    faults: Record<string, number>;
    rollbacksAfterFaults: number;
    abortToSourceMs: number[];
    commands: Record<string, number>;
    writesChecked: number;
    writesUnverifiable: number;
    redisBytesPerMigration: number;
    redisKeysPerMigration: number;
    workerStartFailures: number;
    drainedInMs: number;
    redisMode: RedisMode;
    faultNotes: string[];
    holds: Hold[];
    healToWriteMs: number[];
    rollbackRetries: number;
    rollbackSlackLagMs: number[];
    faultedRequests: Record<string, number>;
    submits: Record<string, number>;
    probeSubmits: Record<string, number>;
    slackPosts: number;
  };
}

/** Absolute SLOs on healthy synthetic traffic; 30 inconclusive analyses (30 s) before a pause outlast an outage. */
const POLICY = `
steps: [1, 5, 10, 25, 50, 100]
stepDuration: 1m
analysis:
  interval: 10s
  window: 1m
  minRequests: 50
  minPassesPerStep: 2
  inconclusiveLimit: 30
slo:
  errorRate:
    max: 0.01
  latency:
    p99:
      maxMs: 500
`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => undefined);
  const rnd = mulberry32(o.seed);
  const redisMode = o.redis ?? 'sentinel';
  const world = await startChaosWorld(o.migrations, redisMode, log);
  try {
    const before = await memory(world.probe);
    const commands: CommandRequest[] = [];
    const submits: SubmitRequest[] = [];
    let n = 0;
    const ctx = {
      policy: POLICY,
      commands,
      submits,
      probes: [...world.probeFixtures],
      token: () => `chaos-${++n}`,
    };
    const until = Date.now() + o.seconds * 1000;
    const submitting = submitAll(world, o, rnd, { commands, submits, token: ctx.token }, log);
    const faults = await injectFaults(world, ctx, rnd, until, log, o.everyKind, o.faults);
    await submitting;
    const drainFrom = Date.now();
    const observed = await drain(world, o.drainSeconds * 1000);
    const drainedInMs = Date.now() - drainFrom;
    const observedAt = Date.now();
    const after = await memory(world.probe);
    const apiInput: ApiFaultInput = {
      migrations: observed,
      faulted: world.faulted,
      windows: faults.windows,
      slack: world.slack.byMethod('chat.postMessage').map((c) => ({
        channel: String(c.args.channel),
        text: String(c.args.text),
        at: c.at,
      })),
      submits,
      created: await createdByNamespace(world.call),
      observedAt,
    };
    const firstFault = faults.windows[0]?.from ?? Infinity;
    const endedAt = (m: MigrationObservation) =>
      m.history.find((h) => h.type === 'phase' && (h.phase === 'rolledBack' || h.phase === 'aborted'))?.at;
    const outcomes: Record<string, number> = {};
    for (const c of commands) outcomes[String(c.outcome)] = (outcomes[String(c.outcome)] ?? 0) + 1;
    return {
      violations: [
        ...checkInvariants(observed, world.writes, commands),
        ...checkApiFaultInvariants(apiInput),
      ],
      figures: {
        ...figures(observed, observedAt),
        faults: faults.counts,
        rollbacksAfterFaults: observed.filter((m) => (endedAt(m) ?? 0) > firstFault).length,
        abortToSourceMs: abortToSource(observed, commands),
        commands: outcomes,
        writesChecked: world.writes.length,
        writesUnverifiable: world.writes.filter((w) => w.holderPid === 'unknown').length,
        redisBytesPerMigration: Math.round((after.bytes - before.bytes) / Math.max(1, o.migrations)),
        redisKeysPerMigration: (after.keys - before.keys) / Math.max(1, o.migrations),
        workerStartFailures: world.workerStartFailures,
        drainedInMs,
        ...apiFaultFigures(apiInput, submits),
        redisMode,
        faultNotes: faults.notes,
      },
    };
  } finally {
    await world.close();
  }
}

function apiFaultFigures(i: ApiFaultInput, submits: SubmitRequest[]) {
  const tally = (xs: Array<string | number>) => {
    const t: Record<string, number> = {};
    for (const x of xs) t[String(x)] = (t[String(x)] ?? 0) + 1;
    return t;
  };
  return {
    holds: holds(i.migrations, i.observedAt),
    healToWriteMs: i.migrations
      .map((m) => healToWriteMs(m, i))
      .filter((x): x is number => x !== undefined)
      .sort((a, b) => a - b),
    rollbackRetries: i.migrations.flatMap((m) => m.history.filter((h) => h.type === 'rollbackRetry')).length,
    rollbackSlackLagMs: rollbackSlackLagMs(i.migrations, i.slack),
    faultedRequests: tally(i.faulted.map((f) => `${f.kind} ${f.method}`)),
    submits: tally(submits.filter((s) => !s.probe).map((s) => s.outcome)),
    probeSubmits: tally(submits.filter((s) => s.probe).map((s) => s.outcome)),
    slackPosts: i.slack.length,
  };
}

/**
 * Submits every plan, spread over two thirds of the soak; 15 % get an ABORT and 20 % a PAUSE then a RESUME
 * 4 s later, at seeded times. Each command carries a unique reason that finds it in the history.
 */
async function submitAll(
  w: ChaosWorld,
  o: SoakOptions,
  rnd: () => number,
  rec: { commands: CommandRequest[]; submits: SubmitRequest[]; token: () => string },
  log: (s: string) => void,
): Promise<void> {
  const { commands } = rec;
  const command = async (id: string, type: string) => {
    const token = rec.token();
    const sentAt = Date.now();
    const r = await w.call('POST', `/v1/migrations/${id}/${type}`, JSON.stringify({ reason: token }));
    commands.push({ id, type: type.toUpperCase(), token, sentAt, outcome: r.status });
  };
  const pending: Array<Promise<unknown>> = [];
  const later = (ms: number, fn: () => Promise<unknown>) => pending.push(sleep(ms).then(fn));
  const submit = async (f: (typeof w.fixtures)[number]) => {
    const sentAt = Date.now();
    const r = await w.call('POST', '/v1/migrations', soakPlan(f, POLICY), 10_000);
    rec.submits.push({ namespace: f.namespace, sentAt, outcome: r.status, probe: false });
    return r;
  };
  for (const f of w.fixtures.filter((x) => !w.probeFixtures.includes(x))) {
    await sleep((o.seconds * 1000 * 0.66) / o.migrations);
    let r = await submit(f);
    // As a client told "retry later" would; a 409 means a migration for this route exists (a stray create).
    for (let k = 0; k < 10 && r.status !== 201 && r.status !== 409; k++)
      r = await sleep(1000).then(() => submit(f));
    if (r.status !== 201) {
      log(`submit ${f.namespace} failed: ${r.status}`);
      continue;
    }
    const id = String(r.json.id);
    w.idByNs.set(f.namespace, id);
    const roll = rnd();
    if (roll < 0.15) later(5000 + rnd() * 20_000, () => command(id, 'abort'));
    else if (roll < 0.35)
      later(3000 + rnd() * 20_000, () =>
        command(id, 'pause')
          .then(() => sleep(4000))
          .then(() => command(id, 'resume')),
      );
  }
  await Promise.all(pending);
}

/** Waits until every migration has finished or is visibly paused (or the time is up); returns the last look. */
async function drain(w: ChaosWorld, maxMs: number): Promise<MigrationObservation[]> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const observed = await observe(w.call, w.kube, w.fixtures, w.idByNs);
    const open = observed.filter(
      (m) => !['completed', 'rolledBack', 'aborted', 'failed', 'paused'].includes(m.phase),
    );
    if (open.length === 0 || Date.now() > deadline) return observed;
    await sleep(2000);
  }
}

/** Accepted ABORT request → the cluster written back to 0 % target, per abort. */
function abortToSource(observed: MigrationObservation[], commands: CommandRequest[]): number[] {
  return commands
    .filter((c) => c.type === 'ABORT' && c.outcome === 202)
    .map((c) => {
      const m = observed.find((x) => x.id === c.id);
      const zero = m?.clusterWrites.find((x) => x.weight === 0 && x.at >= c.sentAt);
      return zero ? zero.at - c.sentAt : NaN;
    })
    .filter((x) => Number.isFinite(x));
}
