/**
 * The decisions benchmark's scenarios: traffic and behaviour of both sides over virtual time. Pure data.
 * The VMs: p50 20 ms, p99 100 ms (log-normal, σ 0.69) with a 0.2 % slow tail, 0.5 % errors (half of them gRPC
 * status 14 with HTTP 200). A healthy container differs slightly (errors ×0.9–1.05, latency ±3 %).
 */
import type { LatencyModel, SideBehaviour } from './traffic.js';

export const VM_LATENCY: LatencyModel = {
  medianMs: 20,
  sigma: Math.log(5) / 2.326,
  tailShare: 0.002,
  tailMedianMs: 300,
};

export function vmBehaviour(errorRate: number): SideBehaviour {
  return { errorRate, grpcShare: 0.5, latency: VM_LATENCY };
}

export type Family = 'healthy' | 'regression' | 'low-traffic';

export interface ScenarioDef {
  name: string;
  family: Family;
  description: string;
  rps: number;
  baseErrorRate: number;
  /** Traffic volume multiplier at virtual second s since the run started (diurnal ramp, bursts). */
  volume?: 'diurnal' | 'bursty' | 'flapping';
  /** Both sides' errors ×4 for 10 s at random (a shared dependency hiccup: not the container's fault). */
  sharedErrorBursts?: boolean;
  /** The VMs get worse (errors ×3, latency ×1.3): the containers must not be rolled back for it. */
  vmDegrade?: boolean;
  /** Container restarts every 150 s: counters reset. */
  podRestarts?: boolean;
  /** Prometheus unreachable (and not scraping) for this long from the second weight write. */
  outageMs?: number;
  /** The container's behaviour when regressed, and when the regression starts. */
  regression?: { apply: (b: SideBehaviour) => SideBehaviour; at: 'first' | 'random' };
}

const errors =
  (f: number) =>
  (b: SideBehaviour): SideBehaviour => ({ ...b, errorRate: b.errorRate * f });
/** p99 up by `x` with p50 unchanged: a wider body. */
const p99Up =
  (x: number) =>
  (b: SideBehaviour): SideBehaviour => ({
    ...b,
    latency: {
      ...b.latency,
      sigma:
        Math.log((VM_LATENCY.medianMs * Math.exp(2.326 * VM_LATENCY.sigma) * (1 + x)) / b.latency.medianMs) /
        2.326,
    },
  });
const p50Shift = (b: SideBehaviour): SideBehaviour => ({
  ...b,
  latency: {
    ...b.latency,
    medianMs: b.latency.medianMs * 1.3,
    sigma: Math.log(100 / (b.latency.medianMs * 1.3)) / 2.326,
  },
});
const tailOnly = (b: SideBehaviour): SideBehaviour => ({ ...b, latency: { ...b.latency, tailShare: 0.02 } });
/** One route (10 % of requests) fails 5 % of the time on top of the baseline. */
const oneRoute = (b: SideBehaviour): SideBehaviour => ({ ...b, errorRate: b.errorRate + 0.1 * 0.05 });
/** Errors doubled, and the extra ones are gRPC status 14 under HTTP 200. */
const grpcOnly = (b: SideBehaviour): SideBehaviour => ({ ...b, errorRate: b.errorRate * 2, grpcShare: 0.75 });

const base = { rps: 200, baseErrorRate: 0.005 } as const;
const healthy = (name: string, description: string, extra: Partial<ScenarioDef> = {}): ScenarioDef => ({
  name,
  family: 'healthy',
  description,
  ...base,
  ...extra,
});
const regression = (
  name: string,
  description: string,
  apply: (b: SideBehaviour) => SideBehaviour,
  extra: Partial<ScenarioDef> = {},
): ScenarioDef => ({
  name,
  family: 'regression',
  description,
  ...base,
  regression: { apply, at: 'first' },
  ...extra,
});

export const SCENARIOS: readonly ScenarioDef[] = [
  healthy('healthy', 'container as good as the VMs, 200 req/s, 0.5 % errors'),
  healthy('healthy-2000rps', 'healthy at 2,000 req/s', { rps: 2000 }),
  healthy('healthy-0.1pct', 'healthy with 0.1 % baseline errors', { baseErrorRate: 0.001 }),
  healthy('noisy', 'healthy; bursty volume and shared error hiccups on both sides', {
    volume: 'bursty',
    sharedErrorBursts: true,
  }),
  healthy('diurnal', 'healthy; traffic ramps ±50 % over 30 min', { volume: 'diurnal' }),
  healthy('vms-degrade', 'the VMs get worse (errors ×3, latency ×1.3); the container is fine', {
    vmDegrade: true,
  }),
  healthy(
    'flapping',
    'healthy; volume flaps ×0.5/×1.5 every 30 s and containers restart every 150 s (counter resets)',
    { volume: 'flapping', podRestarts: true },
  ),
  healthy('outage', 'healthy; Prometheus down and not scraping for 3 min from the second step', {
    outageMs: 180_000,
  }),
  regression('errors-1.5x', 'container errors 1.5× from the first step', errors(1.5)),
  regression('errors-2x', 'container errors 2× from the first step', errors(2)),
  regression('errors-5x', 'container errors 5×', errors(5)),
  regression('errors-20x', 'container errors 20×', errors(20)),
  regression('errors-2x-random-step', 'container errors 2× from a random step', errors(2), {
    regression: { apply: errors(2), at: 'random' },
  }),
  regression('errors-one-route', 'one route (10 % of requests) fails 5 %', oneRoute),
  regression('grpc-errors', 'errors 2×, mostly gRPC status 14 with HTTP 200', grpcOnly),
  regression('p99-plus-20', 'container p99 +20 % (p50 unchanged)', p99Up(0.2)),
  regression('p99-plus-30', 'container p99 +30 % (p50 unchanged)', p99Up(0.3)),
  regression('p99-plus-100', 'container p99 +100 % (p50 unchanged)', p99Up(1)),
  regression('p99-plus-30-random-step', 'p99 +30 % from a random step', p99Up(0.3), {
    regression: { apply: p99Up(0.3), at: 'random' },
  }),
  regression('p50-shift', 'container p50 +30 %, p99 unchanged', p50Shift),
  regression('tail-slowdown', '2 % of container requests hit a 300 ms tail (p50 unchanged)', tailOnly),
  { ...healthy('low-traffic', 'healthy at 20 req/s in total', { rps: 20 }), family: 'low-traffic' },
  {
    ...regression('low-traffic-errors-2x', 'errors 2× at 20 req/s', errors(2), { rps: 20 }),
    family: 'low-traffic',
  },
];

export function scenarioByName(name: string): ScenarioDef {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario "${name}" (known: ${SCENARIOS.map((x) => x.name).join(', ')})`);
  return s;
}

/** Traffic volume multiplier at virtual second `s` of the run. */
export function volumeAt(kind: ScenarioDef['volume'], s: number, burst: number): number {
  if (kind === 'diurnal') return 1 + 0.5 * Math.sin((2 * Math.PI * s) / 1800);
  if (kind === 'flapping') return Math.floor(s / 30) % 2 === 0 ? 0.5 : 1.5;
  if (kind === 'bursty') return burst;
  return 1;
}
