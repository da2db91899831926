/**
 * The scripted scenarios both drivers must play identically. Every trigger is deterministic in effect: faults are
 * injected when the API server sees the PATCH to a given weight (the same point for both drivers), commands are
 * sent when the driver itself reports a weight or a phase, and nothing depends on wall-clock races: a PAUSE
 * sent right after the write to 10 % lands during that step's bake whichever driver carries it.
 */
import type { BackendBehavior } from '../../src/sim/mesh/index.js';
import type { Control, Script } from './drivers.js';

/**
 * The error-rate SLO only (the regression scenario injects errors; a latency SLO would judge the CPU load of the
 * machine running the simulators), 1-minute bakes, 2-minute windows (6 s at the tests' time scale, so a late
 * scrape on a loaded machine is not a gap), a pause after 3 inconclusive windows, and a first step of 5 % so
 * that the containers get enough requests per window from the start.
 */
export function parityPolicy(extra = ''): string {
  return `
steps: [5, 10, 25, 50, 100]
stepDuration: 1m
analysis:
  interval: 10s
  window: 2m
  minRequests: 50
  minPassesPerStep: 2
  inconclusiveLimit: 3
slo:
  errorRate:
    max: 0.01
${extra}`;
}

export interface ParityScenario {
  name: string;
  policy: string;
  k8s?: Partial<BackendBehavior>;
  /** The lane gets its own Prometheus (and, in service mode, its own serve stack) because the script stops it. */
  ownPrometheus?: boolean;
  mtls?: boolean;
  /** Play it on a Gateway API HTTPRoute in ambient (waypoint metrics). */
  httpRoute?: boolean;
  script: () => Script;
  expected: { final: string; writes: number[] };
}

const ALL = [5, 10, 25, 50, 100];
const after = (ms: number, fn: () => unknown) => void setTimeout(() => void fn(), ms);

/** Runs `fn` the first time `pred` holds. */
function once<T>(pred: (x: T) => boolean, fn: (x: T, c: Control) => unknown): (x: T, c: Control) => void {
  let fired = false;
  return (x, c) => {
    if (fired || !pred(x)) return;
    fired = true;
    void fn(x, c);
  };
}

export const SCENARIOS: ParityScenario[] = [
  {
    name: 'healthy',
    policy: parityPolicy(),
    script: () => ({}),
    expected: { final: 'completed', writes: ALL },
  },
  {
    name: 'regression',
    policy: parityPolicy(),
    script: () => ({
      // 30 % errors on the containers from the moment 10 % is written: no analysis after it can pass.
      onPatch: once(
        (w: number) => w === 10,
        (_w, c) => c.lane.sim.setBehavior('k8s', { errorRate: 0.3 }),
      ),
    }),
    expected: { final: 'rolledBack', writes: [5, 10, 0] },
  },
  {
    name: 'httproute-regression',
    policy: parityPolicy(),
    httpRoute: true,
    script: () => ({
      onPatch: once(
        (w: number) => w === 10,
        (_w, c) => c.lane.sim.setBehavior('k8s', { errorRate: 0.3 }),
      ),
    }),
    expected: { final: 'rolledBack', writes: [5, 10, 0] },
  },
  {
    name: 'pause-resume',
    policy: parityPolicy(),
    script: () => ({
      onWeight: once(
        (w: number) => w === 10,
        (_w, c) => c.command('pause', 'parity check'),
      ),
      // PROMOTE is not possible while paused: both drivers must refuse it, with the same words.
      onPhase: once(
        (p: string) => p === 'paused',
        (_p, c) => after(500, () => c.command('promote').then(() => after(1500, () => c.command('resume')))),
      ),
    }),
    expected: { final: 'completed', writes: ALL },
  },
  {
    name: 'abort',
    policy: parityPolicy(),
    script: () => ({
      onWeight: once(
        (w: number) => w === 5,
        (_w, c) => c.command('abort', 'customer complaint'),
      ),
    }),
    expected: { final: 'aborted', writes: [5, 0] },
  },
  {
    name: 'promote-at-gate',
    policy: parityPolicy('approvals:\n  - atWeight: 25\n'),
    script: () => ({
      onPhase: once(
        (p: string) => p === 'awaitingApproval',
        (_p, c) => after(500, () => c.command('promote')),
      ),
    }),
    expected: { final: 'completed', writes: ALL },
  },
  {
    name: 'prometheus-outage',
    policy: parityPolicy(),
    ownPrometheus: true,
    script: () => {
      let stopped = false;
      return {
        onPatch: once(
          (w: number) => w === 10,
          (_w, c) => ((stopped = true), c.lane.ownPrometheus!.stop()),
        ),
        // Paused on inconclusive analyses: Prometheus comes back, an operator resumes.
        onPhase: once(
          (p: string) => p === 'paused' && stopped,
          (_p, c) =>
            after(1000, async () => {
              await c.lane.ownPrometheus!.start();
              after(3000, () => c.command('resume'));
            }),
        ),
      };
    },
    expected: { final: 'completed', writes: ALL },
  },
  {
    name: 'mtls',
    policy: parityPolicy(),
    mtls: true,
    script: () => ({}),
    expected: { final: 'completed', writes: ALL },
  },
];
