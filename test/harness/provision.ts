/**
 * `npm test` and `.ci/run` set themselves up from one list: every external program the suite starts is in
 * src/sim/tools.ts with its Debian package. When some are missing and we are root on Debian/Ubuntu with apt-get,
 * install their packages quietly in one apt-get run, saying so in one line; otherwise stop before any test with the
 * one command to run. The decision is a pure function of the facts gathered here.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { TOOLS, TOOL_NAMES, findTool, type ToolName } from '../../src/sim/tools.js';

export interface ToolFacts {
  /** Programs of the tool list not found (PATH, or their override variable). */
  missing: ToolName[];
  /** Override variables set to something that is not an executable (`CHROMIUM_PATH=/x`): no package fixes those. */
  badOverrides?: string[];
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
  if (f.badOverrides?.length) {
    return {
      action: 'fail',
      message: `meshshift tests: ${f.badOverrides.join(', ')} ${f.badOverrides.length === 1 ? 'is' : 'are'} not an executable file: fix or unset ${f.badOverrides.length === 1 ? 'it' : 'them'}, then npm test again.`,
    };
  }
  if (f.missing.length === 0) return { action: 'ready' };
  const packages = [...new Set(TOOL_NAMES.filter((t) => f.missing.includes(t)).map((t) => TOOLS[t].pkg))];
  const list = packages.join(' ');
  const apt = `apt-get update -qq && apt-get install -y -qq --no-install-recommends ${list}`;
  const names =
    f.missing.length === 1 ? f.missing[0] : `${f.missing.slice(0, -1).join(', ')} and ${f.missing.at(-1)}`;
  const what = `${names} ${f.missing.length === 1 ? 'is' : 'are'} missing`;
  const debian = f.osIds.some((id) => APT_OS.has(id));
  if (debian && f.hasAptGet && f.isRoot) {
    return {
      action: 'install',
      packages,
      command: apt,
      announce: `meshshift tests: ${what}; installing ${list} with apt-get (once)…`,
    };
  }
  const overrides = f.missing.map((t) => `${TOOLS[t].env}=/path/to/${t}`).join(' ');
  const run =
    debian && f.hasAptGet
      ? `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${list}`
      : `install ${f.missing.join(' ')} with your package manager (Debian packages: ${list})`;
  return {
    action: 'fail',
    message: `meshshift tests need the real ${f.missing.join(', ')}: ${what}. Run:\n  ${run}\nthen npm test again (or set ${overrides}).`,
  };
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
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(path.join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function gatherToolFacts(): ToolFacts {
  const missing = TOOL_NAMES.filter((t) => findTool(t) === undefined);
  return {
    missing,
    badOverrides: missing
      .filter((t) => process.env[TOOLS[t].env])
      .map((t) => `${TOOLS[t].env}=${process.env[TOOLS[t].env]}`),
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
