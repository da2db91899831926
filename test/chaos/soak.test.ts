/**
 * A short run of the chaos soak (npm run chaos runs the long one): a dozen migrations on two worker processes
 * for about a minute of seeded faults (on one Redis; `npm run chaos` uses a Sentinel group), then the invariants of issues 10 and 20. Needs the
 * built CLI (npm test builds first).
 */
import { describe, expect, it } from 'vitest';
import { formatReport } from '../../bench/chaos-report.js';
import { runSoak } from '../../bench/chaos-soak.js';

describe('chaos soak (short)', () => {
  it('every migration ends visibly, the cluster matches the store, no stray write, step or command', async () => {
    const report = await runSoak({
      migrations: Number(process.env.CHAOS_MIGRATIONS ?? 12),
      seconds: Number(process.env.CHAOS_SECONDS ?? 60),
      seed: Number(process.env.CHAOS_SEED ?? 7),
      drainSeconds: 90,
      // One Redis here: on a Sentinel group, failovers can lose acknowledged writes (asynchronous replication),
      // a known open defect that `npm run chaos` (Sentinel by default) reports; this check must not flake on it.
      redis: 'single',
      log: (s) => console.log(`[chaos] ${s}`),
    });
    console.log(`[figures] chaos soak\n${formatReport(report)}`);
    expect(Object.values(report.figures.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(2);
    expect(report.figures.writesChecked).toBeGreaterThan(0);
    expect(report.violations.map((v) => `[${v.invariant}] ${v.migration ?? ''} ${v.detail}`)).toEqual([]);
  }, 300_000);
});
