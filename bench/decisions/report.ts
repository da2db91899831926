/**
 * Aggregates decisions-benchmark runs per scenario × policy: rates with 95 % Wilson intervals, detection weight
 * and time, harm, and the harm ratio against flagger-defaults on identical seeds; the issue's targets; charts.
 * Harm is the expected excess bad requests within HARM_HORIZON_MS of the start (harm.ts).
 */
import { normalQuantile } from '../../src/gate/stats/stats.js';
import { HARM_DEFINITION } from './harm.js';
import type { RunRow } from './results.js';

export interface Rate {
  k: number;
  n: number;
  rate: number;
  low: number;
  high: number;
}

/** Two-sided 95 % Wilson score interval. */
export function wilson95(k: number, n: number): Rate {
  if (n === 0) return { k, n, rate: NaN, low: 0, high: 1 };
  const z = normalQuantile(0.975);
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { k, n, rate: p, low: Math.max(0, c - h), high: Math.min(1, c + h) };
}

export interface Cell {
  scenario: string;
  family: RunRow['family'];
  policy: string;
  runs: number;
  outcomes: Record<string, number>;
  /** Healthy family: any rollback. Regressions: rollbacks (detections). */
  falseRollback: Rate;
  detection: Rate;
  /** Rolled back before the containers reached 50 % / 100 %. */
  detectedBefore50: Rate;
  detectedBefore100: Rate;
  weightAtDetectionP50: number | null;
  detectionMsP50: number | null;
  /** Detection minus the oracle's time (traffic-loop.ts ORACLE_LEVEL), over detected runs the oracle could tell. */
  oracleLagMsP50: number | null;
  /** Share of those runs detected within one analysis interval (10 s) of the oracle. */
  withinIntervalOfOracle: Rate;
  harmedMean: number;
  /** Mean of the part of the harm served while the run lasted (the rest is the final state held to 2 h). */
  harmedDuringRunMean: number;
  /** Σ harm of this policy ÷ Σ harm of flagger-defaults over the seeds both ran (null: see harmRatioNote). */
  harmRatioVsFlagger: number | null;
  /** Why a regression cell has no harm ratio (e.g. the reference harmed no request: nothing to compare). */
  harmRatioNote: string | null;
  /** 95 % bootstrap interval of the harm ratio (seeds resampled in pairs). */
  harmRatioCi: [number, number] | null;
  wallMsP50: number;
  virtualMsP50: number;
  /** Time to complete, over the completed runs (healthy cost). */
  completeMsP50: number | null;
  completeMsP95: number | null;
  /** Time to 100 % (the promotion write) over the completed runs: the watch after it is the rest. */
  promotedMsP50: number | null;
  /** Runs that ended paused (a human was needed). */
  paused: Rate;
  /**
   * The same among the runs whose drawn traffic lies where the issue sets the pause target (≥ 100 req/s and
   * ≥ 0.1 % base errors; see inPauseDomain); null when none does.
   */
  pausedInDomain: Rate | null;
}

/** Scenarios whose design is to pause (Prometheus goes away: missing evidence must stop the migration). */
const PAUSE_BY_DESIGN = new Set(['outage']);
/** Scenarios wholly outside the pause target's domain, for results written before runs recorded their traffic. */
const PAUSE_EXEMPT_BEFORE = new Set(['vms-zero-errors', 'vms-near-zero']);

/**
 * Whether a run's pause counts against the issue's target ("healthy pauses ≤ 1 % at ≥ 100 req/s and ≥ 0.1 % base
 * errors"): judged on the traffic drawn for its seed (a scenario such as low-base-errors draws on both sides of
 * 0.1 %), never for a scenario designed to pause.
 */
export function inPauseDomain(r: RunRow): boolean {
  if (PAUSE_BY_DESIGN.has(r.scenario)) return false;
  if (r.rps === undefined || r.baseErrorRate === undefined) return !PAUSE_EXEMPT_BEFORE.has(r.scenario);
  return r.rps >= 100 && r.baseErrorRate >= 0.001;
}

const pausedOf = (g: readonly RunRow[]): Rate =>
  wilson95(g.filter((r) => r.outcome === 'paused').length, g.length);

/** Below this reference harm (expected requests over the paired seeds) a ratio compares nothing but rounding. */
export const MIN_REFERENCE_HARM = 1;

const NO_HARM_NOTE = 'no harm to compare';

function harmRatio(
  regression: boolean,
  paired: number,
  own: number,
  ref: number,
  reference: string,
): { ratio: number | null; note: string | null } {
  if (!regression) return { ratio: null, note: null };
  if (paired === 0) return { ratio: null, note: `no seeds shared with ${reference}` };
  if (ref < MIN_REFERENCE_HARM)
    return {
      ratio: null,
      note: `${NO_HARM_NOTE}: ${reference} harms ${ref.toFixed(2)} expected requests on these seeds (the regression adds no bad requests to speak of)`,
    };
  return { ratio: own / ref, note: null };
}

const quantile = (xs: number[], q: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * q + 1e-9))]!;
};
const median = (xs: number[]) => quantile(xs, 0.5);

/** 95 % percentile-bootstrap interval of Σ own ÷ Σ ref over paired seeds (deterministic resampling). */
export function bootstrapRatio(pairs: ReadonlyArray<[number, number]>, reps = 1000): [number, number] | null {
  if (pairs.length < 2) return null;
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296;
  const ratios: number[] = [];
  for (let r = 0; r < reps; r++) {
    let own = 0;
    let ref = 0;
    for (let i = 0; i < pairs.length; i++) {
      const [o, f] = pairs[Math.floor(next() * pairs.length)]!;
      own += o;
      ref += f;
    }
    if (ref > 0) ratios.push(own / ref);
  }
  return ratios.length ? [quantile(ratios, 0.025)!, quantile(ratios, 0.975)!] : null;
}

/** Lag behind an oracle that knows both error rates: for each regressed run the oracle could tell. */
function oracleLag(g: readonly RunRow[]): Pick<Cell, 'oracleLagMsP50' | 'withinIntervalOfOracle'> {
  const told = g.filter((r) => r.oracleMs !== undefined && r.oracleMs !== null);
  const lags = told.map((r) => (r.detectionMs ?? Infinity) - r.oracleMs!);
  return {
    oracleLagMsP50: told.length ? median(lags) : null,
    withinIntervalOfOracle: wilson95(lags.filter((l) => l <= ORACLE_INTERVAL_MS).length, told.length),
  };
}

/** The default policy's analysis interval: "within one analysis interval" of the oracle. */
const ORACLE_INTERVAL_MS = 10_000;
/** One burst never decides alone: two 30-s bins of evidence, and a scrape, after the oracle at most. */
const ORACLE_LAG_MS = 75_000;

export function summarize(rows: readonly RunRow[], reference = 'flagger-defaults'): Cell[] {
  const groups = new Map<string, RunRow[]>();
  for (const r of rows)
    groups.set(`${r.scenario}|${r.policy}`, [...(groups.get(`${r.scenario}|${r.policy}`) ?? []), r]);
  const cells: Cell[] = [];
  for (const g of groups.values()) {
    const f = g[0]!;
    const outcomes: Record<string, number> = {};
    for (const r of g) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    // A failure at 100 % steps back once (gate/judge.ts): shown beside the outcomes it led to.
    const back = g.filter((r) => r.weights.some((w, i) => r.weights[i - 1] === 100 && w > 0 && w < 100));
    if (back.length) outcomes['of them stepped back'] = back.length;
    const rolled = g.filter((r) => r.outcome === 'rolledBack');
    const detected = rolled.filter((r) => r.regression && r.detectionMs !== null);
    const before = (w: number) =>
      wilson95(detected.filter((r) => (r.weightAtDetection ?? 0) < w).length, g.length);
    const ref = new Map(
      rows.filter((r) => r.scenario === f.scenario && r.policy === reference).map((r) => [r.seed, r]),
    );
    const paired = g.filter((r) => ref.has(r.seed));
    const refHarm = paired.reduce((s, r) => s + ref.get(r.seed)!.harmed, 0);
    const ownHarm = paired.reduce((s, r) => s + r.harmed, 0);
    const ratio = harmRatio(f.regression, paired.length, ownHarm, refHarm, reference);
    cells.push({
      scenario: f.scenario,
      family: f.family,
      policy: f.policy,
      runs: g.length,
      outcomes,
      falseRollback: wilson95(
        f.regression ? rolled.filter((r) => r.detectionMs === null).length : rolled.length,
        g.length,
      ),
      detection: wilson95(detected.length, g.length),
      detectedBefore50: before(50),
      detectedBefore100: before(100),
      weightAtDetectionP50: median(detected.map((r) => r.weightAtDetection ?? 0)),
      detectionMsP50: median(detected.map((r) => r.detectionMs ?? 0)),
      ...oracleLag(g),
      harmedMean: g.reduce((s, r) => s + r.harmed, 0) / g.length,
      harmedDuringRunMean: g.reduce((s, r) => s + r.harmedDuringRun, 0) / g.length,
      harmRatioVsFlagger: ratio.ratio,
      harmRatioNote: ratio.note,
      harmRatioCi:
        ratio.ratio === null ? null : bootstrapRatio(paired.map((r) => [r.harmed, ref.get(r.seed)!.harmed])),
      wallMsP50: median(g.map((r) => r.wallMs)) ?? 0,
      virtualMsP50: median(g.map((r) => r.virtualMs)) ?? 0,
      completeMsP50: median(g.filter((r) => r.outcome === 'completed').map((r) => r.virtualMs)),
      completeMsP95: quantile(
        g.filter((r) => r.outcome === 'completed').map((r) => r.virtualMs),
        0.95,
      ),
      promotedMsP50: median(
        g
          .filter((r) => r.outcome === 'completed' && typeof r.promotedMs === 'number')
          .map((r) => r.promotedMs!),
      ),
      paused: pausedOf(g),
      pausedInDomain: g.some(inPauseDomain) ? pausedOf(g.filter(inPauseDomain)) : null,
    });
  }
  return cells.sort((a, b) => a.scenario.localeCompare(b.scenario) || a.policy.localeCompare(b.policy));
}

/** A rate with its interval, in percent: "2.0 % [0.6, 7.0]". */
export const pct = (r: Rate) =>
  `${(r.rate * 100).toFixed(1)} % [${(r.low * 100).toFixed(1)}, ${(r.high * 100).toFixed(1)}]`;

export function formatTable(cells: readonly Cell[]): string {
  const head = [
    'scenario',
    'policy',
    'runs',
    'outcomes',
    'false rollback (95 % CI)',
    'detected (95 % CI)',
    'before 50 %',
    'w@det',
    't det',
    'harm (2 h)',
    'of it in run',
    'harm/flagger [95 % CI]',
    'done p50/p95 min',
    'to 100 % p50',
  ];
  const lines = cells.map((c) => [
    c.scenario,
    c.policy,
    String(c.runs),
    Object.entries(c.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
    c.family === 'regression' ? '' : pct(c.falseRollback),
    c.family === 'healthy' ? '' : pct(c.detection),
    c.family === 'healthy' ? '' : pct(c.detectedBefore50),
    c.weightAtDetectionP50 === null ? '' : `${c.weightAtDetectionP50} %`,
    c.detectionMsP50 === null ? '' : `${Math.round(c.detectionMsP50 / 1000)} s`,
    c.harmedMean.toFixed(0),
    c.family === 'healthy' ? '' : c.harmedDuringRunMean.toFixed(0),
    c.harmRatioVsFlagger !== null
      ? `${c.harmRatioVsFlagger.toFixed(2)}${c.harmRatioCi ? ` [${c.harmRatioCi[0].toFixed(2)}, ${c.harmRatioCi[1].toFixed(2)}]` : ''}`
      : c.harmRatioNote?.startsWith(NO_HARM_NOTE)
        ? `n/a: ${NO_HARM_NOTE}`
        : c.harmRatioNote
          ? 'n/a'
          : '',
    c.completeMsP50 === null
      ? ''
      : `${(c.completeMsP50 / 60_000).toFixed(1)}/${((c.completeMsP95 ?? 0) / 60_000).toFixed(1)}`,
    c.promotedMsP50 === null ? '' : (c.promotedMsP50 / 60_000).toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((x, i) => x.padEnd(widths[i]!)).join('  ');
  return [
    `${HARM_DEFINITION}. Mean per run; harm/flagger = Σ harm ÷ Σ harm of flagger-defaults on the same seeds,`,
    `n/a when flagger-defaults harms < ${MIN_REFERENCE_HARM} expected request on them (e.g. p50 +30 % with p99 unchanged makes no request bad).`,
    '',
    fmt(head),
    fmt(widths.map((w) => '-'.repeat(w))),
    ...lines.map(fmt),
  ].join('\n');
}

export interface TargetCheck {
  target: string;
  /** null: not applicable (e.g. no harm to compare). */
  met: boolean | null;
  figure: string;
}

/** The healthy family's targets: false rollbacks per scenario and pooled, and runs that needed a human. */
function healthyTargets(healthy: readonly Cell[]): TargetCheck[] {
  const out: TargetCheck[] = healthy.map((c) => ({
    target: `${c.scenario}: false rollbacks, 95 % upper bound ≤ 1 %`,
    met: c.falseRollback.high <= 0.01,
    figure: pct(c.falseRollback),
  }));
  if (!healthy.length) return out;
  const pooled = wilson95(
    healthy.reduce((a, c) => a + c.falseRollback.k, 0),
    healthy.reduce((a, c) => a + c.falseRollback.n, 0),
  );
  out.push({
    target: `healthy family pooled (${healthy.length} scenarios): false rollbacks, 95 % upper bound ≤ 0.5 %`,
    met: pooled.high <= 0.005,
    figure: pct(pooled),
  });
  for (const c of healthy) {
    const p = c.pausedInDomain;
    if (!p) continue;
    const part =
      p.n < c.runs ? ` (the ${p.n} of ${c.runs} runs drawn at ≥ 100 req/s and ≥ 0.1 % errors)` : '';
    out.push({
      target: `${c.scenario}: runs that needed a human (paused)${part}, 95 % upper bound ≤ 1 %`,
      met: p.high <= 0.01,
      figure: pct(p),
    });
  }
  return out;
}

/** The issue's targets, judged on the 95 % interval bounds (never on point estimates). */
export function targetChecks(cells: readonly Cell[], policy = 'default'): TargetCheck[] {
  const cell = (s: string) => cells.find((c) => c.scenario === s && c.policy === policy);
  const mine = cells.filter((c) => c.policy === policy);
  const out: TargetCheck[] = healthyTargets(mine.filter((c) => c.family === 'healthy'));
  const at = (s: string, label: string, r: (c: Cell) => Rate, min: number) => {
    const c = cell(s);
    if (c) out.push({ target: `${s}: ${label} (95 % lower bound)`, met: r(c).low >= min, figure: pct(r(c)) });
  };
  at('errors-2x', '2× errors rolled back before 50 % in ≥ 95 %', (c) => c.detectedBefore50, 0.95);
  at('errors-1.5x', '1.5× errors rolled back before 100 % in ≥ 80 %', (c) => c.detectedBefore100, 0.8);
  // "1.5× before 100 % ≥ 80 % (also when it starts at 50 %)": a regression that starts at 50 % must be caught at
  // 50 %, before the promotion; the post-promotion watch catching it at 100 % does not count.
  at(
    'errors-1.5x-from-50',
    '1.5× from 50 % rolled back before 100 % in ≥ 80 %',
    (c) => c.detectedBefore100,
    0.8,
  );
  at('p99-plus-30', '+30 % p99 rolled back before 50 % in ≥ 90 %', (c) => c.detectedBefore50, 0.9);
  at('p99-plus-30-mid-bucket', '+30 % p99 rolled back before 50 % in ≥ 90 %', (c) => c.detectedBefore50, 0.9);
  at('vms-zero-containers-0.5pct', 'rolled back in ≥ 95 %', (c) => c.detection, 0.95);
  const c20 = cell('errors-20x');
  if (c20)
    out.push({
      target:
        '20× errors: rolled back within two evidence bins and a scrape (75 s) of when an oracle could tell (median)',
      met: (c20.oracleLagMsP50 ?? Infinity) <= ORACLE_LAG_MS,
      figure: `median lag ${Math.round((c20.oracleLagMsP50 ?? NaN) / 1000)} s; detection ${Math.round((c20.detectionMsP50 ?? NaN) / 1000)} s after the first write (median), ${pct(c20.detection)} detected`,
    });
  for (const c of mine.filter((x) => (x.harmRatioVsFlagger ?? x.harmRatioNote) !== null))
    out.push({
      target: `${c.scenario}: harm ratio vs flagger ≤ 0.20 (95 % bootstrap upper bound)`,
      met: c.harmRatioVsFlagger === null ? null : (c.harmRatioCi?.[1] ?? Infinity) <= 0.2,
      figure:
        c.harmRatioVsFlagger === null
          ? `not applicable: ${c.harmRatioNote}`
          : `${c.harmRatioVsFlagger.toFixed(2)} [${c.harmRatioCi?.map((x) => x.toFixed(2)).join(', ') ?? 'n/a'}]`,
    });
  for (const c of mine.filter((x) => x.family === 'low-traffic'))
    out.push({
      target: `${c.scenario}: never promotes`,
      met: !c.outcomes.completed,
      figure: Object.entries(c.outcomes)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    });
  const base = cell('healthy');
  if (base?.completeMsP50 != null)
    out.push({
      target: 'healthy: median time to complete (report; compare with the previous release’s figure)',
      met: null,
      figure: `${(base.completeMsP50 / 60_000).toFixed(1)} min (p95 ${((base.completeMsP95 ?? 0) / 60_000).toFixed(1)} min)${base.promotedMsP50 != null ? `; at 100 % after ${(base.promotedMsP50 / 60_000).toFixed(1)} min, the rest is the post-promotion watch` : ''}`,
    });
  return out;
}
