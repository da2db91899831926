import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  TOOLS,
  TOOL_NAMES,
  findTool,
  installHint,
  requireTool,
  spawnTool,
  type ToolName,
} from '../../src/sim/tools.js';
import { spawnViolations } from './spawn-sites.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Files that may start programs without the tool list, and why. */
const EXEMPT: Record<string, string> = {
  'src/sim/tools.ts': 'the wrappers themselves: they spawn only listed programs',
  'test/harness/provision.ts': 'the installer: runs apt-get to install the listed packages',
};

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mts|js|mjs)$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)))
    .filter((f) => !f.includes('node_modules'));
}

describe('the spawn-site scan', () => {
  const scan = (code: string) => spawnViolations('x.ts', code).map((v) => v.why);

  it('accepts Node itself, listed literals and the tool wrappers', () => {
    expect(
      scan(`import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
        import * as cp from 'node:child_process';
        spawn(process.execPath, ['x']);
        spawnSync('promtool', ['check']);
        cp.execFile('redis-cli', []);
        spawnTool('redis-sentinel', []);
        chromium.launch({ executablePath: requireTool('chromium') });
        let c: ChildProcess;`),
    ).toEqual([]);
  });

  it('flags an unlisted program, a variable program, an alias, a shell and a dynamic load', () => {
    const why = scan(`import { spawn, execFile, exec as sh } from 'node:child_process';
      import { promisify } from 'node:util';
      spawn('docker', ['run']);
      const bin = '/usr/bin/kubectl';
      spawn(bin, []);
      const run = promisify(execFile);
      sh('ls | wc -l');
      spawnTool('git' as never, []);
      browser.launch({ executablePath: '/usr/bin/chromium' });
      const cp = require('node:child_process');`);
    expect(why).toEqual([
      "spawn('docker'): docker is not in the tool list",
      'spawn of a program not named in the source: use spawnTool & co.',
      'execFile used other than by a direct call: its program cannot be checked against the tool list',
      'exec runs a shell command line: use execTool',
      "spawnTool('git'): git is not in the tool list",
      "executablePath must be requireTool('<listed program>')",
      'child_process loaded dynamically or re-exported: import its functions statically',
    ]);
  });

  it('no helper, test, simulator or benchmark starts a program that is not on the list', () => {
    const files = ['test', 'src/sim', 'bench'].flatMap(tsFiles).filter((f) => !(f in EXEMPT));
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((f) =>
      spawnViolations(f, readFileSync(path.join(ROOT, f), 'utf8')).map(
        (v) => `${f}:${v.line} ${v.why} — ${v.text}`,
      ),
    );
    expect(found).toEqual([]);
  });
});

describe('the tool list', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('names each program with its Debian package and override variable', () => {
    expect(TOOL_NAMES).toEqual(
      expect.arrayContaining(['prometheus', 'redis-server', 'redis-sentinel', 'chromium', 'kubectl']),
    );
    for (const t of TOOL_NAMES) expect(TOOLS[t].pkg, t).toMatch(/^[a-z0-9][a-z0-9.+-]+$/);
    expect(TOOLS.kubectl.pkg).toBe('kubernetes-client');
    expect(installHint('redis-sentinel')).toBe(
      'apt-get update && apt-get install -y --no-install-recommends redis-sentinel',
    );
  });

  it('every listed program is here: npm test provisioned them before the first test', () => {
    expect(TOOL_NAMES.filter((t) => findTool(t) === undefined)).toEqual([]);
  });

  it('an override wins; a missing program throws with its install command; an unlisted one is refused', () => {
    vi.stubEnv('KUBECTL_BIN', process.execPath);
    expect(findTool('kubectl')).toBe(process.execPath);
    vi.stubEnv('KUBECTL_BIN', '');
    vi.stubEnv('PATH', '/nonexistent-dir');
    expect(() => requireTool('kubectl')).toThrow(
      'kubectl not found on PATH. Install it with: apt-get update && apt-get install -y --no-install-recommends kubernetes-client',
    );
    vi.stubEnv('CHROMIUM_PATH', '/nonexistent/chromium');
    expect(() => requireTool('chromium')).toThrow(
      /CHROMIUM_PATH=\/nonexistent\/chromium is not an executable file/,
    );
    const unlisted = ['docker'].join('') as ToolName; // not a literal: the scan of this file stays clean
    expect(() => spawnTool(unlisted, [])).toThrow(/docker is not in the tool list/);
  });

  it('.ci/run provisions through the same module and has no package list of its own', () => {
    const ci = readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
    expect(ci).toMatch(/node --import tsx test\/harness\/provision-main\.ts/);
    expect(ci).not.toMatch(/apt-get install/);
    for (const t of TOOL_NAMES) expect(ci, `.ci/run names ${t}`).not.toMatch(new RegExp(`\\b${t}\\b`));
  });
});
