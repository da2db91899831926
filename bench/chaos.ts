/**
 * `npm run chaos`: the chaos soak of issues 10 and 20 (bench/chaos-soak.ts) with its figures and invariants.
 *
 *   node --import tsx bench/chaos.ts [--migrations 100] [--seconds 240] [--seed 1] [--drain 180]
 *                                     [--redis sentinel|single] [--faults kind,kind]
 *
 * Faults go on past --seconds until every kind has happened once. Needs the built CLI (npm run build),
 * redis-server, redis-sentinel and prometheus. Exit 0 when every invariant holds, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import type { FaultKind } from './chaos-faults.js';
import { formatReport } from './chaos-report.js';
import { runSoak } from './chaos-soak.js';

const { values: argv } = parseArgs({
  options: {
    migrations: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '240' },
    seed: { type: 'string', default: '1' },
    drain: { type: 'string', default: '180' },
    redis: { type: 'string', default: 'sentinel' },
    faults: { type: 'string' },
  },
});
if (argv.redis !== 'sentinel' && argv.redis !== 'single') throw new Error('--redis: sentinel or single');
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

const report = await runSoak({
  migrations: Number(argv.migrations),
  seconds: Number(argv.seconds),
  seed: Number(argv.seed),
  drainSeconds: Number(argv.drain),
  redis: argv.redis,
  everyKind: true,
  ...(argv.faults ? { faults: argv.faults.split(',') as FaultKind[] } : {}),
  log,
});
process.stdout.write(`${formatReport(report)}\n`);
process.exitCode = report.violations.length ? 1 : 0;
