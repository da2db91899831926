/** What one decisions-benchmark run records, and how policies are named. */

/** A policy to bench: a name from policies/, or an inline spec (the fields under `spec:`) as YAML. */
export interface PolicyRef {
  label: string;
  policy: string;
}

/**
 * The route a run moves: an Istio VirtualService with DestinationRule subsets on sidecars (the default), or a
 * Gateway API HTTPRoute (GAMMA) in ambient mode, metrics from the waypoint.
 */
export type BenchRoute = 'virtualservice' | 'httproute-ambient';

export const BENCH_ROUTES: readonly BenchRoute[] = ['virtualservice', 'httproute-ambient'];

/** The policy label of a run on an HTTPRoute: its own cell in the tables, apart from the VirtualService runs. */
export const routePolicyLabel = (policy: string, route: BenchRoute | undefined): string =>
  route === 'httproute-ambient' ? `${policy} @httproute` : policy;

export type Outcome = 'completed' | 'rolledBack' | 'paused' | 'aborted' | 'failed' | 'timeout';

export interface RunRow {
  scenario: string;
  family: 'healthy' | 'regression' | 'low-traffic';
  policy: string;
  seed: number;
  /** Absent in results written before HTTPRoute runs existed: a VirtualService. */
  route?: BenchRoute;
  outcome: Outcome;
  /** How the run ended, in the engine's words: the rollback or pause reason, else the last verdict. */
  reason: string;
  /**
   * The traffic drawn for this seed: requests per second and the VMs' (and a healthy container's) error rate
   * (absent in results written before they were recorded).
   */
  rps?: number;
  baseErrorRate?: number;
  /**
   * The healthy containers' error rate as drawn (the VMs' × 0.9–1.05: containers may legitimately differ a little;
   * above the VMs' rate a run is outside `maxIncreaseOverSource: 0`'s null). Absent before 2026-12-07.
   */
  targetErrorRate?: number;
  regression: boolean;
  /** Virtual ms from the run's start to the regression's start; null when none was injected. */
  injectedAtMs: number | null;
  /** Virtual ms from the regression's start to the rollback write; null when not rolled back. */
  detectionMs: number | null;
  /** Virtual ms from the regression's start to when an oracle could tell (error regressions; traffic-loop.ts). */
  oracleMs?: number | null;
  /** Highest weight the container served while regressed, when it was rolled back. */
  weightAtDetection: number | null;
  maxWeightRegressed: number | null;
  /**
   * Expected excess bad requests (failed or > 100 ms, beyond the VMs' rates) from the regressed containers within
   * HARM_HORIZON_MS (2 h) of the start: during the run at the weights served, then the final state held (a
   * promoted build serves 100 %, a rolled-back one 0 %, a paused one its last weight). See harm.ts.
   */
  harmed: number;
  /** The part of the expected excess bad requests served while the run lasted (whole run, not cut at 2 h). */
  harmedDuringRun: number;
  /** The part after the run's end, up to the horizon. */
  harmedAfterRun: number;
  /** Container requests served while regressed. */
  exposed: number;
  approvals: number;
  virtualMs: number;
  /** When the weight reached 100 % (the promotion write), from the start; null when it never did. */
  promotedMs?: number | null;
  /**
   * Per sequential check, the highest ln e-value its evidence reached during the run and ln of the e-value that
   * fails it (absent in results written before it was recorded). See ville.ts.
   */
  maxEvidence?: Record<string, { logE: number; level: number }>;
  wallMs: number;
  queries: number;
  weights: number[];
  timeline: Array<{ t: number; weight: number }>;
}
