/** The chaos soak's figures and violations as text. */
import { INVARIANTS } from './chaos-invariants.js';
import type { SoakReport } from './chaos-soak.js';

const pct = (sorted: number[], q: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
const s1 = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '-');
/** n, p50, p95, max of a list of ms. */
function spread(xs: number[]): string {
  const a = [...xs].sort((x, y) => x - y);
  return `n ${a.length}, p50 ${s1(pct(a, 0.5))}, p95 ${s1(pct(a, 0.95))}, max ${s1(a.at(-1) ?? NaN)}`;
}

export function formatReport(r: SoakReport): string {
  const f = r.figures;
  const aborts = [...f.abortToSourceMs].sort((a, b) => a - b);
  const ended: Record<string, number> = {};
  for (const h of f.holds) ended[h.ended] = (ended[h.ended] ?? 0) + 1;
  const lines = [
    `redis ${f.redisMode}; migrations ${f.migrations}; end phases ${JSON.stringify(f.endPhases)}; drained in ${(f.drainedInMs / 1000).toFixed(0)} s`,
    `end reasons:\n${Object.entries(f.endReasons)
      .map(([k, n]) => `  ${n} × ${k}`)
      .join('\n')}`,
    `faults injected ${JSON.stringify(f.faults)}`,
    `faults in order:\n${f.faultNotes.map((n) => `  ${n}`).join('\n')}`,
    `rollbacks completed after the first fault ${f.rollbacksAfterFaults}; still rolling back ${f.stillRollingBack}; longest rollback pending ${(f.longestRollbackPendingMs / 1000).toFixed(1)} s`,
    `rollback retries recorded (rollbackRetry entries) ${f.rollbackRetries}; failure → Slack: ${spread(f.rollbackSlackLagMs)}`,
    `API fault healed → rollback write (rollbacks the fault held up): ${spread(f.healToWriteMs)}`,
    `forward write holds: ${spread(f.holds.map((h) => h.ms))}; ended ${JSON.stringify(ended)}; attempts max ${Math.max(0, ...f.holds.map((h) => h.attempts))}`,
    `VirtualService requests failed by API faults ${JSON.stringify(f.faultedRequests)}`,
    `submissions by outcome ${JSON.stringify(f.submits)}; during Redis write pauses (not retried) ${JSON.stringify(f.probeSubmits)}`,
    `Slack posts ${f.slackPosts}`,
    `abort request → cluster at 100 % source: n ${aborts.length}, median ${pct(aborts, 0.5)} ms, max ${aborts.at(-1) ?? NaN} ms`,
    `replacement workers that did not start within 30 s: ${f.workerStartFailures}`,
    `takeovers ${f.takeoversMs.length}: median ${pct(f.takeoversMs, 0.5)} ms, max ${f.takeoversMs.at(-1) ?? NaN} ms`,
    `command requests by outcome ${JSON.stringify(f.commands)}`,
    `VirtualService writes checked against the lock ${f.writesChecked} (unverifiable while Redis was down: ${f.writesUnverifiable})`,
    `Redis memory per migration ${f.redisBytesPerMigration} bytes, ${f.redisKeysPerMigration.toFixed(1)} keys`,
    `invariants:\n${INVARIANTS.map((name) => {
      const n = r.violations.filter((v) => v.invariant === name).length;
      return `  ${n ? `FAIL (${n})` : 'pass'}  ${name}`;
    }).join('\n')}`,
    r.violations.length
      ? `INVARIANTS VIOLATED (${r.violations.length}):\n${r.violations.map((v) => `  [${v.invariant}] ${v.migration ?? ''} ${v.detail}`).join('\n')}`
      : 'all invariants hold',
  ];
  return lines.join('\n');
}
