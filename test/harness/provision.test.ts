import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { buildSync } from 'esbuild';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TOOLS, TOOL_NAMES, spawnToolSync } from '../../src/sim/tools.js';
import { decideToolSetup, type ToolFacts } from './provision.js';

/** Every package of the tool list, once each, in list order. */
const ALL_PACKAGES = [...new Set(TOOL_NAMES.map((t) => TOOLS[t].pkg))].join(' ');

const facts = (over: Partial<ToolFacts>): ToolFacts => ({
  missing: ['prometheus', 'redis-server'],
  isRoot: true,
  osIds: ['debian'],
  hasAptGet: true,
  ...over,
});

describe('decideToolSetup', () => {
  it('is ready when nothing is missing, whoever we are', () => {
    expect(decideToolSetup(facts({ missing: [], isRoot: false, osIds: [] }))).toEqual({ action: 'ready' });
  });

  it('installs quietly with apt-get as root on Debian or Ubuntu, only what is missing', () => {
    const d = decideToolSetup(facts({ missing: ['prometheus'] }));
    expect(d).toMatchObject({
      action: 'install',
      packages: ['prometheus'],
      command: 'apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus',
    });
    const u = decideToolSetup(facts({ osIds: ['linuxmint', 'ubuntu', 'debian'] }));
    expect(u).toMatchObject({ action: 'install', packages: ['prometheus', 'redis-server'] });
  });

  it('stops with the sudo command when not root on Debian', () => {
    const d = decideToolSetup(facts({ isRoot: false }));
    expect(d.action).toBe('fail');
    expect(d.action === 'fail' && d.message).toContain(
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus redis-server',
    );
  });

  it('an override naming no executable stops the run: installing a package would not fix it', () => {
    const d = decideToolSetup(facts({ missing: ['chromium'], badOverrides: ['CHROMIUM_PATH=/nowhere'] }));
    expect(d).toEqual({
      action: 'fail',
      message:
        'meshshift tests: CHROMIUM_PATH=/nowhere is not an executable file: fix or unset it, then npm test again.',
    });
  });

  it('never runs apt-get elsewhere: another OS, or no apt-get', () => {
    for (const f of [facts({ osIds: ['fedora'] }), facts({ hasAptGet: false }), facts({ osIds: [] })]) {
      const d = decideToolSetup(f);
      expect(d.action).toBe('fail');
      expect(d.action === 'fail' && d.message).toMatch(
        /install prometheus redis-server with your package manager \(Debian packages: prometheus redis-server\)/,
      );
      expect(d.action === 'fail' && d.message).toContain('PROMETHEUS_BIN=/path/to/prometheus');
    }
  });

  it('one package per program list entry, once: prometheus and promtool come from one; kubectl from kubernetes-client', () => {
    const d = decideToolSetup(facts({ missing: ['promtool', 'kubectl', 'prometheus', 'chromium'] }));
    expect(d).toMatchObject({
      action: 'install',
      packages: ['prometheus', 'chromium', 'kubernetes-client'],
      announce:
        'meshshift tests: promtool, kubectl, prometheus and chromium are missing; installing prometheus chromium kubernetes-client with apt-get (once)…',
    });
  });
});

describe('the tool check in a child process (fake apt-get, PATH without prometheus)', () => {
  const ROOT = path.resolve(import.meta.dirname, '../..');
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A PATH holding only a fake apt-get that logs its arguments and "installs" each package's programs of the tool
   * list (as executables in the same dir).
   */
  function fakeAptDir(): string {
    dir = mkdtempSync(path.join(tmpdir(), 'meshshift-provision-'));
    chmodSync(dir, 0o777);
    const apt = path.join(dir, 'apt-get');
    const cases = [...new Set(TOOL_NAMES.map((t) => TOOLS[t].pkg))].map(
      (pkg) => `    ${pkg}) bins="${TOOL_NAMES.filter((t) => TOOLS[t].pkg === pkg).join(' ')}";;`,
    );
    writeFileSync(
      apt,
      [
        '#!/bin/sh',
        `echo "$*" >> "${dir}/apt.log"`,
        'if [ "$1" = install ]; then',
        '  for p in "$@"; do bins=""; case "$p" in',
        ...cases,
        '  esac',
        '  for b in $bins; do',
        `    printf '#!/bin/sh\\nexit 0\\n' > "${dir}/$b"; /bin/chmod 755 "${dir}/$b"`,
        '  done; done',
        'fi',
      ].join('\n') + '\n',
    );
    chmodSync(apt, 0o755);
    return dir;
  }

  /**
   * Runs the tool check in a child. Its code is bundled into the (world-readable) fake PATH dir first: the
   * checkout may sit in a directory only its owner can read (a `mktemp -d` clone), and "nobody" must run it.
   */
  function runCheck(pathDir: string, asNobody: boolean) {
    const main = path.join(pathDir, 'provision-main.cjs');
    buildSync({
      entryPoints: [path.join(ROOT, 'test/harness/provision-main.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: main,
      logLevel: 'warning',
    });
    chmodSync(main, 0o644);
    const opts = {
      cwd: pathDir,
      env: { PATH: pathDir, HOME: pathDir },
      encoding: 'utf8',
      timeout: 60_000,
    } as const;
    const drop = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    return asNobody
      ? spawnToolSync('setpriv', [...drop, process.execPath, main], opts)
      : spawnSync(process.execPath, [main], opts);
  }

  it('not root: stops with the one command and never calls apt-get', () => {
    const d = fakeAptDir();
    const r = runCheck(d, process.getuid?.() === 0);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${ALL_PACKAGES}\n`,
    );
    expect(existsSync(path.join(d, 'apt.log'))).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)('root on Debian: installs once, saying so in one line', () => {
    if (
      !existsSync('/etc/os-release') ||
      !/^ID(_LIKE)?=.*(debian|ubuntu)/m.test(readFileSync('/etc/os-release', 'utf8'))
    )
      throw new Error('this test runs on Debian/Ubuntu only');
    const d = fakeAptDir();
    const first = runCheck(d, false);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr.trim().split('\n')).toEqual([
      `meshshift tests: ${TOOL_NAMES.slice(0, -1).join(', ')} and ${TOOL_NAMES.at(-1)} are missing; installing ${ALL_PACKAGES} with apt-get (once)…`,
    ]);
    expect(readFileSync(path.join(d, 'apt.log'), 'utf8').trim().split('\n')).toEqual([
      'update -qq',
      `install -y -qq --no-install-recommends ${ALL_PACKAGES}`,
    ]);
    const second = runCheck(d, false);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toBe('');
    expect(readFileSync(path.join(d, 'apt.log'), 'utf8').trim().split('\n')).toHaveLength(2);
  });
});
