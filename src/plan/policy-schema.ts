/**
 * The Policy document: SLO thresholds, step schedule, analysis settings (zod).
 * Settings the chosen analysis method would ignore are refused with the reason, not silently dropped.
 */
import { z } from 'zod';
import { documentSchema, durationSchema } from './fields.js';

const fraction = () =>
  z
    .number({ error: 'expected a number between 0 and 1 (0.01 = 1 %)' })
    .min(0, { error: 'must be ≥ 0' })
    .max(1, { error: 'is a fraction: write 0.01 for 1 %, not 1' });

const failureThreshold = z
  .number()
  .int({ error: 'failureThreshold is a whole number of consecutive failed analyses' })
  .min(1, { error: 'failureThreshold must be at least 1' })
  .max(100);

const latencyObjective = z.strictObject({
  /** Absolute ceiling for the target subset, in milliseconds. */
  maxMs: z.number().positive({ error: 'maxMs must be a positive number of milliseconds' }).optional(),
  /** Target quantile ≤ ratio × source quantile (e.g. 1.25 = at most 25 % slower than the VMs). */
  maxRatioToSource: z
    .number()
    .min(1, { error: 'maxRatioToSource must be ≥ 1 (1.2 = 20 % slower allowed)' })
    .optional(),
  /** Window method: ignore ratio breaches smaller than this many milliseconds (default 5). */
  minDeltaMs: z.number().min(0).optional(),
  /**
   * Samples the target must have in the window before this quantile is judged (a p99 of 30 requests is just
   * their maximum). Default: max(100, 5 / (1 − q)), i.e. 500 for p99, 100 for p95 and p50. Below it the check is skipped.
   */
  minSamples: z.number().int().min(1).optional(),
  /** Window method: failed analyses that roll back (default 2). */
  failureThreshold: failureThreshold.optional(),
});
export type LatencyObjective = z.output<typeof latencyObjective>;

const customMetric = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, { error: 'custom metric names are lowercase words joined by "-"' }),
  /**
   * A PromQL expression returning one number. Placeholders: {{namespace}}, {{window}}, {{target.selector}},
   * {{source.selector}} (label matchers without braces), {{target.version}}, {{source.version}}.
   */
  query: z.string().min(1),
  min: z.number().optional(),
  max: z.number().optional(),
  failureThreshold: failureThreshold.default(1),
});
export type CustomMetric = z.output<typeof customMetric>;

/**
 * Fields the sequential method does not read: set in a policy that uses it, they would be silently ignored, so
 * they are refused with the reason (their defaults stay for the window method).
 */
const IGNORED_BY_SEQUENTIAL: ReadonlyArray<{ path: string[]; why: string }> = [
  { path: ['analysis', 'confidence'], why: 'the sequential method sets its confidence with analysis.alpha' },
  {
    path: ['analysis', 'failureCounting'],
    why: 'the sequential method has no failure counter (one crossing decides)',
  },
  { path: ['analysis', 'noData'], why: 'the sequential method treats missing data as inconclusive' },
  {
    path: ['slo', 'errorRate', 'failureThreshold'],
    why: 'one crossing of the sequential test decides (its alpha already weighs all the evidence)',
  },
  ...(['p50', 'p95', 'p99'] as const).flatMap((q) => [
    { path: ['slo', 'latency', q, 'failureThreshold'], why: 'one crossing of the sequential test decides' },
    {
      path: ['slo', 'latency', q, 'minDeltaMs'],
      why: `the sequential method tests the ${q} ratio itself (maxRatioToSource)`,
    },
  ]),
];

/** Fields only the sequential method reads: set with the window method (the default), they would do nothing. */
const SEQUENTIAL_ONLY: ReadonlyArray<{ path: string[]; why: string }> = [
  { path: ['analysis', 'detectBeforePromotion'], why: 'the window method has no power rule' },
  { path: ['analysis', 'maxBake'], why: 'the window method never holds a step waiting for evidence' },
  { path: ['analysis', 'holdWhileSuspect'], why: 'the window method has no evidence to hold on' },
];

/** Window-method settings' defaults (the sequential method refuses them; see IGNORED_BY_SEQUENTIAL). */
export const WINDOW_DEFAULTS = {
  confidence: 0.99,
  failureCounting: 'consecutive',
  noData: 'inconclusive',
  errorFailureThreshold: 1,
  latencyFailureThreshold: 2,
  minDeltaMs: 5,
} as const;

function refuseIgnored(spec: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const get = (path: readonly string[]) =>
    path.reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
      spec,
    );
  if (get(['analysis', 'method']) !== 'sequential') {
    for (const f of SEQUENTIAL_ONLY)
      if (get(f.path) !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: f.path,
          message: `${f.path.at(-1)} is only used with analysis.method sequential (${f.why}); set method: sequential or remove it`,
        });
    return;
  }
  for (const f of IGNORED_BY_SEQUENTIAL)
    if (get(f.path) !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: f.path,
        message: `${f.path.at(-1)} is not used with analysis.method sequential: ${f.why}; remove it`,
      });
}

const policySpecObject = z
  .strictObject({
    steps: z
      .array(
        z
          .number()
          .int({ error: 'step weights are whole percentages (Istio weights are integers)' })
          .min(1, { error: 'step weights are between 1 and 100' })
          .max(100, { error: 'step weights are between 1 and 100' }),
      )
      .min(1, { error: 'give at least one step, e.g. [1, 5, 10, 25, 50, 100]' })
      .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]!), {
        error: 'steps must strictly increase, e.g. [1, 5, 10, 25, 50, 100]',
      })
      .refine((s) => s[s.length - 1] === 100, {
        error: 'the last step must be 100: a migration ends with all traffic on the target',
      }),
    /** Minimum time spent at each step (bake time) before the next step may start. */
    stepDuration: durationSchema,
    analysis: z.strictObject({
      /** How often the gate is evaluated. */
      interval: durationSchema,
      /** PromQL range window for rates and quantiles. Should be ≥ 2 scrape intervals. */
      window: durationSchema,
      /** Requests the target subset must have served in a window before a pass can be trusted. */
      minRequests: z.number().int().min(0).default(100),
      /** Passing analyses needed at each step (in addition to stepDuration). */
      minPassesPerStep: z.number().int().min(1).default(1),
      /** Consecutive inconclusive analyses before the migration is paused (or rolled back). */
      inconclusiveLimit: z.number().int().min(1).default(3),
      inconclusiveAction: z.enum(['pause', 'rollback']).default('pause'),
      /**
       * Statistical confidence for error-rate decisions (Wilson score interval). 0 compares point estimates,
       * as Flagger does; 0.99 fails only when the breach is significant at 99 %.
       */
      confidence: z.number().min(0).max(0.9999).optional(),
      /** Sidecar data plane: destination or source; ambient plans always read the waypoint (reporter.ts reporterFor). */
      reporter: z.enum(['destination', 'source', 'waypoint']).default('destination'),
      /**
       * How evidence is judged. `window`: each analysis looks at the last `window` on its own (Flagger/Argo
       * style). `sequential`: anytime-valid tests on everything counted since the step started, so a check may
       * run every interval without inflating false alarms (see docs/gate.md).
       */
      method: z.enum(['window', 'sequential']).default('window'),
      /**
       * Sequential method: the false-rollback budget of a whole migration (probability that a container as good
       * as the VMs is rolled back by the statistics). Split equally between the checks (the evidence is one mixture
       * over the migration's and the steps' starts, not a budget per step).
       */
      alpha: z.number().gt(0).max(0.2).default(0.01),
      /**
       * Window method: `consecutive` — a pass clears a check's failures; `cumulative` — each check's failures add
       * up over the whole migration; `analysis` — one counter for the whole analysis, +1 for every analysis in
       * which any check failed, never reset (Flagger's `FailedChecks` against `threshold`).
       */
      failureCounting: z.enum(['consecutive', 'cumulative', 'analysis']).optional(),
      /**
       * Sequential method: the step to 100 % waits until the error comparison with the VMs could have caught a
       * regression of `errorRatio` × the VMs' error rate (at least +0.1 percentage points) with probability
       * `power`, and each latency objective has its `minSamples` at that step (and the VMs enough to place
       * theirs). Low traffic then holds (waiting, up to maxBake, then a pause) instead of promoting what it
       * could not have judged. Waived in time-compressed runs (demos, tests), which cannot gather the requests.
       */
      detectBeforePromotion: z
        .strictObject({
          errorRatio: z.number().gt(1).max(100),
          power: z.number().min(0.5).max(0.99).default(0.8),
        })
        .optional(),
      /** Window method: an empty result (no requests, NaN) is `inconclusive`, or a `failure` as in Flagger. */
      noData: z.enum(['inconclusive', 'failure']).optional(),
      /**
       * The longest a step may hold while it waits for traffic (e.g. the power to promote) before the migration
       * pauses for a human, who is told why. Unset: it waits as long as it takes (still guarded).
       */
      maxBake: durationSchema.optional(),
      /**
       * After the step to 100 %: keep analysing this long before the migration completes, holding the containers
       * to the SLO and to the VMs' error rate as measured before promotion (the VMs are still there to roll back
       * to). The 100 % step bakes for the longer of this and stepDuration.
       */
      postPromotionWatch: durationSchema.optional(),
      /**
       * Sequential method: a step whose evidence against the containers is a third of the way to a rollback (an
       * e-value at the cube root of the one that rolls back, in log terms a third of the level) holds at its
       * weight up to this long past the moment it was ready to advance (baked; at the last step, with the power
       * to promote), until the evidence clears or rolls back, instead of taking more traffic to the next step. Holding spends no alpha. Unset: a step advances once baked, whatever its evidence
       * leans to.
       */
      holdWhileSuspect: durationSchema.optional(),
    }),
    slo: z.strictObject({
      errorRate: z
        .strictObject({
          max: fraction(),
          /** Target error rate may exceed the source's by at most this much (absolute fraction). */
          maxIncreaseOverSource: fraction().optional(),
          /** Window method: failed analyses that roll back (default 1). */
          failureThreshold: failureThreshold.optional(),
          /**
           * What counts as an error: HTTP 5xx plus gRPC status ≠ 0 under HTTP 200 (default), or HTTP 5xx only
           * (Flagger's built-in request-success-rate, `response_code!~"5.*"`).
           */
          codes: z.enum(['5xx+grpc', '5xx']).optional(),
        })
        .optional(),
      latency: z
        .strictObject({
          p50: latencyObjective.optional(),
          p95: latencyObjective.optional(),
          p99: latencyObjective.optional(),
        })
        .optional(),
    }),
    metrics: z.array(customMetric).default([]),
    /** How long a step's write may fail for the API (no answer, 429, 5xx; weight held and analysed, write retried
     * 1 s … 30 s apart, never rolled back for that alone) before the migration pauses with the reason. 10m. */
    writeFailureGrace: durationSchema.default(10 * 60_000),
    /** Approval gates: after the step at this weight has passed, wait for PROMOTE before going on. */
    approvals: z.array(z.strictObject({ atWeight: z.number().int().min(1).max(99) })).default([]),
  })
  .superRefine((spec, ctx) => {
    refuseIgnored(spec, ctx);
    if (spec.analysis.window < spec.analysis.interval) {
      ctx.addIssue({
        code: 'custom',
        path: ['analysis', 'window'],
        message: 'window must be at least as long as interval, or some requests are never analysed',
      });
    }
    for (const [i, a] of spec.approvals.entries()) {
      if (!spec.steps.includes(a.atWeight)) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvals', i, 'atWeight'],
          message: `approval gate at ${a.atWeight} % is not one of the steps [${spec.steps.join(', ')}]`,
        });
      }
    }
    for (const [i, m] of spec.metrics.entries()) {
      if (m.min === undefined && m.max === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['metrics', i],
          message: 'a custom metric needs min, max or both',
        });
      }
    }
    const hasLatency = spec.slo.latency && Object.values(spec.slo.latency).some(Boolean);
    if (!spec.slo.errorRate && !hasLatency && spec.metrics.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['slo'],
        message: 'the policy checks nothing: set slo.errorRate, slo.latency or metrics',
      });
    }
    for (const [q, o] of Object.entries(spec.slo.latency ?? {})) {
      if (o && o.maxMs === undefined && o.maxRatioToSource === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['slo', 'latency', q],
          message: `${q} needs maxMs, maxRatioToSource or both`,
        });
      }
    }
  });
export const policySpecSchema = policySpecObject;
export type PolicySpec = z.output<typeof policySpecSchema>;

export const policySchema = documentSchema('Policy', policySpecSchema);
export type Policy = z.output<typeof policySchema>;
