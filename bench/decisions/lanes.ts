/**
 * Runs planned benchmark runs on parallel lanes. Each lane owns a fresh Prometheus and moves forward in virtual
 * time (each run starts an hour after the previous one ended), so every series only ever moves forward.
 */
import { startBenchPrometheus } from './prom.js';
import { runOne } from './run-one.js';
import type { BenchRoute, PolicyRef, RunRow } from './results.js';
import type { ScenarioDef } from './scenarios.js';

export interface PlannedRun {
  scenario: ScenarioDef;
  policy: PolicyRef;
  seed: number;
  /** The route moved (default: a VirtualService on sidecars). */
  route?: BenchRoute;
}

/** Virtual time of a lane's first run: a fixed instant, so runs are reproducible. */
export const VIRTUAL_EPOCH = Date.UTC(2026, 0, 5, 8);

export async function runPlan(
  planned: readonly PlannedRun[],
  concurrency: number,
  progress?: (done: number, total: number) => void,
): Promise<RunRow[]> {
  const rows: RunRow[] = new Array<RunRow>(planned.length);
  let next = 0;
  let done = 0;
  const lane = async () => {
    const prom = await startBenchPrometheus();
    let startAt = VIRTUAL_EPOCH;
    try {
      for (;;) {
        const i = next++;
        const run = planned[i];
        if (!run) return;
        const row = await runOne({ ...run, prom, startAt });
        rows[i] = row;
        startAt += Math.ceil((row.virtualMs + 3600_000) / 60_000) * 60_000;
        progress?.(++done, planned.length);
      }
    } finally {
      await prom.close();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, planned.length)) }, lane));
  return rows;
}
