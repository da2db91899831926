/**
 * Re-prints the table and the target checks from a results JSON (or the rows of bench/results/partial.json
 * while a bench is still running):  node --import tsx bench/summarize.ts bench/results/results-….json
 */
import { readFileSync } from 'node:fs';
import type { RunRow } from './matrix.js';
import { formatTable, summarize, targetChecks } from './report.js';

const file = process.argv[2];
if (!file) {
  console.error(
    'usage: node --import tsx bench/summarize.ts <results.json | partial.json> [reference-policy]',
  );
  process.exit(2);
}
const parsed = JSON.parse(readFileSync(file, 'utf8')) as RunRow[] | { runs: RunRow[] };
const rows = (Array.isArray(parsed) ? parsed : parsed.runs).map((r) =>
  // Rows written before detection was limited to regression and burst scenarios.
  ['healthy', 'low-traffic', 'metrics-outage'].includes(r.scenario) ? { ...r, detectionMs: null } : r,
);
const summary = summarize(rows);
console.log(formatTable(summary));
const reference = process.argv[3] ?? 'flagger-defaults';
for (const policy of new Set(rows.map((r) => r.policy)))
  if (policy !== reference) for (const c of targetChecks(summary, policy, reference)) console.log(`  ${c}`);
