/** Aggregation of benchmark runs into one row per scenario × policy, the stdout table and the SVG chart. */
import type { RunRow } from './matrix.js';

export interface SummaryRow {
  scenario: string;
  policy: string;
  runs: number;
  outcomes: Record<string, number>;
  detectionP50Ms: number | null;
  detectionMaxMs: number | null;
  harmedP50: number;
  harmedMax: number;
  harmedTotal: number;
  exposedP50: number;
  maxWeightRegressed: number | null;
  falseRollbacks: number;
  /** Rolled back after the injection (a regression, or the flapping burst). */
  caught: number;
  /** Caught without the regressed container ever getting more than 50 %. */
  caughtBy50: number;
  paused: number;
  missed: number;
  durationP50Ms: number;
  queriesP50: number;
  writesP50: number;
  approvalsPromoted: number;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1));
  return s[idx]!;
}

const p50 = (v: readonly number[]) => percentile(v, 0.5);

export function summarize(rows: readonly RunRow[]): SummaryRow[] {
  const groups = new Map<string, RunRow[]>();
  for (const r of rows) {
    const k = `${r.scenario}\u0000${r.policy}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out: SummaryRow[] = [];
  for (const g of groups.values()) {
    const first = g[0]!;
    const outcomes: Record<string, number> = {};
    for (const r of g) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    const det = g.map((r) => r.detectionMs).filter((x): x is number => x !== null);
    const mw = g.map((r) => r.maxWeightRegressed).filter((x): x is number => x !== null);
    out.push({
      scenario: first.scenario,
      policy: first.policy,
      runs: g.length,
      outcomes,
      detectionP50Ms: det.length ? p50(det) : null,
      detectionMaxMs: det.length ? Math.max(...det) : null,
      harmedP50: p50(g.map((r) => r.harmed)),
      harmedMax: Math.max(...g.map((r) => r.harmed)),
      harmedTotal: g.reduce((a, r) => a + r.harmed, 0),
      exposedP50: p50(g.map((r) => r.exposed)),
      maxWeightRegressed: mw.length ? Math.max(...mw) : null,
      // Rolled back before anything was injected is a false rollback in every scenario.
      falseRollbacks: g.filter(
        (r) => r.falseRollback || (r.outcome === 'rolledBack' && r.injectedAtMs === null),
      ).length,
      caught: g.filter((r) => r.outcome === 'rolledBack' && r.detectionMs !== null).length,
      caughtBy50: g.filter(
        (r) => r.outcome === 'rolledBack' && r.detectionMs !== null && (r.maxWeightRegressed ?? 0) <= 50,
      ).length,
      paused: g.filter((r) => r.outcome === 'paused').length,
      missed: g.filter((r) => r.missed).length,
      durationP50Ms: p50(g.map((r) => r.durationMs)),
      queriesP50: p50(g.map((r) => r.queries)),
      writesP50: p50(g.map((r) => r.writes)),
      approvalsPromoted: g.reduce((a, r) => a + r.approvalsPromoted, 0),
    });
  }
  return out;
}

const OUTCOME_ABBR: Record<string, string> = {
  completed: 'C',
  rolledBack: 'R',
  paused: 'P',
  aborted: 'A',
  failed: 'F',
  timeout: 'T',
};

const sec = (ms: number | null) => (ms === null || !Number.isFinite(ms) ? '–' : (ms / 1000).toFixed(1));

export function formatTable(summary: readonly SummaryRow[]): string {
  const header = [
    'scenario',
    'policy',
    'runs',
    'outcomes',
    'detect p50/max s',
    'harmed p50/max',
    'exposed p50',
    'max w%',
    'false RB',
    'missed',
    'dur p50 s',
    'queries',
    'writes',
  ];
  const lines = summary.map((s) => [
    s.scenario,
    s.policy,
    String(s.runs),
    Object.entries(s.outcomes)
      .map(([k, v]) => `${v}${OUTCOME_ABBR[k] ?? k}`)
      .join(' ') + (s.approvalsPromoted ? ` (+${s.approvalsPromoted} appr)` : ''),
    `${sec(s.detectionP50Ms)}/${sec(s.detectionMaxMs)}`,
    `${s.harmedP50}/${s.harmedMax}`,
    String(s.exposedP50),
    s.maxWeightRegressed === null ? '–' : String(s.maxWeightRegressed),
    String(s.falseRollbacks),
    String(s.missed),
    sec(s.durationP50Ms),
    String(s.queriesP50),
    String(s.writesP50),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [fmt(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...lines.map(fmt)].join(
    '\n',
  );
}

/** Checks of the issue's targets for one policy against a reference (flagger-defaults). */
export function targetChecks(summary: readonly SummaryRow[], policy: string, reference: string): string[] {
  const of = (scenario: string, p: string) => summary.find((s) => s.scenario === scenario && s.policy === p);
  const out: string[] = [];
  const healthy = of('healthy', policy);
  if (healthy)
    out.push(`${policy}: false rollbacks on healthy runs: ${healthy.falseRollbacks}/${healthy.runs}`);
  for (const sc of ['error-2x', 'error-5x', 'error-20x', 'p99-plus-30', 'p99-plus-100']) {
    const s = of(sc, policy);
    if (!s) continue;
    const ref = of(sc, reference);
    const ratio = ref && ref.harmedTotal > 0 ? s.harmedTotal / ref.harmedTotal : NaN;
    out.push(
      `${policy}: ${sc}: caught (rolled back) by 50 % in ${s.caughtBy50}/${s.runs}, later in ${s.caught - s.caughtBy50}, ` +
        `paused ${s.paused}, completed (missed) ${s.missed}, false rollback before the injection ${s.falseRollbacks}; ` +
        `harmed requests ${s.harmedTotal} vs ${reference} ${ref?.harmedTotal ?? '–'}` +
        `${s.falseRollbacks ? ' (ratio not meaningful: runs rolled back before the injection)' : Number.isFinite(ratio) ? ` (ratio ${ratio.toFixed(2)}, target ≤ 0.20)` : ''}`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// SVG chart: weight, error rate and p99 of the container over time, one panel per policy.
// ---------------------------------------------------------------------------------------------------------

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function polyline(points: Array<[number, number]>, color: string, width = 1.5): string {
  const segments: string[] = [];
  let cur: string[] = [];
  for (const [x, y] of points) {
    if (!Number.isFinite(y)) {
      if (cur.length) segments.push(cur.join(' '));
      cur = [];
      continue;
    }
    cur.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  }
  if (cur.length) segments.push(cur.join(' '));
  return segments
    .map((p) => `<polyline fill="none" stroke="${color}" stroke-width="${width}" points="${p}"/>`)
    .join('');
}

export function renderSvg(runs: readonly RunRow[], title: string): string {
  const W = 960;
  const panelH = 200;
  const padL = 60;
  const padR = 70;
  const top = 40;
  const gap = 50;
  const H = top + runs.length * (panelH + gap) + 20;
  const maxT = Math.max(1000, ...runs.flatMap((r) => (r.timeline ?? []).map((p) => p.t)));
  const x = (t: number) => padL + (t / maxT) * (W - padL - padR);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${padL}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${padL}" y="34" fill="#555">weight % (blue, left axis 0–100) · error rate % (red, 0–5 %) · p99 ms (green, right axis 0–300 ms) · last 1 s, from the simulator</text>`,
  ];
  runs.forEach((r, i) => {
    const y0 = top + i * (panelH + gap) + 20;
    const y = (frac: number) => y0 + panelH - Math.min(1, Math.max(0, frac)) * panelH;
    const tl = r.timeline ?? [];
    parts.push(
      `<text x="${padL}" y="${y0 - 6}" font-weight="bold">${esc(`${r.policy} — ${r.scenario}, seed ${r.seed}: ${r.outcome}${r.detectionMs !== null ? `, rollback ${(r.detectionMs / 1000).toFixed(1)} s after injection` : ''}, ${r.harmed} harmed requests`)}</text>`,
      `<rect x="${padL}" y="${y0}" width="${W - padL - padR}" height="${panelH}" fill="none" stroke="#999"/>`,
    );
    for (const g of [0, 0.25, 0.5, 0.75, 1]) {
      parts.push(
        `<line x1="${padL}" x2="${W - padR}" y1="${y(g)}" y2="${y(g)}" stroke="#eee"/>`,
        `<text x="${padL - 6}" y="${y(g) + 4}" text-anchor="end" fill="#1f5fbf">${g * 100}</text>`,
        `<text x="${W - padR + 6}" y="${y(g) + 4}" fill="#2a8a2a">${g * 300}</text>`,
      );
    }
    const steps = 5;
    for (let k = 0; k <= steps; k++) {
      const t = (maxT * k) / steps;
      parts.push(
        `<text x="${x(t)}" y="${y0 + panelH + 14}" text-anchor="middle" fill="#555">${(t / 1000).toFixed(0)} s</text>`,
      );
    }
    if (r.injectedAtT !== undefined) {
      parts.push(
        `<line x1="${x(r.injectedAtT)}" x2="${x(r.injectedAtT)}" y1="${y0}" y2="${y0 + panelH}" stroke="#b00" stroke-dasharray="4 3"/>`,
        `<text x="${x(r.injectedAtT) + 3}" y="${y0 + 12}" fill="#b00">injected</text>`,
      );
    }
    if (r.rollbackAtT !== undefined) {
      parts.push(
        `<line x1="${x(r.rollbackAtT)}" x2="${x(r.rollbackAtT)}" y1="${y0}" y2="${y0 + panelH}" stroke="#000" stroke-dasharray="2 2"/>`,
        `<text x="${x(r.rollbackAtT) + 3}" y="${y0 + 24}">rollback</text>`,
      );
    }
    parts.push(
      polyline(
        tl.map((p) => [x(p.t), y(p.weight / 100)]),
        '#1f5fbf',
        2,
      ),
      polyline(
        tl.map((p) => [x(p.t), y(p.errorRate / 0.05)]),
        '#c0392b',
      ),
      polyline(
        tl.map((p) => [x(p.t), y(p.p99Ms / 300)]),
        '#2a8a2a',
      ),
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
