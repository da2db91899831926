/**
 * Serves virtual time second by second for both sides at the weight the engine wrote, records a scrape of
 * every sidecar every `scrapeMs` (aligned to the epoch, like a real scrape loop) unless Prometheus is down,
 * and keeps the ground truth the harm measure needs: the requests the containers actually served while
 * regressed, each counted at the regressed build's expected excess bad probability.
 */
import { Rng, streamSeed } from './random.js';
import { volumeAt, type ScenarioDef } from './scenarios.js';
import { HARM_HORIZON_MS, excessBadProbability } from './harm.js';
import { SideTraffic, type Series, type SideBehaviour, type TargetTruth } from './traffic.js';
import { blipAt, scrapedAt, slotFactor, slowdownAt, type Noise } from './noise.js';

export interface TrafficLoopOptions {
  scenario: ScenarioDef;
  seed: number;
  vmLabels: Record<string, string>;
  k8sLabels: Record<string, string>;
  vm: SideBehaviour;
  scrapeMs: number;
  t0: number;
  /** This seed's noise (noise.ts); none by default. */
  noise?: Noise;
  /** A healthy container slower than the VMs by this factor (uniformly: body and tail). */
  targetSlower?: number;
  scraping: (at: number) => boolean;
  /** Who reports L7 metrics: destination sidecars (default) or, in ambient, the waypoint. */
  reporter?: 'destination' | 'waypoint';
}

const RESTART_EVERY_S = 150;
/**
 * The oracle's evidence level: ln(1/0.002), what one of the default policy's five checks needs (alpha 0.01 split
 * five ways). An oracle with the same false-alarm level and perfect knowledge of both rates is the benchmark for
 * "within one analysis interval of when the containers had served enough requests to tell".
 */
export const ORACLE_LEVEL = Math.log(1 / 0.002);

export class TrafficLoop {
  regressed = false;
  injectedAt: number | undefined;
  /** Highest weight the containers served while regressed (null before any). */
  maxRegressedWeight: number | null = null;
  readonly timeline: Array<{ t: number; weight: number }> = [];
  private readonly rng: Rng;
  /** This run's stream: the seed and the scenario (every policy meets the same traffic, scenarios their own). */
  private readonly stream: number;
  private readonly source: SideTraffic;
  private readonly target: SideTraffic;
  private readonly healthyTarget: SideBehaviour;
  /** The healthy containers' error rate as drawn for this run (the VMs' × 0.9–1.05). */
  get healthyTargetErrorRate(): number {
    return this.healthyTarget.errorRate;
  }
  /** The containers' behaviour once regressed (undefined in healthy scenarios). */
  private readonly regressedTarget: SideBehaviour | undefined;
  private readonly truthCounts: TargetTruth = { requests: 0, harmDuringRun: 0, harmWithinHorizon: 0 };
  /** Expected extra bad requests per container request of the regressed build (harm.ts). */
  readonly regressedExcess: number;

  constructor(private readonly o: TrafficLoopOptions) {
    this.stream = streamSeed(o.seed, o.scenario.name);
    this.rng = new Rng(streamSeed(this.stream, 'requests'));
    const reporter = o.reporter ?? 'destination';
    this.source = new SideTraffic({ labels: o.vmLabels, pods: 3, reporter }, this.rng);
    this.target = new SideTraffic({ labels: o.k8sLabels, pods: 2, reporter }, this.rng);
    // The containers may legitimately differ a little from the VMs.
    const errMult = 0.9 + 0.15 * this.rng.next();
    const latMult = (0.97 + 0.06 * this.rng.next()) * (o.targetSlower ?? 1);
    this.healthyTarget = {
      ...o.vm,
      errorRate: o.vm.errorRate * errMult,
      latency: {
        ...o.vm.latency,
        medianMs: o.vm.latency.medianMs * latMult,
        tailMedianMs: o.vm.latency.tailMedianMs * (o.targetSlower ?? 1),
      },
    };
    // Against the VMs' usual behaviour: shared hiccups hit both sides and are not the build's fault.
    this.regressedTarget = o.scenario.regression?.apply(this.healthyTarget);
    this.regressedExcess = this.regressedTarget
      ? excessBadProbability(this.regressedTarget, o.vm, this.healthyTarget)
      : 0;
  }

  inject(at: number): void {
    this.regressed = true;
    this.injectedAt = at;
  }

  /** When an oracle could first tell the errors apart (see ORACLE_LEVEL), at scrape resolution; epoch ms. */
  oracleAt: number | undefined;
  /** Errors the containers served while regressed (their requests: truthCounts.requests). */
  private regressedErrors = 0;

  /**
   * The oracle knows the VMs' and the regressed build's true error rates and sees what Prometheus sees (the
   * scraped counts since the regression started): it can tell once their likelihood ratio reaches ORACLE_LEVEL.
   */
  private consultOracle(at: number): void {
    if (this.oracleAt !== undefined || !this.regressed || !this.regressedTarget) return;
    const p0 = this.o.vm.errorRate;
    const p1 = this.regressedTarget.errorRate;
    if (!(p1 > p0)) return;
    const n = this.truthCounts.requests;
    const k = this.regressedErrors;
    const llr = k * Math.log(p1 / p0) + (n - k) * Math.log((1 - p1) / (1 - p0));
    if (llr >= ORACLE_LEVEL) this.oracleAt = at;
  }

  /** Deterministic per 10-second slot: a volume burst factor and whether both sides hiccup. */
  private slot(sec: number): { burst: number; hiccup: boolean } {
    const r = new Rng(streamSeed(this.stream, 'volume', Math.floor(sec / 10)));
    return { burst: Math.exp(0.4 * r.normal()), hiccup: r.next() < 0.05 };
  }

  private behaviours(sec: number): { source: SideBehaviour; target: SideBehaviour } {
    const s = this.o.scenario;
    const n = this.o.noise ?? {};
    let source = this.o.vm;
    if (s.vmDegrade)
      source = {
        ...source,
        errorRate: source.errorRate * 3,
        latency: { ...source.latency, medianMs: source.latency.medianMs * 1.3 },
      };
    let target = (this.regressed && this.regressedTarget) || this.healthyTarget;
    if (s.sharedErrorBursts && this.slot(sec).hiccup) {
      source = { ...source, errorRate: source.errorRate * 4 };
      target = { ...target, errorRate: target.errorRate * 4 };
    }
    if (this.regressed && s.leakPerHour && this.injectedAt !== undefined) {
      const hours = (this.o.t0 + sec * 1000 - this.injectedAt) / 3600_000;
      target = { ...target, errorRate: target.errorRate * (1 + s.leakPerHour * Math.max(0, hours)) };
    }
    const slot = Math.floor(sec / 10);
    const blip = blipAt(this.stream, sec, n.blips) ? (n.blips?.factor ?? 1) : 1;
    source = {
      ...source,
      errorRate: source.errorRate * blip * slotFactor(this.stream, 1, slot, n.sideSigma),
    };
    target = {
      ...target,
      errorRate: target.errorRate * blip * slotFactor(this.stream, 2, slot, n.sideSigma),
    };
    if (slowdownAt(this.stream, sec, n.slowdowns)) {
      const f = n.slowdowns?.factor ?? 1;
      const slower = (b: SideBehaviour): SideBehaviour => ({
        ...b,
        latency: { ...b.latency, medianMs: b.latency.medianMs * f, tailMedianMs: b.latency.tailMedianMs * f },
      });
      source = slower(source);
      target = slower(target);
    }
    return { source, target };
  }

  /** Serves [from, to) at `weight` % to the containers. */
  generate(from: number, to: number, weight: number): void {
    const s = this.o.scenario;
    for (let t = Math.ceil(from / 1000) * 1000; t < to; t += 1000) {
      const sec = Math.round((t - this.o.t0) / 1000);
      const rate = s.rps * volumeAt(s.volume, sec, this.slot(sec).burst);
      const n = this.rng.poisson(rate);
      const nt = this.rng.binomial(n, weight / 100);
      const b = this.behaviours(sec);
      if (s.podRestarts && sec > 0 && sec % RESTART_EVERY_S === 0)
        this.target.restartPod((sec / RESTART_EVERY_S) % 2);
      const slot = Math.floor(sec / 10);
      const pod = (side: number) => (i: number) =>
        slotFactor(this.stream, side * 100 + i, slot, this.o.noise?.podSigma);
      this.source.serve(n - nt, b.source, pod(1));
      const served = this.target.serve(nt, b.target, pod(2));
      if (this.regressed) {
        this.regressedErrors += served.errors;
        this.truthCounts.requests += nt;
        this.truthCounts.harmDuringRun += nt * this.regressedExcess;
        if (t < this.o.t0 + HARM_HORIZON_MS) this.truthCounts.harmWithinHorizon += nt * this.regressedExcess;
        if (nt > 0) this.maxRegressedWeight = Math.max(this.maxRegressedWeight ?? 0, weight);
      }
      const next = t + 1000;
      const vm = this.o.noise?.vmScrape;
      if (this.o.scraping(next)) {
        if (scrapedAt(next, vm?.everyMs ?? this.o.scrapeMs, vm?.offsetMs)) this.source.scrape(next);
        if (scrapedAt(next, this.o.noise?.podScrapeMs ?? this.o.scrapeMs)) {
          this.target.scrape(next);
          this.consultOracle(next);
        }
      }
      if (sec % 10 === 0) this.timeline.push({ t, weight });
    }
  }

  drain(): Series[] {
    return [...this.source.drain(), ...this.target.drain()];
  }

  truth(): TargetTruth {
    return { ...this.truthCounts };
  }
}
