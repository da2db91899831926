/** A `meshshift serve --role worker` child process, and its CPU / RSS read from /proc (Linux). */
import { execFileSync, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { startServeChild } from '../../test/harness/serve-child.js';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const CLK_TCK = 100; // Linux USER_HZ (getconf CLK_TCK); the same on every mainstream kernel.

export interface ProcSample {
  at: number;
  /** user + system CPU seconds of the process (all threads). */
  cpuSeconds: number;
  rssBytes: number;
  /** Peak RSS since the process started (VmHWM). */
  hwmBytes: number;
}

export function procSample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3; utime = 14, stime = 15 (1-based).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return {
    at: Date.now(),
    cpuSeconds: (utime + stime) / CLK_TCK,
    rssBytes: kb('VmRSS'),
    hwmBytes: kb('VmHWM'),
  };
}

/** Busy fraction of the whole machine (all cores) between two /proc/stat readings. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export interface WorkerChild {
  proc: ChildProcess;
  pid: number;
  url: string;
  entry: string;
  stderrTail(): string;
  stop(): Promise<void>;
}

/**
 * The worker runs COMPILED JavaScript, as in production: dist/ when it is at least as new as every src/ file,
 * else a fresh `tsc -p tsconfig.build.json` into a temp dir (with a node_modules symlink), so that neither the
 * tsx loader's memory nor a stale dist/ skews the numbers. `--tsx` runs the sources under tsx instead.
 */
export function workerEntry(root: string, useTsx = false): { args: string[]; entry: string } {
  if (useTsx)
    return {
      args: ['--import', 'tsx', path.join(root, 'test/harness/cli-entry.ts')],
      entry: 'src under tsx (--tsx)',
    };
  const dist = path.join(root, 'dist/src/cli/main.js');
  if (existsSync(dist)) {
    const built = statSync(dist).mtimeMs;
    let newest = 0;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else newest = Math.max(newest, statSync(p).mtimeMs);
      }
    };
    walk(path.join(root, 'src'));
    if (newest <= built) return { args: [path.join(root, 'bin/meshshift.js')], entry: 'dist/ (compiled)' };
  }
  const out = mkdtempSync(path.join(os.tmpdir(), 'meshshift-sbench-build-'));
  process.on('exit', () => rmSync(out, { recursive: true, force: true }));
  execFileSync(
    process.execPath,
    [
      path.join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      path.join(root, 'tsconfig.build.json'),
      '--outDir',
      out,
    ],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  // tsc copies no Lua: the store's scripts go next to the compiled store, as `npm run build` puts them.
  cpSync(path.join(root, 'src/store/lua'), path.join(out, 'src/store/lua'), { recursive: true });
  writeFileSync(path.join(out, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(path.join(root, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  const entry = path.join(out, 'entry.mjs');
  writeFileSync(
    entry,
    `import { main } from ${JSON.stringify(pathToFileURL(path.join(out, 'src/cli/main.js')).href)};\nprocess.exitCode = await main(process.argv);\n`,
  );
  return { args: [entry], entry: `src compiled by tsc into ${out} (dist/ missing or older than src/)` };
}

/** `meshshift serve --role worker` run by `entryArgs`; stop(): SIGTERM, then SIGKILL after 20 s. */
export async function startWorkerChild(
  entryArgs: { args: string[]; entry: string },
  flags: string[],
  startTimeoutMs = 30_000,
): Promise<WorkerChild> {
  const child = await startServeChild({
    cli: { nodeArgs: entryArgs.args },
    args: ['--role', 'worker', ...flags],
    startTimeoutMs,
    keepStderr: 100_000,
  });
  return {
    proc: child.proc,
    pid: child.pid,
    url: child.url,
    entry: entryArgs.entry,
    stderrTail: () => child.stderr().slice(-3000),
    stop: async () => void (await child.stop(20_000)),
  };
}

/** Sum of every sample of `name` (any labels) in a Prometheus text exposition. */
export function metricSum(text: string, name: string, labelFilter?: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter && !labelFilter.test(line)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}
