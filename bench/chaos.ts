/**
 * `npm run chaos`: the chaos soak of issue 10 (bench/chaos-soak.ts) with its figures and invariants.
 *
 *   node --import tsx bench/chaos.ts [--migrations 100] [--seconds 240] [--seed 1] [--drain 180]
 *
 * Needs the built CLI (npm run build), redis-server and prometheus. Exit 0 when every invariant holds, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { formatReport } from './chaos-report.js';
import { runSoak } from './chaos-soak.js';

const { values: argv } = parseArgs({
  options: {
    migrations: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '240' },
    seed: { type: 'string', default: '1' },
    drain: { type: 'string', default: '180' },
  },
});
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

const report = await runSoak({
  migrations: Number(argv.migrations),
  seconds: Number(argv.seconds),
  seed: Number(argv.seed),
  drainSeconds: Number(argv.drain),
  log,
});
process.stdout.write(`${formatReport(report)}\n`);
process.exitCode = report.violations.length ? 1 : 0;
