/**
 * npm run bench:memory — the evidence one migration holds, over a 2-hour virtual run (issue 19, item 6).
 *
 *   node --expose-gc --import tsx bench/decisions/memory.ts [--scenario healthy] [--seed 1] [--step 20m]
 *
 * One closed-loop run of the decisions bench (real Prometheus in virtual time, the real runner and provider)
 * with `policies/default.yaml` held 20 minutes at each step, so the migration lasts two hours. After every
 * verdict the provider's evidence ledger is measured as serialized JSON (final bins, raw tail, folded sums);
 * at the end, the V8 heap that 1,000 copies of the ledger's state take, per migration. Prints both over time.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { PrometheusProvider } from '../../src/gate/prometheus.js';
import { startBenchPrometheus } from './prom.js';
import { runOne } from './run-one.js';
import { scenarioByName } from './scenarios.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: argv } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'healthy' },
    seed: { type: 'string', default: '1' },
    step: { type: 'string', default: '20m' },
  },
});

/** policies/default.yaml's spec with a longer stepDuration (the migration's length is what is measured). */
function policyYaml(step: string): string {
  const text = readFileSync(path.join(root, 'policies/default.yaml'), 'utf8');
  const spec = text.slice(text.indexOf('spec:\n') + 'spec:\n'.length);
  const body = spec
    .split('\n')
    .map((l) => l.replace(/^ {2}/, ''))
    .join('\n');
  return body.replace(/^stepDuration: .*$/m, `stepDuration: ${step}`);
}

interface Point {
  minute: number;
  bytes: number;
  finalBins: number;
  heldSamples: number;
}

function heapPerCopy(state: object, copies = 1000): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return NaN;
  // V8 heap plus ArrayBuffer backing stores (a Float64Array's data lives outside the heap but counts in RSS).
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  gc();
  const before = used();
  const keep = Array.from({ length: copies }, () => structuredClone(state));
  gc();
  const after = used();
  if (keep.length !== copies) throw new Error('unreachable');
  return (after - before) / copies;
}

async function main() {
  const prom = await startBenchPrometheus();
  const startAt = Date.UTC(2026, 0, 1);
  const points: Point[] = [];
  let lastProvider: PrometheusProvider | undefined;
  const heap: Array<{ minute: number; bytes: number }> = [];
  try {
    const row = await runOne({
      scenario: scenarioByName(argv.scenario),
      policy: { label: 'default-long-steps', policy: policyYaml(argv.step) },
      seed: Number(argv.seed),
      prom,
      startAt,
      maxVirtualMs: 3 * 3600_000,
      observe: (p, at) => {
        lastProvider = p;
        const ledger = p.ledgers.ledgers().at(-1);
        if (!ledger) return;
        const minute = (at - startAt) / 60_000;
        points.push({
          minute,
          bytes: JSON.stringify(ledger.state()).length,
          finalBins: ledger.finalBins,
          heldSamples: ledger.heldSamples,
        });
        if (heap.length < Math.floor(minute / 15) + 1 && minute >= heap.length * 15)
          heap.push({ minute: Math.round(minute), bytes: heapPerCopy(ledger.state()) });
      },
    });
    console.log(
      `scenario ${row.scenario}, seed ${row.seed}: ${row.outcome} after ${(row.virtualMs / 60_000).toFixed(0)} virtual minutes, ${row.weights.join(' → ')}`,
    );
    console.log(
      '\nminute  evidence held (JSON bytes)  final bins  raw samples held  V8 heap per copy (bytes)',
    );
    for (const m of [5, 15, 30, 45, 60, 75, 90, 105, 120]) {
      const p = points.filter((x) => x.minute <= m).at(-1);
      const h = heap.filter((x) => x.minute <= m).at(-1);
      if (p)
        console.log(
          `${String(m).padStart(6)}  ${String(p.bytes).padStart(26)}  ${String(p.finalBins).padStart(10)}  ${String(p.heldSamples).padStart(16)}  ${String(Math.round(h?.bytes ?? NaN)).padStart(24)}`,
        );
    }
    const late = points.filter((p) => p.minute >= 30);
    if (late.length > 0) {
      const max = Math.max(...late.map((p) => p.bytes));
      const min = Math.min(...late.map((p) => p.bytes));
      console.log(`\nfrom minute 30 on: ${min}–${max} bytes held (max/min ${(max / min).toFixed(2)})`);
    }
    const ledger = lastProvider?.ledgers.ledgers().at(-1);
    if (!ledger) console.log('no verdicts observed');
    else {
      const parts = ledger.state() as Record<string, object | undefined>;
      const sizes = Object.entries(parts).map(([k, v]) => `${k} ${v ? Math.round(heapPerCopy(v)) : 0}`);
      console.log(`at the end, V8 heap per part (bytes): ${sizes.join(', ')}`);
    }
  } finally {
    await prom.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
