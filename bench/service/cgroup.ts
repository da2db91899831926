/**
 * A memory cgroup for the service bench's worker child, as its pod's `resources.limits.memory` would be (Linux,
 * as root; cgroup v1 or v2). It matters for "Node's default flags": Node sizes V8's default heap from the
 * smaller of the machine's memory and the cgroup's limit, so a worker in a pod limited to 512 MiB gets a heap
 * limit of ~270 MB, while on a 25 GB host with no limit it gets ~4.3 GB and lets garbage pile up to match.
 *
 * A child joins the cgroup it is spawned from, so `around(spawn)` moves this process in, spawns synchronously,
 * and moves it straight back (charges already made stay where they were: v1 does not move them by default).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = '/sys/fs/cgroup';

export interface MemoryCgroup {
  readonly dir: string;
  readonly limitBytes: number;
  /** Runs `spawn` (which must start its child synchronously) with this process inside the cgroup. */
  around<T>(spawn: () => T): T;
  /** The most memory the cgroup's processes held at once (v1 max_usage_in_bytes, v2 memory.peak), or null. */
  peakBytes(): number | null;
  /** Times the kernel's OOM killer ran in it (v1 oom_control / v2 memory.events), or null. */
  oomKills(): number | null;
  remove(): void;
}

type Layout = { version: 1 | 2; base: string; own: string };

function layout(): Layout {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  if (v1 && existsSync(path.join(ROOT, 'memory')))
    return { version: 1, base: path.join(ROOT, 'memory'), own: v1.split(':')[2] ?? '/' };
  const v2 = lines.find((l) => l.startsWith('0::'));
  const controllers = path.join(ROOT, 'cgroup.controllers');
  if (v2 && existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('memory'))
    return { version: 2, base: ROOT, own: v2.slice(3) };
  throw new Error(
    '--memory-limit needs a memory cgroup controller (cgroup v1 memory, or v2 with memory enabled)',
  );
}

const readNumber = (file: string): number | null => {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
};

/** Creates (or reuses) `name` under this process's memory hierarchy with `limitBytes` as its hard limit. */
export function memoryCgroup(name: string, limitBytes: number): MemoryCgroup {
  const l = layout();
  const dir = path.join(l.base, name);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, l.version === 1 ? 'memory.limit_in_bytes' : 'memory.max'),
      String(limitBytes),
    );
  } catch (err) {
    throw new Error(`--memory-limit: cannot set up ${dir} (run as root): ${(err as Error).message}`);
  }
  const home = path.join(l.base, l.own, 'cgroup.procs');
  const join = (procs: string) => writeFileSync(procs, String(process.pid));
  return {
    dir,
    limitBytes,
    around(spawn) {
      join(path.join(dir, 'cgroup.procs'));
      try {
        return spawn();
      } finally {
        join(home);
      }
    },
    peakBytes: () =>
      readNumber(path.join(dir, l.version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak')),
    oomKills() {
      const file = path.join(dir, l.version === 1 ? 'memory.oom_control' : 'memory.events');
      try {
        const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
        return m ? Number(m[1]) : 0;
      } catch {
        return null;
      }
    },
    remove() {
      try {
        rmdirSync(dir);
      } catch {
        // still holds a process that has not been reaped yet; the next run reuses it
      }
    },
  };
}

/** "512Mi", "256M", "268435456" → bytes. */
export function parseMemoryLimit(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|K|M|G)?$/.exec(s.trim());
  if (!m) throw new Error(`--memory-limit ${s}: expected bytes or a quantity like 512Mi`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Math.round(Number(m[1]) * unit);
}
