/**
 * `npm test` sets itself up: the suite needs the real `prometheus` and `redis-server`. When one is missing and we
 * are root on Debian/Ubuntu with apt-get, install both quietly, once, saying so in one line; otherwise stop before
 * any test with the one command to run. The decision is a pure function of the facts gathered here.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { findPrometheusBinary } from '../../src/sim/prometheus.js';
import { findRedisBinary } from '../../src/sim/redis.js';

/** The binaries the suite starts, and the Debian package each comes from. */
export const REQUIRED_TOOLS = [
  { binary: 'prometheus', pkg: 'prometheus', env: 'PROMETHEUS_BIN' },
  { binary: 'redis-server', pkg: 'redis-server', env: 'REDIS_SERVER_BIN' },
] as const;

export interface ToolFacts {
  /** Binaries not found (PATH, or the *_BIN override). */
  missing: string[];
  isRoot: boolean;
  /** `ID` and `ID_LIKE` of /etc/os-release, lowercase (empty when unreadable). */
  osIds: string[];
  hasAptGet: boolean;
}

export type ToolDecision =
  | { action: 'ready' }
  | { action: 'install'; packages: string[]; command: string; announce: string }
  | { action: 'fail'; message: string };

const APT_OS = new Set(['debian', 'ubuntu']);

export function decideToolSetup(f: ToolFacts): ToolDecision {
  if (f.missing.length === 0) return { action: 'ready' };
  const packages = REQUIRED_TOOLS.filter((t) => f.missing.includes(t.binary)).map((t) => t.pkg);
  const list = packages.join(' ');
  const apt = `apt-get update -qq && apt-get install -y -qq --no-install-recommends ${list}`;
  const what = `${f.missing.join(' and ')} ${f.missing.length === 1 ? 'is' : 'are'} missing`;
  const debian = f.osIds.some((id) => APT_OS.has(id));
  if (debian && f.hasAptGet && f.isRoot) {
    return {
      action: 'install',
      packages,
      command: apt,
      announce: `meshshift tests: ${what}; installing ${list} with apt-get (once, ~15 s)…`,
    };
  }
  const overrides = REQUIRED_TOOLS.filter((t) => f.missing.includes(t.binary))
    .map((t) => `${t.env}=/path/to/${t.binary}`)
    .join(' ');
  const run =
    debian && f.hasAptGet
      ? `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${list}`
      : `install ${list} with your package manager (e.g. brew install ${packages.map((p) => (p === 'redis-server' ? 'redis' : p)).join(' ')})`;
  return {
    action: 'fail',
    message: `meshshift tests need the real ${list}: ${what}. Run:\n  ${run}\nthen npm test again (or set ${overrides}).`,
  };
}

function isFound(find: () => string): boolean {
  try {
    find();
    return true;
  } catch {
    return false;
  }
}

function osIds(): string[] {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const value = (key: string): string[] => {
      const m = new RegExp(`^${key}=(.*)$`, 'm').exec(text);
      return (m?.[1] ?? '')
        .replace(/^["']|["']$/g, '')
        .toLowerCase()
        .split(/\s+/)
        .filter(Boolean);
    };
    return [...value('ID'), ...value('ID_LIKE')];
  } catch {
    return [];
  }
}

function onPath(binary: string): boolean {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
  return r.status === 0;
}

export function gatherToolFacts(): ToolFacts {
  const finders: Record<string, () => string> = {
    prometheus: findPrometheusBinary,
    'redis-server': findRedisBinary,
  };
  return {
    missing: REQUIRED_TOOLS.map((t) => t.binary).filter((b) => !isFound(finders[b] as () => string)),
    isRoot: process.getuid?.() === 0,
    osIds: osIds(),
    hasAptGet: onPath('apt-get'),
  };
}

/** Makes sure the tools are there (installing them when allowed); throws with the command to run otherwise. */
export function ensureTestTools(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  const decision = decideToolSetup(gatherToolFacts());
  if (decision.action === 'ready') return;
  if (decision.action === 'fail') throw new Error(decision.message);
  log(decision.announce);
  const r = spawnSync('/bin/sh', ['-c', decision.command], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0) {
    throw new Error(
      `installing ${decision.packages.join(' ')} failed (exit ${r.status ?? r.signal}): ${`${r.stdout}${r.stderr}`.slice(-2000)}`,
    );
  }
  const still = gatherToolFacts().missing;
  if (still.length > 0) throw new Error(`apt-get finished but ${still.join(' and ')} is still not on PATH`);
}
