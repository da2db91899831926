/** One row of the service benchmark (one N) and the table it prints. */
export interface Row {
  migrations: number;
  reachedShifting: number;
  secondsToAllShifting: number | null;
  windowSeconds: number;
  rssMaxMB: number;
  rssHwmMB: number;
  rssIdleMB: number;
  /** With --memory-limit: the cgroup's limit, Node's default heap limit inside it, its peak and OOM kills. */
  cgroup?: { limitMB: number; heapLimitMB: number; peakMB: number | null; oomKills: number | null };
  /** V8 heap in use at the window's end (the worker's own meshshift_process_nodejs_heap_size_used_bytes). */
  heapUsedMB: number;
  cpuPercentOneCore: number;
  machineCpuBusyPercent: number;
  promQueriesPerTickWorker: number;
  promQueriesPerTickServer: number;
  analysesPerSecond: number;
  expectedAnalysesPerSecond: number;
  verdictsPerMigrationMin: number;
  verdictsPerMigrationExpected: number;
  migrationsMissingATick: number;
  maxGapSeconds: number;
  maxLagSeconds: number;
  verdictOutcomes: Record<string, number>;
  phasesAtEnd: Record<string, number>;
  workerJobs: number;
  exporterSeries: number;
  note?: string;
}

export function table(rows: Row[]): string {
  const head = [
    'N',
    'shifting',
    'RSS max MiB',
    'RSS idle MiB',
    'RSS peak MiB',
    'pod limit / heap limit / cgroup peak MiB, OOM kills',
    'heap used MiB',
    'CPU % 1 core',
    'machine busy %',
    'queries/tick (worker)',
    'queries/tick (prom)',
    'analyses/s (expected)',
    'min verdicts (exp.)',
    'missed a tick',
    'max lag s',
  ];
  const body = rows.map((r) => [
    String(r.migrations),
    `${r.reachedShifting}`,
    String(r.rssMaxMB),
    String(r.rssIdleMB),
    String(r.rssHwmMB),
    r.cgroup
      ? `${r.cgroup.limitMB} / ${r.cgroup.heapLimitMB} / ${r.cgroup.peakMB ?? '?'}, ${r.cgroup.oomKills ?? '?'}`
      : 'none',
    String(r.heapUsedMB),
    String(r.cpuPercentOneCore),
    String(r.machineCpuBusyPercent),
    String(r.promQueriesPerTickWorker),
    String(r.promQueriesPerTickServer),
    `${r.analysesPerSecond} (${r.expectedAnalysesPerSecond})`,
    `${r.verdictsPerMigrationMin} (${r.verdictsPerMigrationExpected})`,
    String(r.migrationsMissingATick),
    String(r.maxLagSeconds),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(fmt)].join('\n');
}
