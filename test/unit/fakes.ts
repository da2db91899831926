/** In-memory adapters for unit tests of the machine and runner (end-to-end tests use the real ones). */
import type { SimulatedClock } from 'xstate';
import type { MetricsProvider, SampleRequest } from '../../src/gate/input/provider.js';
import type { GateSample, SideSample } from '../../src/gate/types.js';
import { DriftError } from '../../src/mesh/errors.js';
import type { MeshAdapter, PreflightReport, SetWeightOptions, WeightWrite } from '../../src/mesh/types.js';
import { parsePlan, type ResolvedPlan } from '../../src/plan/load.js';

export class FakeMesh implements MeshAdapter {
  weight = 0;
  writes: number[] = [];
  preflightOk = true;
  /** A failed preflight is the API being unavailable (transient) rather than something found wrong. */
  preflightUnavailable = false;
  failWrites = 0;
  /** What a failing write throws (an unclassified error: an infrastructure failure for the machine). */
  writeError: () => Error = () => new Error('API server unavailable');
  constructor(private readonly clock: { now(): number }) {}
  async preflight(): Promise<PreflightReport> {
    return {
      ok: this.preflightOk,
      checks: [
        {
          id: 'fake',
          ok: this.preflightOk,
          message: this.preflightOk
            ? 'ok'
            : this.preflightUnavailable
              ? 'get serviceentry: ECONNREFUSED'
              : 'ServiceEntry is MESH_EXTERNAL',
          ...(!this.preflightOk && this.preflightUnavailable ? { transient: true } : {}),
        },
      ],
      initialWeight: this.weight,
      selectors: { source: { destination_version: 'vm' }, target: { destination_version: 'k8s' } },
      istioVersion: 'v1',
    };
  }
  async setWeight(_plan: ResolvedPlan, weight: number, opts: SetWeightOptions): Promise<WeightWrite> {
    if (this.failWrites > 0) {
      this.failWrites--;
      throw this.writeError();
    }
    if (this.weight === weight) return { at: this.clock.now(), weight, wrote: false, attempts: 1 };
    if (!opts.force && this.weight !== opts.expected)
      throw new DriftError(`found ${this.weight}, expected ${opts.expected}`, this.weight, opts.expected);
    this.weight = weight;
    this.writes.push(weight);
    return { at: this.clock.now(), weight, wrote: true, attempts: 1 };
  }
  async currentWeight() {
    return this.weight;
  }
}

export type SignalFn = (
  weight: number,
  now: number,
) => { target: Partial<SideSample>; source?: Partial<SideSample> } | Error;

export class FakeMetrics implements MetricsProvider {
  calls = 0;
  constructor(
    private readonly clock: { now(): number },
    private readonly mesh: FakeMesh,
    public signals: SignalFn,
  ) {}
  async sample(req: SampleRequest): Promise<GateSample> {
    this.calls++;
    const s = this.signals(this.mesh.weight, this.clock.now());
    if (s instanceof Error) throw s;
    const side = (p: Partial<SideSample> | undefined, n: number): SideSample => ({
      requests: n,
      errors: 0,
      latencyMs: { p50: 20, p99: 80 },
      ...p,
    });
    return {
      at: this.clock.now(),
      windowMs: req.policy.analysis.window,
      source: side(s.source, 10_000),
      target: side(s.target, 1000),
      custom: {},
      queries: 1,
    };
  }
  async recentRequests() {
    return 1000;
  }
}

export const healthy: SignalFn = () => ({ target: { requests: 1000, errors: 1 } });

export function testPlan(policyYaml: string): ResolvedPlan {
  return parsePlan(
    `apiVersion: meshshift.io/v1alpha1
kind: MigrationPlan
metadata: { name: unit }
spec:
  namespace: shop
  host: productcatalogservice.shop.svc.cluster.local
  virtualService: { name: productcatalogservice }
  source: { subset: vm, serviceEntry: productcatalogservice-vm }
  target: { subset: k8s, deployment: productcatalogservice }
  policy:
${policyYaml.replace(/^/gm, '    ')}
`,
    'unit-plan.yaml',
  );
}

export const FAST_POLICY = `steps: [10, 50, 100]
stepDuration: 30s
analysis: { interval: 10s, window: 30s, minRequests: 100, inconclusiveLimit: 3 }
slo:
  errorRate: { max: 0.01, failureThreshold: 1 }
  latency: { p99: { maxMs: 500, minSamples: 100, failureThreshold: 2 } }`;

/** Advances a SimulatedClock in small steps, letting promise-based actors settle between steps. */
export async function advance(clock: SimulatedClock, ms: number, step = 1000): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.increment(Math.min(step, ms - t));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
}
