/** `meshshift run`: one migration in the foreground, with live progress and commands from stdin. */
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { PrometheusProvider } from '../gate/prometheus.js';
import type { MetricsProvider } from '../gate/input/provider.js';
import { commandOf } from '../engine/vocabulary.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { IstioMeshAdapter } from '../mesh/istio.js';
import { PeerAuthenticationAdapter } from '../mesh/peer-authentication.js';
import type { MtlsStep } from '../engine/effects.js';
import { loadKubeConfig } from '../mesh/kube/config.js';
import type { MeshAdapter } from '../mesh/types.js';
import { ValidationError, formatFieldError } from '../plan/errors.js';
import { loadPlanDocument, type ResolvedPlan } from '../plan/load.js';
import { MigrationRunner, type RunResult } from '../runner/runner.js';
import { FileSnapshotStore } from '../runner/store.js';
import { eventPrinter } from '../runner/render.js';

export interface RunOptions {
  kubeconfig?: string;
  context?: string;
  prometheus: string;
  output: 'text' | 'json';
  timeScale: number;
  stateDir?: string;
  policies?: string;
  onInterrupt: 'abort' | 'hold';
  /** Who typed commands on stdin (recorded in the history). */
  user: string;
}

export const EXIT = { completed: 0, error: 1, rolledBack: 2 } as const;

export function exitCodeFor(r: RunResult): number {
  if (r.phase === 'completed') return EXIT.completed;
  if (r.phase === 'rolledBack' || r.phase === 'aborted') return EXIT.rolledBack;
  return EXIT.error;
}

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin?: NodeJS.ReadableStream;
  logger: Logger;
}

/** Drives a migration to its end, reading promote/pause/resume/abort lines from stdin. Returns the exit code. */
export async function driveMigration(
  plan: ResolvedPlan,
  deps: { mesh: MeshAdapter; metrics: MetricsProvider; mtls?: MtlsStep },
  opts: Pick<RunOptions, 'output' | 'timeScale' | 'stateDir' | 'onInterrupt' | 'user'>,
  io: Io,
): Promise<number> {
  const runner = new MigrationRunner({
    plan,
    mesh: deps.mesh,
    metrics: deps.metrics,
    ...(deps.mtls ? { mtls: deps.mtls } : {}),
    timeScale: opts.timeScale,
    logger: io.logger,
    ...(opts.stateDir ? { store: new FileSnapshotStore(opts.stateDir) } : {}),
    onEvent: eventPrinter(opts.output, io.stdout),
  });
  await runner.start();

  const rl = io.stdin ? createInterface({ input: io.stdin, terminal: false }) : undefined;
  rl?.on('line', (line) => {
    const [word, ...rest] = line.trim().split(/\s+/);
    if (!word) return;
    const cmd = commandOf(word.toLowerCase());
    if (!cmd) {
      io.stderr.write(`unknown command "${word}": type promote, pause, resume or abort [reason]\n`);
      return;
    }
    runner.command(cmd, opts.user, rest.join(' ') || undefined);
  });

  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(130); // second Ctrl-C: leave now
    interrupted = true;
    if (opts.onInterrupt === 'abort') {
      io.stderr.write(
        `\n${sig}: rolling back to 100 % source before exiting (press Ctrl-C again to leave the weight as it is)\n`,
      );
      runner.command('ABORT', opts.user, `interrupted by ${sig}`);
    } else {
      io.stderr.write(
        `\n${sig}: holding the current weight and exiting${opts.stateDir ? `; run again with --state-dir ${opts.stateDir} to resume` : ''}\n`,
      );
      runner.stop();
      process.exitCode = EXIT.error;
      rl?.close();
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runner.done;
    return exitCodeFor(result);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    rl?.close();
    runner.stop();
  }
}

export async function runCommand(planFile: string, opts: RunOptions, io: Io): Promise<number> {
  let plan: ResolvedPlan;
  try {
    const found = loadPlanDocument(planFile, opts.policies);
    plan = found.plan;
    if (found.documents > 1) {
      io.stderr.write(
        `${planFile}: running MigrationPlan ${plan.name} (document ${found.document} of ${found.documents}; the other documents are valid Policies)\n`,
      );
    }
  } catch (e) {
    if (e instanceof ValidationError) {
      for (const fe of e.errors) io.stderr.write(`${formatFieldError(e.source, fe)}\n`);
      io.stderr.write('the plan is invalid: nothing was changed\n');
    } else io.stderr.write(`${(e as Error).message}\n`);
    return EXIT.error;
  }
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig({
      ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
      ...(opts.context ? { context: opts.context } : {}),
    });
  } catch (e) {
    io.stderr.write(`${(e as Error).message}\n`);
    return EXIT.error;
  }
  const metrics = new PrometheusProvider({ url: opts.prometheus });
  const mtls = plan.mtls ? new PeerAuthenticationAdapter(kc, { query: (q) => metrics.query(q) }) : undefined;
  return driveMigration(
    plan,
    { mesh: new IstioMeshAdapter(kc), metrics, ...(mtls ? { mtls } : {}) },
    opts,
    io,
  );
}
