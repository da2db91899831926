/**
 * The one launcher of `meshshift serve` child processes for the tests and the benchmarks (no vitest import):
 * the real CLI, built (dist/) or under tsx, on 127.0.0.1 and a free port, resolved once it logs where it
 * listens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The cadence the tests' `meshshift serve` children run at: wake-ups aligned to 100 ms, analyses batched for
 * 20 ms, lost drive jobs re-created every 2 s.
 */
export const FAST_CADENCE_FLAGS: readonly string[] = [
  '--tick-align',
  '100ms',
  '--batch-window',
  '20ms',
  '--reconcile-every',
  '2s',
];

/**
 * Which CLI the child runs: `dist` is bin/meshshift.js → dist/ (`npm run build` first; starts fast), `tsx` the
 * sources under tsx (test/harness/cli-entry.ts; slow to start on a loaded machine), or Node arguments that start
 * a CLI entry (the service bench's freshly compiled copy).
 */
export type ServeCli = 'dist' | 'tsx' | { readonly nodeArgs: readonly string[] };

export interface ServeChildOptions {
  /** The flags after `serve --host 127.0.0.1 --port 0` (`--role`, `--redis`, …). */
  args: readonly string[];
  cli: ServeCli;
  /** Variables added to this process's environment for the child (NO_COLOR=1 is always set). */
  env?: NodeJS.ProcessEnv;
  /** The child must log its "meshshift serving" line within this; it is killed otherwise. */
  startTimeoutMs: number;
  /** How many characters of its stderr (pino JSON) `stderr()` keeps (default 200,000). */
  keepStderr?: number;
}

export interface ServeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the SIGTERM to the exit (0 if it had already exited). */
  ms: number;
}

export interface ServeChild {
  proc: ChildProcess;
  pid: number;
  /** Where it listens (the URL of its "meshshift serving" line). */
  url: string;
  /** What it printed on stderr so far (the last `keepStderr` characters). */
  stderr(): string;
  kill9(): void;
  /**
   * SIGTERM, then SIGKILL after `killAfterMs` (never without it); resolves once it has exited (at once if it
   * had already).
   */
  stop(killAfterMs?: number): Promise<ServeExit>;
}

function cliArgs(cli: ServeCli): readonly string[] {
  if (cli === 'dist') return [path.join(root, 'bin/meshshift.js')];
  if (cli === 'tsx') return ['--import', 'tsx', path.join(root, 'test/harness/cli-entry.ts')];
  return cli.nodeArgs;
}

/** Starts `meshshift serve` as a child process: resolves once it listens; rejects (and kills it) otherwise. */
export async function startServeChild(o: ServeChildOptions): Promise<ServeChild> {
  const proc = spawn(
    process.execPath,
    [...cliArgs(o.cli), 'serve', '--host', '127.0.0.1', '--port', '0', ...o.args],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...o.env } },
  );
  const started = waitForServeUrl(proc, o.startTimeoutMs, o.keepStderr ?? 200_000);
  const url = await started.url.catch((err: unknown) => {
    proc.kill('SIGKILL'); // never leave a half-started server behind
    throw err;
  });
  return {
    proc,
    pid: proc.pid!,
    url,
    stderr: started.stderr,
    kill9: () => proc.kill('SIGKILL'),
    stop: (killAfterMs) => stopChild(proc, killAfterMs),
  };
}

function stopChild(proc: ChildProcess, killAfterMs: number | undefined): Promise<ServeExit> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null)
      return resolve({ code: proc.exitCode, signal: proc.signalCode, ms: 0 });
    const t0 = Date.now();
    const force = killAfterMs === undefined ? undefined : setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
    proc.once('exit', (code, signal) => {
      clearTimeout(force);
      resolve({ code, signal, ms: Date.now() - t0 });
    });
    proc.kill('SIGTERM');
  });
}

/**
 * Resolves with the URL a `meshshift serve` child logs in its "meshshift serving" line (pino JSON on stderr);
 * rejects if it exits or does not start in time (then it is killed). `stderr()` returns what it printed so
 * far (the last `keep` characters).
 */
function waitForServeUrl(
  proc: ChildProcess,
  timeoutMs: number,
  keep: number,
): { url: Promise<string>; stderr: () => string } {
  let err = '';
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A child that missed its start is of no use to anyone: do not leave it running after the test.
      proc.kill('SIGKILL');
      reject(new Error(`serve did not start within ${timeoutMs} ms:\n${err.slice(-3000)}`));
    }, timeoutMs);
    proc.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-keep);
      const m =
        /"url":"(http:[^"]+)"[^\n]*meshshift serving/.exec(err) ??
        /meshshift serving[^\n]*"url":"(http:[^"]+)"/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${err.slice(-3000)}`));
    });
  });
  return { url, stderr: () => err };
}
