/**
 * The decisions benchmark's scenarios: traffic and behaviour of both sides over virtual time. Pure data.
 * The VMs: p50 20 ms, p99 100 ms (log-normal, σ 0.69) with a 0.2 % slow tail, 0.5 % errors (half of them gRPC
 * status 14 with HTTP 200). A healthy container differs slightly (errors ×0.9–1.05, latency ±3 %).
 */
import type { LatencyModel, SideBehaviour } from './traffic.js';
import { uniform, type NoiseDraw } from './noise.js';
import type { Rng } from './random.js';

export const VM_LATENCY: LatencyModel = {
  medianMs: 20,
  sigma: Math.log(5) / 2.326,
  tailShare: 0.002,
  tailMedianMs: 300,
};

export function vmBehaviour(errorRate: number, latency: LatencyModel = VM_LATENCY): SideBehaviour {
  return { errorRate, grpcShare: 0.5, latency };
}

/** VMs whose p99 sits mid-bucket (≈ 170 ms, between Istio's 100 and 250 ms bounds). */
export const VM_LATENCY_P99_MID_BUCKET: LatencyModel = {
  medianMs: 30,
  sigma: Math.log(170 / 30) / 2.326,
  tailShare: 0.002,
  tailMedianMs: 400,
};

/** VMs whose median sits just under a bound (24 ms, Istio's 25 ms bound). */
export const VM_LATENCY_P50_NEAR_BOUND: LatencyModel = {
  medianMs: 24,
  sigma: Math.log(100 / 24) / 2.326,
  tailShare: 0.002,
  tailMedianMs: 300,
};

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
  /** The container's behaviour when regressed, and when the regression starts (a step weight: load-dependent). */
  regression?: { apply: (b: SideBehaviour) => SideBehaviour; at: 'first' | 'random' | number };
  /** Noise drawn per seed (noise.ts). */
  noise?: NoiseDraw;
  /** The VMs' latency (default VM_LATENCY). */
  vmLatency?: LatencyModel;
  /** Healthy containers uniformly slower by a factor drawn from this range. */
  targetSlower?: [number, number];
  /** Base error rate drawn per seed from this range (overrides baseErrorRate). */
  baseErrorRange?: [number, number];
  /** Requests per second drawn per seed from these choices (overrides rps). */
  rpsChoices?: number[];
  /** A slow leak: once regressed, the containers' error rate grows by this multiple per hour. */
  leakPerHour?: number;
}

/** The seed's draws of a scenario's ranged parameters (from their own generator, the same for every policy). */
export function drawParams(
  s: ScenarioDef,
  r: Rng,
): { rps: number; baseErrorRate: number; targetSlower: number } {
  return {
    rps: s.rpsChoices ? s.rpsChoices[Math.floor(r.next() * s.rpsChoices.length)]! : s.rps,
    baseErrorRate: s.baseErrorRange ? uniform(r, ...s.baseErrorRange) : s.baseErrorRate,
    targetSlower: s.targetSlower ? uniform(r, ...s.targetSlower) : 1,
  };
}

const errors =
  (f: number) =>
  (b: SideBehaviour): SideBehaviour => ({ ...b, errorRate: b.errorRate * f });
/** The body's p99 up by `x` with p50 unchanged: a wider body (relative to the side's own p99). */
const p99Up =
  (x: number) =>
  (b: SideBehaviour): SideBehaviour => ({
    ...b,
    latency: { ...b.latency, sigma: b.latency.sigma + Math.log(1 + x) / 2.326 },
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
  // Issue 19: traffic the judge was not built on, parameters drawn per seed.
  healthy('bursty-side-200', 'healthy; each side bursty per 10 s on its own (σ 0.3–1.0), 200 req/s', {
    noise: (r) => ({ sideSigma: uniform(r, 0.3, 1) }),
  }),
  healthy('bursty-side-2000', 'healthy; each side bursty per 10 s on its own (σ 0.3–0.8), 2,000 req/s', {
    rps: 2000,
    noise: (r) => ({ sideSigma: uniform(r, 0.3, 0.8) }),
  }),
  healthy('bursty-pod-2000', 'healthy; each pod bursty per 10 s (σ 0.5–1.2), 2,000 req/s', {
    rps: 2000,
    noise: (r) => ({ podSigma: uniform(r, 0.5, 1.2) }),
  }),
  healthy('shared-blips', 'healthy; both sides fail ×3–10 for 1–2 s together (a shared dependency)', {
    rpsChoices: [200, 2000],
    noise: (r) => ({
      blips: {
        perSecond: uniform(r, 0.002, 0.01),
        factor: uniform(r, 3, 10),
        seconds: 1 + Math.floor(r.next() * 2),
      },
    }),
  }),
  healthy(
    'scrape-phase',
    'healthy; the VMs’ scrape job 15 or 30 s, out of phase with the pods’, and shared blips',
    {
      noise: (r) => ({
        vmScrape: {
          everyMs: r.next() < 0.5 ? 15_000 : 30_000,
          offsetMs: 1000 * (1 + Math.floor(r.next() * 14)),
        },
        blips: { perSecond: 0.005, factor: uniform(r, 3, 8), seconds: 2 },
      }),
    },
  ),
  healthy(
    'shared-slowdown',
    'healthy; both sides × 1.5–6 slower for 2–6 min at random (a shared dependency)',
    {
      noise: (r) => ({
        slowdowns: {
          perMinute: uniform(r, 0.02, 0.05),
          factor: Math.exp(uniform(r, Math.log(1.5), Math.log(6))),
          minutes: 2 + Math.floor(r.next() * 5),
        },
      }),
    },
  ),
  healthy('vms-zero-errors', 'healthy; VMs and containers that never fail', { baseErrorRate: 0 }),
  healthy('vms-near-zero', 'healthy; 0.01–0.03 % errors on both sides', { baseErrorRange: [0.0001, 0.0003] }),
  healthy('low-base-errors', 'healthy; 0.05–0.2 % errors, 100–400 req/s', {
    baseErrorRange: [0.0005, 0.002],
    rpsChoices: [100, 200, 400],
  }),
  healthy('shared-breach', 'healthy; both sides at 1.3 % errors (a failing shared dependency)', {
    baseErrorRate: 0.013,
  }),
  healthy(
    'shared-breach-bursty',
    'healthy; both sides at 1.3 % errors, each bursty per 10 s (σ 0.3–0.8), 2,000 req/s',
    {
      baseErrorRate: 0.013,
      rps: 2000,
      noise: (r) => ({ sideSigma: uniform(r, 0.3, 0.8) }),
    },
  ),
  healthy('vm-p99-mid-bucket', 'healthy; the VMs’ p99 mid-bucket (≈ 170 ms)', {
    vmLatency: VM_LATENCY_P99_MID_BUCKET,
  }),
  healthy('p50-near-bound', 'healthy; the VMs’ median at 24 ms, just under the 25 ms bound', {
    vmLatency: VM_LATENCY_P50_NEAR_BOUND,
  }),
  healthy('slower-5-15', 'healthy; containers uniformly 5–15 % slower (inside a 1.2× p99 allowance)', {
    targetSlower: [1.05, 1.15],
  }),
  regression('errors-1.5x-from-50', 'errors 1.5× only from 50 % on (load-dependent)', errors(1.5), {
    regression: { apply: errors(1.5), at: 50 },
  }),
  regression('errors-2x-from-25', 'errors 2× only from 25 % on (load-dependent)', errors(2), {
    regression: { apply: errors(2), at: 25 },
  }),
  regression('errors-2x-bursty-2000', 'errors 2× under per-side bursts (σ 0.3–0.8), 2,000 req/s', errors(2), {
    rps: 2000,
    noise: (r) => ({ sideSigma: uniform(r, 0.3, 0.8) }),
  }),
  regression(
    'vms-zero-containers-0.5pct',
    'VMs never fail; containers fail 0.5 %',
    (b) => ({ ...b, errorRate: 0.005 }),
    {
      baseErrorRate: 0,
    },
  ),
  regression('slow-leak', 'errors grow from 1× by +2× per hour from the first step', errors(1), {
    leakPerHour: 2,
  }),
  regression('p99-plus-30-mid-bucket', 'p99 +30 % with the VMs’ p99 mid-bucket', p99Up(0.3), {
    vmLatency: VM_LATENCY_P99_MID_BUCKET,
  }),
  regression('p99-plus-30-from-25', 'p99 +30 % only from 25 % on', p99Up(0.3), {
    regression: { apply: p99Up(0.3), at: 25 },
  }),
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
