import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { buildSync } from 'esbuild';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decideToolSetup, type ToolFacts } from './provision.js';

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

  it('never runs apt-get elsewhere: another OS, or no apt-get', () => {
    for (const f of [facts({ osIds: ['fedora'] }), facts({ hasAptGet: false }), facts({ osIds: [] })]) {
      const d = decideToolSetup(f);
      expect(d.action).toBe('fail');
      expect(d.action === 'fail' && d.message).toMatch(
        /install prometheus redis-server with your package manager/,
      );
      expect(d.action === 'fail' && d.message).toContain('PROMETHEUS_BIN=/path/to/prometheus');
    }
  });
});

describe('the tool check in a child process (fake apt-get, PATH without prometheus)', () => {
  const ROOT = path.resolve(import.meta.dirname, '../..');
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A PATH holding only a fake apt-get that logs its arguments and "installs" executables into the same dir. */
  function fakeAptDir(): string {
    dir = mkdtempSync(path.join(tmpdir(), 'meshshift-provision-'));
    chmodSync(dir, 0o777);
    const apt = path.join(dir, 'apt-get');
    writeFileSync(
      apt,
      [
        '#!/bin/sh',
        `echo "$*" >> "${dir}/apt.log"`,
        'if [ "$1" = install ]; then',
        '  for p in "$@"; do case "$p" in -*|install) ;; *)',
        `    printf '#!/bin/sh\\nexit 0\\n' > "${dir}/$p"; /bin/chmod 755 "${dir}/$p";;`,
        '  esac; done',
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
    const env: NodeJS.ProcessEnv = { PATH: pathDir, HOME: pathDir };
    const node = [process.execPath, main];
    const [cmd, ...args] = asNobody
      ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node]
      : node;
    return spawnSync(cmd as string, args, { cwd: pathDir, env, encoding: 'utf8', timeout: 60_000 });
  }

  it('not root: stops with the one command and never calls apt-get', () => {
    const d = fakeAptDir();
    const root = process.getuid?.() === 0;
    if (root && !existsSync('/usr/bin/setpriv'))
      throw new Error('setpriv (util-linux) is needed to drop root');
    const r = runCheck(d, root);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus',
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
      expect.stringMatching(/prometheus is missing; installing prometheus with apt-get/),
    ]);
    expect(readFileSync(path.join(d, 'apt.log'), 'utf8').trim().split('\n')).toEqual([
      'update -qq',
      'install -y -qq --no-install-recommends prometheus',
    ]);
    const second = runCheck(d, false);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toBe('');
    expect(readFileSync(path.join(d, 'apt.log'), 'utf8').trim().split('\n')).toHaveLength(2);
  });
});
