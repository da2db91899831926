/**
 * The MigrationPlan and Policy documents (Kubernetes-style YAML), as zod schemas.
 * Every object is strict: an unknown field is an error, so a typo never silently disables a safety check.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

export const API_VERSION = 'meshshift.io/v1alpha1';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const name = (what: string) =>
  z
    .string({ error: `expected the ${what} as a string` })
    .min(1, { error: `${what} must not be empty` })
    .max(253)
    .regex(DNS_SUBDOMAIN, {
      error: `${what} must be a lowercase DNS-1123 name (letters, digits, '-' and '.'), as Kubernetes requires`,
    });

const namespace = z
  .string({ error: 'expected the namespace as a string' })
  .regex(DNS_LABEL, { error: 'namespace must be a DNS-1123 label, e.g. "shop"' });

/** Durations are strings like "30s"; converted to milliseconds. */
export const durationSchema = z
  .string({ error: 'expected a duration string such as "30s", "1m" or "1m30s"' })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a positive duration such as "30s", "1m" or "1m30s", got ${JSON.stringify(text)}`,
      });
      return z.NEVER;
    }
    return ms;
  });

const labelMatchers = z.record(
  z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, { error: 'metric label names are [a-zA-Z_][a-zA-Z0-9_]*' }),
  z.string(),
);

const metadata = z.strictObject({
  name: name('metadata.name'),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

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
  /** Ignore ratio breaches smaller than this many milliseconds (histogram buckets are coarse). */
  minDeltaMs: z.number().min(0).default(5),
  /**
   * Samples the target must have in the window before this quantile is judged (a p99 of 30 requests is just
   * their maximum). Default: 5 / (1 − q), i.e. 500 for p99, 100 for p95, 10 for p50. Below it the check is skipped.
   */
  minSamples: z.number().int().min(1).optional(),
  failureThreshold: failureThreshold.default(2),
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

export const policySpecSchema = z
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
      confidence: z.number().min(0).max(0.9999).default(0.99),
      reporter: z.enum(['destination', 'source']).default('destination'),
    }),
    slo: z.strictObject({
      errorRate: z
        .strictObject({
          max: fraction(),
          /** Target error rate may exceed the source's by at most this much (absolute fraction). */
          maxIncreaseOverSource: fraction().optional(),
          failureThreshold: failureThreshold.default(1),
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
    /** Approval gates: after the step at this weight has passed, wait for PROMOTE before going on. */
    approvals: z.array(z.strictObject({ atWeight: z.number().int().min(1).max(99) })).default([]),
  })
  .superRefine((spec, ctx) => {
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
export type PolicySpec = z.output<typeof policySpecSchema>;

export const policySchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `apiVersion must be "${API_VERSION}"` }),
  kind: z.literal('Policy', { error: 'kind must be "Policy"' }),
  metadata,
  spec: policySpecSchema,
});
export type Policy = z.output<typeof policySchema>;

const sideFields = (role: 'source' | 'target') => ({
  /** Subset name in the DestinationRule (one host, two subsets). */
  subset: name(`spec.${role}.subset`).optional(),
  /** Destination host when the two sides are two hosts (ServiceEntry host vs the pods' Service). */
  host: name(`spec.${role}.host`).optional(),
  /** Label matchers that select this side in Istio metrics; default derived from the subset's labels or host. */
  metrics: labelMatchers.optional(),
});

const sourceSchema = z.strictObject({
  ...sideFields('source'),
  /** The ServiceEntry that puts the VMs in the mesh. */
  serviceEntry: name('spec.source.serviceEntry'),
  /** WorkloadEntries to require; default: those selected by the ServiceEntry's workloadSelector. */
  workloadEntries: z.array(name('spec.source.workloadEntries[]')).optional(),
});

const targetSchema = z.strictObject({
  ...sideFields('target'),
  /** The Deployment running the containerized twin. */
  deployment: name('spec.target.deployment'),
});

export const planSpecSchema = z
  .strictObject({
    namespace,
    /** The mesh host clients call, e.g. productcatalogservice.shop.svc.cluster.local. */
    host: name('spec.host'),
    virtualService: z.strictObject({
      name: name('spec.virtualService.name'),
      /** Name of the http route to shift, when the VirtualService has several routes to the two sides. */
      route: z.string().min(1).optional(),
      /** networking.istio.io version to use (v1, v1beta1, v1alpha3); default: the cluster's preferred one. */
      apiVersion: z.enum(['v1', 'v1beta1', 'v1alpha3']).optional(),
    }),
    source: sourceSchema,
    target: targetSchema,
    /** A policy name from policies/ (e.g. "default"), or an inline policy spec. */
    policy: z.union([
      z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { error: 'a policy name like "default"' }),
      policySpecSchema,
    ]),
    /** Optional: where to tell people (used by notifiers). */
    notify: z.strictObject({ slackChannel: z.string().optional() }).optional(),
  })
  .superRefine((spec, ctx) => {
    const src = { host: spec.source.host ?? spec.host, subset: spec.source.subset };
    const tgt = { host: spec.target.host ?? spec.host, subset: spec.target.subset };
    if (src.host === tgt.host) {
      for (const role of ['source', 'target'] as const) {
        if (!spec[role].subset) {
          ctx.addIssue({
            code: 'custom',
            path: [role, 'subset'],
            message: `both sides use host ${src.host}, so ${role}.subset is required (the DestinationRule subset name, e.g. "${role === 'source' ? 'vm' : 'k8s'}"); or give ${role}.host for a two-host split`,
          });
        }
      }
      if (src.subset && src.subset === tgt.subset) {
        ctx.addIssue({
          code: 'custom',
          path: ['target', 'subset'],
          message: 'source and target must be different subsets',
        });
      }
    }
  });
export type PlanSpec = z.output<typeof planSpecSchema>;

export const planSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `apiVersion must be "${API_VERSION}"` }),
  kind: z.literal('MigrationPlan', { error: 'kind must be "MigrationPlan"' }),
  metadata,
  spec: planSpecSchema,
});
export type MigrationPlan = z.output<typeof planSchema>;
