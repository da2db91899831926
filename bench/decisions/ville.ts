/**
 * A direct check of the judge's guarantee on healthy traffic (Ville's inequality). Each sequential check's
 * evidence is meant to be an e-process under its null: the chance that it EVER reaches e ≥ x during a migration
 * is at most 1/x. False rollbacks (e ≥ 1/α_check, ≈ 500–2,000) are too rare to measure that with a few hundred
 * runs, but how often a healthy run's evidence reached 20 or 100 is not: above 5 % or 1 % (by the 95 % lower
 * bound) the noise breaks the method's assumptions, whatever the false-rollback count says. Healthy scenarios
 * sit on the comparisons' null boundary (equal rates), where the bound is closest to tight.
 */
import type { CheckResult } from '../../src/gate/types.js';
import { pct, wilson95, type Rate } from './report.js';
import type { RunRow } from './results.js';

export type MaxEvidence = NonNullable<RunRow['maxEvidence']>;

/** Folds one verdict's checks into the run's maxima. */
export function recordEvidence(max: MaxEvidence, checks: readonly CheckResult[]): void {
  for (const c of checks) {
    if (c.logEvidence === undefined || c.logLevel === undefined) continue;
    const seen = max[c.name];
    if (!seen || c.logEvidence > seen.logE) max[c.name] = { logE: c.logEvidence, level: c.logLevel };
  }
}

/** The e-values the table counts, with Ville's bound on the share of healthy runs that may reach them. */
export const VILLE_MARKS = [20, 100] as const;

export interface VilleRow {
  scenario: string;
  policy: string;
  runs: number;
  /** The check whose evidence most often reached the first mark. */
  worst: string;
  /** Share of runs in which that check reached each mark. */
  reached: Rate[];
  /** Share of runs in which any check reached each mark (Ville bounds each check, not their union). */
  anyReached: Rate[];
  /** Some check reached some mark more often than Ville allows (95 % lower bound above 1/mark). */
  broken: boolean;
}

/** One row per healthy cell (scenario × policy) whose runs recorded their evidence. */
export function villeRows(rows: readonly RunRow[]): VilleRow[] {
  const cells = new Map<string, RunRow[]>();
  for (const r of rows) {
    if (r.family !== 'healthy' || !r.maxEvidence) continue;
    const key = `${r.scenario}\u0000${r.policy}`;
    cells.set(key, [...(cells.get(key) ?? []), r]);
  }
  return [...cells.values()].map((runs) => {
    const names = [...new Set(runs.flatMap((r) => Object.keys(r.maxEvidence ?? {})))].sort();
    const hits = (name: string | undefined, x: number) =>
      runs.filter((r) =>
        Object.entries(r.maxEvidence ?? {}).some(
          ([n, m]) => (name === undefined || n === name) && m.logE >= Math.log(x),
        ),
      ).length;
    const worst = names.reduce(
      (a, n) => (hits(n, VILLE_MARKS[0]) > hits(a, VILLE_MARKS[0]) ? n : a),
      names[0] ?? '-',
    );
    return {
      scenario: runs[0]!.scenario,
      policy: runs[0]!.policy,
      runs: runs.length,
      worst,
      reached: VILLE_MARKS.map((x) => wilson95(hits(worst, x), runs.length)),
      anyReached: VILLE_MARKS.map((x) => wilson95(hits(undefined, x), runs.length)),
      broken: names.some((n) => VILLE_MARKS.some((x) => wilson95(hits(n, x), runs.length).low > 1 / x)),
    };
  });
}

const share = (r: Rate) => `${r.k}/${r.n} ${pct(r)}`;

/** The markdown table, or '' when no healthy run recorded its evidence. */
export function formatVille(rows: readonly RunRow[]): string {
  const v = villeRows(rows);
  if (!v.length) return '';
  const head = [
    '| scenario | policy | runs | check reaching e ≥ 20 most often | e ≥ 20 (Ville ≤ 5 %) | e ≥ 100 (≤ 1 %) | any check ≥ 20 | any ≥ 100 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const body = v.map(
    (r) =>
      `| ${r.scenario} | ${r.policy} | ${r.runs} | ${r.worst} | ${r.reached.map(share).join(' | ')} | ${r.anyReached.map(share).join(' | ')} |`,
  );
  const broken = v.filter((r) => r.broken);
  const verdict = broken.length
    ? `Guarantee broken (95 % lower bound above Ville's bound) in: ${broken.map((r) => `${r.scenario} (${r.policy})`).join(', ')}.`
    : "No cell shows a check's evidence reaching 20 or 100 more often than Ville's bound allows (95 % lower bound).";
  return [
    "## Ville check: how far healthy runs' evidence went",
    '',
    'Each check is an e-process under its null only if the noise fits the method: then at most 1/x of healthy migrations ever see e ≥ x. Judged per check, by the 95 % Wilson lower bound.',
    '',
    ...head,
    ...body,
    '',
    verdict,
    '',
  ].join('\n');
}
