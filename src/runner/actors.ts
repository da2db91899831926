/**
 * The four promise actors the migration machine invokes (preflight, setWeight, analyze, rollback), built from
 * real adapters. Shared by the in-process runner and the service worker so both drive the machine identically.
 */
import { fromPromise } from 'xstate';
import type { MetricsProvider } from '../gate/provider.js';
import type { Verdict } from '../gate/types.js';
import { evaluate, unavailableVerdict } from '../gate/verdict.js';
import type { Logger } from '../log/logger.js';
import { migrationMachine } from '../machine/migration.js';
import type { MigrationContext, SetWeightInput } from '../machine/types.js';
import type { MeshAdapter } from '../mesh/types.js';
import { PreflightError } from '../mesh/types.js';
import type { ResolvedPlan } from '../plan/load.js';
import type { PolicySpec } from '../plan/schema.js';
import type { PeerAuthenticationAdapter } from '../mesh/peer-authentication.js';
import type { Clock } from './clock.js';
import type { RunnerEvent } from './events.js';
import { runPreflight } from './preflight.js';

export interface ActorDeps {
  plan: ResolvedPlan;
  /** The policy as the machine runs it (already time-scaled). */
  policy: PolicySpec;
  mesh: MeshAdapter;
  metrics: MetricsProvider;
  clock: Clock;
  log: Logger;
  emit: (e: RunnerEvent) => void;
  /** The weight meshshift believes is in the cluster right now (reported as `previous` by a rollback). */
  currentWeight: () => number;
  /** Attempts for the rollback write before giving up and failing loudly. Default 5. */
  rollbackAttempts?: number;
  /**
   * Called right before every write to the mesh; throwing refuses the write. The service worker uses it to
   * check that it still holds the migration's lock (fencing), so a worker that lost its lock changes nothing.
   */
  beforeWrite?: () => Promise<void>;
  /** "Policy second": tightens the PeerAuthentication after completion when the plan asks for it. */
  mtls?: MtlsStep;
}

/** The part of PeerAuthenticationAdapter the engine uses (src/mesh/peer-authentication.ts). */
export type MtlsStep = Pick<PeerAuthenticationAdapter, 'preflightMtls' | 'tightenMtls'>;

/** The migration machine with real actors provided. */
export function machineWithActors(deps: ActorDeps) {
  const { plan, mesh, metrics, clock, log, emit } = deps;
  const policy = deps.policy;
  const beforeWrite = deps.beforeWrite ?? (async () => undefined);
  return migrationMachine.provide({
    actors: {
      preflight: fromPromise(async () => {
        const report = await runPreflight(plan, policy, mesh, metrics);
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
      }),
      setWeight: fromPromise(async ({ input, signal }: { input: SetWeightInput; signal: AbortSignal }) => {
        await beforeWrite();
        const w = await mesh.setWeight(plan, input.weight, {
          expected: input.expected,
          force: input.force,
          signal,
        });
        emit({
          type: 'weight',
          at: clock.now(),
          weight: w.weight,
          previous: input.expected,
          wrote: w.wrote,
          attempts: w.attempts,
        });
        log.info(
          {
            weight: w.weight,
            previous: input.expected,
            wrote: w.wrote,
            attempts: w.attempts,
            resourceVersion: w.resourceVersion,
          },
          'weight set',
        );
        return { at: clock.now(), weight: w.weight };
      }),
      analyze: fromPromise(
        async ({
          input,
        }: {
          input: { weight: number; selectors: NonNullable<MigrationContext['selectors']> };
        }) => {
          let verdict: Verdict;
          try {
            const sample = await metrics.sample({
              namespace: plan.namespace,
              selectors: input.selectors,
              policy,
            });
            verdict = evaluate(policy, { ...sample, at: clock.now() }, input.weight);
          } catch (err) {
            verdict = unavailableVerdict(clock.now(), input.weight, (err as Error).message);
          }
          emit({ type: 'verdict', at: verdict.at, verdict });
          log.info(
            { outcome: verdict.outcome, weight: verdict.weight, summary: verdict.summary },
            'analysis',
          );
          return verdict;
        },
      ),
      rollback: fromPromise(async ({ input }: { input: { reason: string } }) => {
        // Rollback never waits for drift checks or backoff-heavy logic: force 0 % target in one write,
        // retrying a few times because this is the write that must land.
        const attempts = deps.rollbackAttempts ?? 5;
        let last: unknown;
        await beforeWrite();
        for (let i = 1; i <= attempts; i++) {
          try {
            const previous = deps.currentWeight();
            const w = await mesh.setWeight(plan, 0, { expected: 0, force: true });
            emit({
              type: 'weight',
              at: clock.now(),
              weight: 0,
              previous,
              wrote: w.wrote,
              attempts: w.attempts,
              rollback: true,
            });
            log.warn({ reason: input.reason, wrote: w.wrote }, 'rolled back to 100 % source');
            return { at: clock.now() };
          } catch (err) {
            last = err;
            log.error({ err: (err as Error).message, attempt: i }, 'rollback write failed');
            await new Promise((r) => setTimeout(r, 200 * i));
          }
        }
        throw last;
      }),
      secure: fromPromise(async () => {
        if (!deps.mtls || !plan.mtls)
          throw new Error(
            'the plan asks for mTLS tightening but no PeerAuthentication adapter is configured',
          );
        const report = await deps.mtls.preflightMtls(plan);
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
        const r = await deps.mtls.tightenMtls(plan);
        const message = `PeerAuthentication ${plan.mtls.peerAuthentication}: ${r.from} → STRICT (${((report.mutualTlsRatio ?? 0) * 100).toFixed(2)} % of ${Math.round(report.requests ?? 0)} requests were already mutual TLS)`;
        emit({ type: 'mtls', at: clock.now(), ok: true, changed: r.changed, message });
        log.info(
          { peerAuthentication: plan.mtls.peerAuthentication, from: r.from, changed: r.changed },
          'mTLS tightened',
        );
        return { at: clock.now(), message };
      }),
    },
  });
}
