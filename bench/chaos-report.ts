/** The chaos soak's figures and violations as text. */
import type { SoakReport } from './chaos-soak.js';

export function formatReport(r: SoakReport): string {
  const f = r.figures;
  const pct = (xs: number[], q: number) =>
    xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]! : NaN;
  const aborts = [...f.abortToSourceMs].sort((a, b) => a - b);
  const lines = [
    `migrations ${f.migrations}; end phases ${JSON.stringify(f.endPhases)}; drained in ${(f.drainedInMs / 1000).toFixed(0)} s`,
    `end reasons:\n${Object.entries(f.endReasons)
      .map(([k, n]) => `  ${n} × ${k}`)
      .join('\n')}`,
    `faults injected ${JSON.stringify(f.faults)}`,
    `rollbacks completed after the first fault ${f.rollbacksAfterFaults}; still rolling back ${f.stillRollingBack}; longest rollback pending ${(f.longestRollbackPendingMs / 1000).toFixed(1)} s`,
    `abort request → cluster at 100 % source: n ${aborts.length}, median ${pct(aborts, 0.5)} ms, max ${aborts.at(-1) ?? NaN} ms`,
    `replacement workers that did not start within 30 s: ${f.workerStartFailures}`,
    `takeovers ${f.takeoversMs.length}: median ${pct(f.takeoversMs, 0.5)} ms, max ${f.takeoversMs.at(-1) ?? NaN} ms`,
    `command requests by outcome ${JSON.stringify(f.commands)}`,
    `VirtualService writes checked against the lock ${f.writesChecked} (unverifiable while Redis was down: ${f.writesUnverifiable})`,
    `Redis memory per migration ${f.redisBytesPerMigration} bytes, ${f.redisKeysPerMigration.toFixed(1)} keys`,
    r.violations.length
      ? `INVARIANTS VIOLATED (${r.violations.length}):\n${r.violations.map((v) => `  [${v.invariant}] ${v.migration ?? ''} ${v.detail}`).join('\n')}`
      : 'all invariants hold',
  ];
  return lines.join('\n');
}
