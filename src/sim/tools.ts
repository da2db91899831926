/**
 * The one list of external programs that the tests, the simulators and the benchmarks start, each with the Debian
 * package it comes from and the variable that overrides where it is.
 *
 * - `npm test` (test/harness/global-setup.ts) and `.ci/run` (test/harness/provision-main.ts) install what is
 *   missing from this list, through test/harness/provision.ts.
 * - Helpers start these programs only through `spawnTool` / `spawnToolSync` / `execTool` here, or name a listed
 *   program literally: test/harness/tools.test.ts scans every spawn site in test/, src/sim/ and bench/ and fails on
 *   anything else. Node itself (`process.execPath`) is not an external program.
 */
import {
  execFile,
  spawn,
  spawnSync,
  type ChildProcess,
  type ExecFileOptions,
  type SpawnOptions,
  type SpawnSyncOptions,
  type SpawnSyncReturns,
} from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export interface Tool {
  /** The Debian/Ubuntu package that ships it. */
  readonly pkg: string;
  /** An environment variable naming the executable instead of PATH. */
  readonly env: string;
  /** Who starts it. */
  readonly usedBy: string;
}

export const TOOLS = {
  prometheus: {
    pkg: 'prometheus',
    env: 'PROMETHEUS_BIN',
    usedBy: 'the shared test Prometheus and the demo (src/sim/prometheus.ts), the decisions bench',
  },
  promtool: { pkg: 'prometheus', env: 'PROMTOOL_BIN', usedBy: 'the alert-rule check (test/deploy)' },
  'redis-server': {
    pkg: 'redis-server',
    env: 'REDIS_SERVER_BIN',
    usedBy: 'src/sim/redis.ts (the playground and the tests), test/harness/redis-ha.ts',
  },
  'redis-cli': {
    pkg: 'redis-tools',
    env: 'REDIS_CLI_BIN',
    usedBy: 'Redis Cluster creation (test/harness/redis-ha.ts)',
  },
  'redis-sentinel': {
    pkg: 'redis-sentinel',
    env: 'REDIS_SENTINEL_BIN',
    usedBy: 'Sentinel groups (test/harness/redis-ha.ts)',
  },
  chromium: { pkg: 'chromium', env: 'CHROMIUM_PATH', usedBy: 'the dashboard in a real browser (test/web)' },
  // Debian's package is kubernetes-client; a machine with another kubectl on PATH (e.g. the `kubectl` package,
  // which conflicts with it) uses that one and installs nothing.
  kubectl: {
    pkg: 'kubernetes-client',
    env: 'KUBECTL_BIN',
    usedBy: 'real kubectl against the test API server',
  },
  setpriv: {
    pkg: 'util-linux',
    env: 'SETPRIV_BIN',
    usedBy: 'Prometheus dies with its parent (src/sim/prometheus.ts); the provisioning test drops root',
  },
} as const satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;

export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];

export function isToolName(name: string): name is ToolName {
  return Object.hasOwn(TOOLS, name);
}

function listed(name: string): Tool {
  if (!isToolName(name)) {
    throw new Error(
      `${name} is not in the tool list (src/sim/tools.ts): add it there with its Debian package`,
    );
  }
  return TOOLS[name];
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `$<env>` when set (undefined when that is not an executable), else the first `name` on PATH. */
export function findTool(name: ToolName): string | undefined {
  const tool = listed(name);
  const fromEnv = process.env[tool.env];
  if (fromEnv) return isExecutableFile(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** The command that installs `name` on Debian/Ubuntu. */
export function installHint(name: ToolName): string {
  return `apt-get update && apt-get install -y --no-install-recommends ${listed(name).pkg}`;
}

/** The executable of `name`; throws naming the install command (tests never skip for a missing program). */
export function requireTool(name: ToolName): string {
  const found = findTool(name);
  if (found) return found;
  const { env } = listed(name);
  const fromEnv = process.env[env];
  throw new Error(
    fromEnv
      ? `${env}=${fromEnv} is not an executable file. Install ${name} with: ${installHint(name)} (or point ${env} at a ${name} binary)`
      : `${name} not found on PATH. Install it with: ${installHint(name)} (or set ${env} to a ${name} binary)`,
  );
}

/** `spawn` of a listed program (found as `requireTool` finds it). */
export function spawnTool(name: ToolName, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn(requireTool(name), args, opts);
}

/** `spawnSync` of a listed program. */
export function spawnToolSync(
  name: ToolName,
  args: readonly string[],
  opts: SpawnSyncOptions & { encoding: BufferEncoding },
): SpawnSyncReturns<string> {
  return spawnSync(requireTool(name), args, opts);
}

const execFileAsync = promisify(execFile);

/** `execFile` of a listed program: resolves with its output, rejects on a non-zero exit. */
export async function execTool(
  name: ToolName,
  args: readonly string[],
  opts: ExecFileOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const r = await execFileAsync(requireTool(name), args, { ...opts, encoding: 'utf8' });
  return { stdout: String(r.stdout), stderr: String(r.stderr) };
}
