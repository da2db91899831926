/**
 * The effects the migration machine invokes (preflight, setWeight, analyze, rollback, secure), built from real
 * adapters. Every driver gets exactly these through the engine; nothing else provides actors to the machine.
 */
import { fromPromise } from 'xstate';
import type { MetricsProvider } from '../gate/input/provider.js';
import type { Verdict } from '../gate/types.js';
import { evaluate, unavailableVerdict } from '../gate/checks/verdict.js';
import type { Logger } from '../log/logger.js';
import { migrationMachine } from '../machine/migration.js';
import type { AnalyzeInput, RollbackInput, SetWeightInput } from '../machine/types.js';
import type { PeerAuthenticationAdapter } from '../mesh/peer-authentication.js';
import type { MeshAdapter, SetWeightOptions } from '../mesh/types.js';
import { PreflightError } from '../mesh/types.js';
import type { ResolvedPlan } from '../plan/load.js';
import type { PolicySpec } from '../plan/policy-schema.js';
import { DEFAULT_ATTEMPT_MS, withAttemptDeadline } from './attempt.js';
import type { Clock } from './clock.js';
import type { EngineEvent } from './history.js';
import { runPreflight } from './preflight.js';

/** The part of PeerAuthenticationAdapter the engine uses (src/mesh/peer-authentication.ts). */
export type MtlsStep = Pick<PeerAuthenticationAdapter, 'preflightMtls' | 'tightenMtls'>;

export interface EffectDeps {
  plan: ResolvedPlan;
  /** The policy as the machine runs it (already time-scaled). */
  policy: PolicySpec;
  mesh: MeshAdapter;
  metrics: MetricsProvider;
  clock: Clock;
  log: Logger;
  emit: (e: EngineEvent) => void;
  /**
   * Called right before every write to the mesh; throwing refuses the write. The service worker checks that it
   * still holds the migration's lease (fencing), so a worker that lost it changes nothing.
   */
  beforeWrite?: () => Promise<void>;
  /** "Policy second": tightens the PeerAuthentication after completion when the plan asks for it. */
  mtls?: MtlsStep;
  /**
   * Deadline of one attempt of an effect that talks to the cluster (engine/attempt.ts); past it the attempt is
   * cancelled and fails like any other, so the machine counts and retries it. Default 25 s.
   */
  attemptMs?: number;
}

/** A run's actor system (xstate's), as the key its dependencies are bound to. */
type RunSystem = object;

/** Each run's dependencies, by the actor system of the run (advance() binds them before it starts the actor). */
const runs = new WeakMap<RunSystem, EffectDeps>();

/** Gives the effects of the actor system `system` (a run of `machineWithEffects`) their dependencies. */
export function bindEffects(system: RunSystem, deps: EffectDeps): void {
  runs.set(system, deps);
}

function depsOf(system: RunSystem): EffectDeps {
  const deps = runs.get(system);
  if (!deps)
    throw new Error('engine: an effect ran in an actor system with no dependencies bound (bindEffects)');
  return deps;
}

const bounded = <T>(d: EffectDeps, what: string, signal: AbortSignal, fn: (s: AbortSignal) => Promise<T>) =>
  withAttemptDeadline(what, d.attemptMs ?? DEFAULT_ATTEMPT_MS, signal, fn);

const beforeWriteOf = (d: EffectDeps) => d.beforeWrite ?? (async () => undefined);

async function preflight(d: EffectDeps, signal: AbortSignal) {
  const { plan, policy, mesh, metrics, clock, emit, log } = d;
  const report = await bounded(d, 'preflight', signal, (s) => runPreflight(plan, policy, mesh, metrics, s));
  emit({
    type: 'preflight',
    at: clock.now(),
    ok: report.ok,
    checks: report.checks,
    initialWeight: report.initialWeight,
  });
  log.info({ checks: report.checks.filter((c) => !c.ok), ok: report.ok }, 'preflight');
  if (!report.ok) throw new PreflightError(report);
  return { at: clock.now(), initialWeight: report.initialWeight, selectors: report.selectors };
}

/**
 * One weight write, fenced (the lease check runs before the write and before each attempt inside it) and bounded
 * by the attempt deadline.
 */
function fencedWrite(
  d: EffectDeps,
  what: string,
  weight: number,
  opts: Pick<SetWeightOptions, 'expected' | 'force'>,
  signal: AbortSignal,
) {
  const beforeWrite = beforeWriteOf(d);
  return bounded(d, what, signal, async (s) => {
    await beforeWrite();
    return d.mesh.setWeight(d.plan, weight, { ...opts, signal: s, beforeAttempt: beforeWrite });
  });
}

async function setWeight(d: EffectDeps, input: SetWeightInput, signal: AbortSignal) {
  const { clock, emit, log } = d;
  const w = await fencedWrite(
    d,
    `set weight ${input.weight} %`,
    input.weight,
    { expected: input.expected, force: input.force },
    signal,
  );
  emit({
    type: 'weight',
    at: clock.now(),
    weight: w.weight,
    previous: input.expected,
    wrote: w.wrote,
    attempts: w.attempts,
    ...(input.reason ? { reason: input.reason } : {}),
  });
  log.info(
    { weight: w.weight, previous: input.expected, wrote: w.wrote, attempts: w.attempts, reason: input.reason },
    input.reason ? 'stepped back' : 'weight set',
  );
  return { at: clock.now(), weight: w.weight };
}

async function analyze(d: EffectDeps, input: AnalyzeInput): Promise<Verdict> {
  const { plan, policy, metrics, clock, emit, log } = d;
  let verdict: Verdict;
  try {
    const sample = await metrics.sample({
      namespace: plan.namespace,
      selectors: input.selectors,
      policy,
      ...(input.stepStartedAt !== undefined ? { stepStartedAt: input.stepStartedAt } : {}),
      ...(input.evidenceSince !== undefined ? { evidenceSince: input.evidenceSince } : {}),
      ...(input.setAside ? { setAside: input.setAside } : {}),
    });
    verdict = evaluate(policy, { ...sample, at: clock.now() }, input.weight);
  } catch (err) {
    verdict = unavailableVerdict(clock.now(), input.weight, (err as Error).message);
  }
  emit({ type: 'verdict', at: verdict.at, verdict });
  log.info({ outcome: verdict.outcome, weight: verdict.weight, summary: verdict.summary }, 'analysis');
  return verdict;
}

/**
 * One forced write of 100 % source per attempt (the adapter retries conflicts and blips inside it, all of it
 * bounded by the attempt deadline); the machine retries failed attempts with capped backoff, for as long as it
 * takes.
 */
async function rollback(d: EffectDeps, input: RollbackInput, signal: AbortSignal) {
  const { clock, emit, log } = d;
  try {
    const w = await fencedWrite(d, 'rollback write (100 % source)', 0, { expected: 0, force: true }, signal);
    emit({
      type: 'weight',
      at: clock.now(),
      weight: 0,
      previous: input.from,
      wrote: w.wrote,
      attempts: w.attempts,
      rollback: true,
    });
    log.warn({ reason: input.reason, wrote: w.wrote, attempt: input.attempt }, 'rolled back to 100 % source');
    return { at: clock.now() };
  } catch (err) {
    log.error(
      { err: (err as Error).message, attempt: input.attempt, reason: input.reason },
      'ROLLBACK WRITE FAILED: traffic is still on the target; retrying',
    );
    throw err;
  }
}

/**
 * The migration machine with real effects provided, built once per process (building a machine re-forms every
 * state and transition: at 100 analyses a second that was a sixth of what the worker allocated). Each run binds
 * its own dependencies to its actor system with `bindEffects`.
 */
export const machineWithEffects = migrationMachine.provide({
  actors: {
    preflight: fromPromise(({ system, signal }) => preflight(depsOf(system), signal)),
    setWeight: fromPromise(
      ({ input, system, signal }: { input: SetWeightInput; system: RunSystem; signal: AbortSignal }) =>
        setWeight(depsOf(system), input, signal),
    ),
    analyze: fromPromise(({ input, system }: { input: AnalyzeInput; system: RunSystem }) =>
      analyze(depsOf(system), input),
    ),
    rollback: fromPromise(
      ({ input, system, signal }: { input: RollbackInput; system: RunSystem; signal: AbortSignal }) =>
        rollback(depsOf(system), input, signal),
    ),
    secure: fromPromise(({ system, signal }) => {
      const d = depsOf(system);
      return bounded(d, 'mTLS tightening', signal, (s) => secure(d, s));
    }),
  },
});

/** The mTLS step ("policy second"): check the traffic, then move the PeerAuthentication to STRICT. */
async function secure(deps: EffectDeps, signal: AbortSignal): Promise<{ at: number; message: string }> {
  const { plan, clock, emit, log } = deps;
  const beforeWrite = beforeWriteOf(deps);
  if (plan.dataPlane === 'ambient' && plan.mtls) {
    const message = `mTLS step skipped: in ambient, ztunnel already carries pod traffic over mutual TLS (HBONE), and the traffic check before STRICT reads sidecar metrics that ambient does not have; PeerAuthentication ${plan.mtls.peerAuthentication} left as it is`;
    emit({ type: 'mtls', at: clock.now(), ok: true, changed: false, message });
    return { at: clock.now(), message };
  }
  if (!deps.mtls || !plan.mtls)
    throw new Error('the plan asks for mTLS tightening but no PeerAuthentication adapter is configured');
  const report = await deps.mtls.preflightMtls(plan, { signal });
  if (!report.ok) {
    const failed = report.checks
      .filter((c) => !c.ok)
      .map((c) => `[${c.id}] ${c.message}${c.fix ? ` (fix: ${c.fix})` : ''}`);
    emit({ type: 'mtls', at: clock.now(), ok: false, changed: false, message: failed.join('; ') });
    throw new Error(failed.join('; '));
  }
  if (report.alreadyStrict) {
    const message = `PeerAuthentication ${plan.mtls.peerAuthentication} is already STRICT`;
    emit({ type: 'mtls', at: clock.now(), ok: true, changed: false, message });
    return { at: clock.now(), message };
  }
  await beforeWrite();
  const r = await deps.mtls.tightenMtls(plan, { signal, beforeAttempt: beforeWrite });
  const message = `PeerAuthentication ${plan.mtls.peerAuthentication}: ${r.from} → STRICT (${((report.mutualTlsRatio ?? 0) * 100).toFixed(2)} % of ${Math.round(report.requests ?? 0)} requests were already mutual TLS)`;
  emit({ type: 'mtls', at: clock.now(), ok: true, changed: r.changed, message });
  log.info(
    { peerAuthentication: plan.mtls.peerAuthentication, from: r.from, changed: r.changed },
    'mTLS tightened',
  );
  return { at: clock.now(), message };
}
