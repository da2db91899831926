/**
 * The service bench's --memory-limit: the quantity it accepts, and the limit it sets on a real memory cgroup
 * (where this machine lets the test make one: Linux, root, a memory controller — as `.ci/run` runs it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { memoryCgroup, parseMemoryLimit } from '../../bench/service/cgroup.js';

describe('parseMemoryLimit', () => {
  it('reads Kubernetes quantities and plain bytes', () => {
    expect(parseMemoryLimit('512Mi')).toBe(512 * 2 ** 20);
    expect(parseMemoryLimit('1Gi')).toBe(2 ** 30);
    expect(parseMemoryLimit('256M')).toBe(256e6);
    expect(parseMemoryLimit('268435456')).toBe(268435456);
  });
  it('names the flag and the expected form on bad input', () => {
    expect(() => parseMemoryLimit('lots')).toThrow(
      /--memory-limit lots: expected bytes or a quantity like 512Mi/,
    );
    expect(() => parseMemoryLimit('512MB')).toThrow(/--memory-limit/);
  });
});

const canCgroup =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  (existsSync('/sys/fs/cgroup/memory/cgroup.procs') ||
    (existsSync('/sys/fs/cgroup/cgroup.controllers') &&
      readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes('memory')));

describe('memoryCgroup', () => {
  // One test, two honest branches: a machine that cannot make a cgroup gets the clear error, never a skip.
  it('spawns a child under the limit where it can (Node sizes its default heap from it), else says what it needs', () => {
    const name = `meshshift-test-${process.pid}`;
    if (!canCgroup) {
      expect(() => memoryCgroup(name, 512 * 2 ** 20)).toThrow(/--memory-limit/);
      return;
    }
    const cg = memoryCgroup(name, 512 * 2 ** 20);
    try {
      const probe =
        'require("fs").readFileSync("/proc/self/cgroup","utf8")+"|"+require("v8").getHeapStatistics().heap_size_limit';
      const out = cg.around(() => execFileSync(process.execPath, ['-p', probe], { encoding: 'utf8' }));
      const [cgroups, heap] = out.trim().split('|');
      expect(cgroups).toContain(name);
      // Unconstrained, Node sizes the heap from the machine (GBs); in 512 MiB it stays below the limit.
      expect(Number(heap)).toBeLessThan(512 * 2 ** 20);
      expect(readFileSync('/proc/self/cgroup', 'utf8')).not.toContain(name);
      expect(cg.oomKills()).toBe(0);
    } finally {
      cg.remove();
    }
  });
});
