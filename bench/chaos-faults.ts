/**
 * The soak's seeded fault schedule: every kind once per round in a shuffled order (so a short soak meets each),
 * a random pause between faults, random durations. Worker kills are followed at once by a replacement worker.
 *
 * Issue 20's faults: the Kubernetes API hangs longer than the 10 s call deadline during forward steps
 * (`kube-hang`: held requests are answered at the heal) and during rollbacks (`kube-hang-rollback`: operators
 * abort running migrations as the hang begins, and the requests it held are never answered); Redis stops
 * taking writes (CLIENT PAUSE WRITE) while plans are submitted without an Idempotency-Key (`redis-pause`: the
 * fault's own submissions are not retried, so a stray migration would show); and, on the Sentinel world, a
 * Sentinel-coordinated failover (`sentinel-failover`; `redis-restart` there takes the primary away, so Sentinel
 * promotes the replica).
 */
import type { ScenarioFixture } from '../src/sim/scenario-fixture.js';
import type { SubmitRequest } from './chaos-api-faults.js';
import type { CommandRequest } from './chaos-invariants.js';
import { soakPlan, type ChaosWorld } from './chaos-world.js';

export type FaultKind =
  | 'kill9'
  | 'sigterm'
  | 'redis-restart'
  | 'kube-500'
  | 'kube-hang'
  | 'kube-hang-rollback'
  | 'prometheus-outage'
  | 'redis-pause'
  | 'sentinel-failover';
export const FAULT_KINDS: FaultKind[] = [
  'kill9',
  'sigterm',
  'redis-restart',
  'kube-500',
  'kube-hang',
  'kube-hang-rollback',
  'prometheus-outage',
  'redis-pause',
  'sentinel-failover',
];

export interface FaultLog {
  counts: Record<string, number>;
  windows: Array<{ kind: FaultKind; from: number; to: number }>;
  /** What each fault did, in order (a line each). */
  notes: string[];
}

/** What the faults need beyond the world: the plan text, where to record requests, fixtures for probes. */
export interface FaultContext {
  policy: string;
  commands: CommandRequest[];
  submits: SubmitRequest[];
  /** Fixtures no one else submits: the redis-pause fault submits these (one each). */
  probes: ScenarioFixture[];
  /** A unique reason text for a command (finds it in the history). */
  token(): string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Submissions per Redis write pause (each takes the API's ~1 s Redis timeout to answer 503). */
const PROBES_PER_PAUSE = 3;

/**
 * Injects faults until `untilMs` (epoch ms) — and, with `everyKind`, at least until each kind has happened once;
 * everything is healthy again when it returns.
 */
export async function injectFaults(
  w: ChaosWorld,
  ctx: FaultContext,
  rnd: () => number,
  untilMs: number,
  log: (s: string) => void,
  everyKind = false,
  only?: readonly FaultKind[],
): Promise<FaultLog> {
  const out: FaultLog = { counts: {}, windows: [], notes: [] };
  const kinds = FAULT_KINDS.filter(
    (k) => (k !== 'sentinel-failover' || w.redis.failover) && (!only || only.includes(k)),
  );
  let round: FaultKind[] = [];
  for (;;) {
    await sleep(4000 + rnd() * 8000);
    const unmet = kinds.some((k) => !out.counts[k]);
    if (Date.now() >= untilMs && !(everyKind && unmet)) return out;
    if (round.length === 0) round = shuffled(kinds, rnd);
    const kind = round.shift()!;
    const from = Date.now();
    out.counts[kind] = (out.counts[kind] ?? 0) + 1;
    log(`fault ${kind}`);
    const note = await inject(w, ctx, kind, rnd).catch((err: unknown) => `failed: ${(err as Error).message}`);
    out.windows.push({ kind, from, to: Date.now() });
    out.notes.push(`${kind} ${((Date.now() - from) / 1000).toFixed(1)} s${note ? `: ${note}` : ''}`);
    if (note) log(`  ${note}`);
  }
}

async function inject(w: ChaosWorld, ctx: FaultContext, kind: FaultKind, rnd: () => number): Promise<string> {
  const lasting = (min: number, max: number) => min + rnd() * (max - min);
  switch (kind) {
    case 'kill9':
    case 'sigterm': {
      const victim = w.workers.splice(Math.floor(rnd() * w.workers.length), 1)[0];
      if (kind === 'kill9') victim?.proc.proc.kill('SIGKILL');
      else void victim?.proc.stop();
      await w.replaceWorker();
      return '';
    }
    case 'redis-restart':
      return w.redis.restart(lasting(2000, 6000));
    case 'sentinel-failover':
      return `new primary named after ${await w.redis.failover!()} ms`;
    case 'kube-500':
      w.apiFault = { kind: '500' };
      await sleep(lasting(5000, 15_000));
      w.apiFault = { kind: 'ok' };
      return '';
    case 'kube-hang':
      return hang(w, lasting(12_000, 40_000), false, () => Promise.resolve(''));
    case 'kube-hang-rollback':
      return hang(w, lasting(30_000, 60_000), true, () => abortRunning(w, ctx, 1 + Math.floor(rnd() * 3)));
    case 'prometheus-outage':
      await w.prom.stop();
      await sleep(lasting(5000, 15_000));
      await w.prom.start();
      return '';
    case 'redis-pause':
      return pauseAndSubmit(w, ctx, lasting(3000, 5000));
  }
}

/**
 * Every API request hangs for `ms` (longer than the 10 s call deadline); `during` runs as the hang begins. A
 * `wedged` hang never answers the requests it held, even after the heal: a rollback then waits for its next try.
 */
async function hang(
  w: ChaosWorld,
  ms: number,
  wedged: boolean,
  during: () => Promise<string>,
): Promise<string> {
  let release!: () => void;
  w.apiFault = { kind: 'hang', until: new Promise<void>((r) => (release = r)), wedged };
  const [note] = await Promise.all([during(), sleep(ms)]);
  w.apiFault = { kind: 'ok' };
  release();
  return `${wedged ? 'wedged' : 'hung'} ${(ms / 1000).toFixed(1)} s${note ? `; ${note}` : ''}`;
}

/** Aborts up to `n` migrations that are shifting traffic now (their rollback meets the hang). */
async function abortRunning(w: ChaosWorld, ctx: FaultContext, n: number): Promise<string> {
  const r = await w.call('GET', '/v1/migrations?live=true&limit=1000');
  const items = (r.json.items as Array<{ id: string; phase: string; weight: number }> | undefined) ?? [];
  const running = items.filter((m) => m.phase === 'shifting' && m.weight > 0).slice(0, n);
  for (const m of running) {
    const token = ctx.token();
    const sentAt = Date.now();
    const a = await w.call('POST', `/v1/migrations/${m.id}/abort`, JSON.stringify({ reason: token }));
    ctx.commands.push({ id: m.id, type: 'ABORT', token, sentAt, outcome: a.status });
  }
  return `aborted ${running.map((m) => `${m.id} at ${m.weight} %`).join(', ') || 'none (nothing shifting)'}`;
}

/**
 * Pauses Redis writes for `ms` and submits probe plans without an Idempotency-Key meanwhile, once each (a 503 is
 * not retried: the invariant is that nothing was created for it). A probe answered 201 runs like any other.
 */
async function pauseAndSubmit(w: ChaosWorld, ctx: FaultContext, ms: number): Promise<string> {
  const until = Date.now() + ms;
  await w.redis.pauseWrites(ms);
  const answers: string[] = [];
  for (let k = 0; k < PROBES_PER_PAUSE && Date.now() < until - 500 && ctx.probes.length; k++) {
    const f = ctx.probes.shift()!;
    const sentAt = Date.now();
    const plan = soakPlan(f, ctx.policy);
    const r = await w.call('POST', '/v1/migrations', plan, 10_000);
    ctx.submits.push({ namespace: f.namespace, sentAt, outcome: r.status, probe: true });
    if (r.status === 201) w.idByNs.set(f.namespace, String(r.json.id));
    answers.push(String(r.status));
  }
  await sleep(Math.max(0, until - Date.now()));
  return `writes paused ${(ms / 1000).toFixed(1)} s; probe submissions answered ${answers.join(', ') || 'none left'}`;
}

function shuffled<T>(xs: readonly T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
