/** Waiting for a `meshshift serve` child process to listen (tests and benchmarks). No vitest import. */
import type { ChildProcess } from 'node:child_process';

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
 * Resolves with the URL a `meshshift serve` child logs in its "meshshift serving" line (pino JSON on stderr);
 * rejects if it exits or does not start in time (then it is killed). `stderr()` returns what it printed so far (the last `keep` chars).
 */
export function waitForServeUrl(
  proc: ChildProcess,
  timeoutMs: number,
  keep = 200_000,
): { url: Promise<string>; stderr: () => string } {
  let err = '';
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A child that missed its start is of no use to anyone: do not leave it running after the test.
      proc.kill('SIGKILL');
      reject(new Error(`worker did not start within ${timeoutMs} ms:\n${err.slice(-3000)}`));
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
      reject(new Error(`worker exited with ${code}:\n${err.slice(-3000)}`));
    });
  });
  return { url, stderr: () => err };
}
