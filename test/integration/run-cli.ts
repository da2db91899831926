/** The meshshift binary as users run it (bin/meshshift.js → dist/), as a child process, for the CLI tests. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const BIN = path.resolve('bin/meshshift.js');

/** A fresh temporary directory and a function writing a named file into it (returns its path). */
export function tempFiles(prefix: string): { dir: string; write: (name: string, text: string) => string } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return {
    dir,
    write: (name, text) => {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      return f;
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** From the first byte on stdout to the exit (the CLI's own start-up left out); -1 without output. */
  firstOutputToExitMs: number;
}

export function cli(
  args: string[],
  opts: { stdin?: string; onStdout?: (line: string, write: (s: string) => void) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    let buf = '';
    let firstOutputAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      firstOutputAt ||= Date.now();
      stdout += d;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        opts.onStdout?.(line, (s) => child.stdin.write(s));
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout,
        stderr,
        firstOutputToExitMs: firstOutputAt ? Date.now() - firstOutputAt : -1,
      }),
    );
  });
}
