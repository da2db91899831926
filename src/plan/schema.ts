/**
 * The MigrationPlan document (Kubernetes-style YAML), as zod schemas; its policy is `policy-schema.ts`.
 * Every object is strict: an unknown field is an error, so a typo never silently disables a safety check.
 */
import { z } from 'zod';
import {
  dataPlaneSchema,
  routeIssues,
  routeSchema,
  serviceEntryIssue,
  virtualServiceSchema,
} from './route-schema.js';
import { documentSchema, labelMatchers, name, namespace } from './fields.js';
import { policySpecSchema } from './policy-schema.js';

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
  /** The ServiceEntry that puts the VMs in the mesh (required with a VirtualService; with an HTTPRoute, for a
   * Hostname backend). */
  serviceEntry: name('spec.source.serviceEntry').optional(),
  /** WorkloadEntries to require; default: those selected by the ServiceEntry's workloadSelector. */
  workloadEntries: z.array(name('spec.source.workloadEntries[]')).optional(),
});

const targetSchema = z.strictObject({
  ...sideFields('target'),
  /** The Deployment running the containerized twin. */
  deployment: name('spec.target.deployment'),
});

/** An IANA time zone name, checked against the runtime's time-zone database. */
const timeZone = z
  .string()
  .refine(
    (tz: string) => {
      try {
        return !!new Intl.DateTimeFormat('en-US', { timeZone: tz });
      } catch {
        return false;
      }
    },
    { error: 'expected an IANA time zone such as "Europe/Berlin" or "UTC"' },
  )
  .default('UTC');

export const planSpecSchema = z
  .strictObject({
    namespace,
    /** The mesh host clients call, e.g. productcatalogservice.shop.svc.cluster.local. */
    host: name('spec.host'),
    /** The route to shift: { kind: HTTPRoute | VirtualService, name, rule }. */
    route: routeSchema.optional(),
    /** The older spelling of { kind: VirtualService }: { name, route, apiVersion }. */
    virtualService: virtualServiceSchema.optional(),
    /** sidecar (default) or ambient: where the L7 metrics come from (destination sidecar or waypoint). */
    dataPlane: dataPlaneSchema,
    source: sourceSchema,
    target: targetSchema,
    /** A policy name from policies/ (e.g. "default"), or an inline policy spec. */
    policy: z.union([
      z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { error: 'a policy name like "default"' }),
      policySpecSchema,
    ]),
    /**
     * Optional (service mode): when to start, and the windows in which steps may advance. Outside a window the
     * migration holds its current weight (still analysed; a rollback is never delayed).
     */
    schedule: z
      .strictObject({
        start: z
          .strictObject({
            /** An absolute time, ISO 8601 with a zone, e.g. "2025-03-04T09:00:00+01:00". */
            at: z
              .string({ error: 'spec.schedule.start.at is an ISO 8601 time such as "2025-03-04T09:00:00Z"' })
              .refine(
                (t) =>
                  /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(t) &&
                  !Number.isNaN(Date.parse(t)),
                {
                  error:
                    'expected an ISO 8601 time with a zone, e.g. "2025-03-04T09:00:00Z" or "2025-03-04T09:00:00+01:00"',
                },
              )
              .optional(),
            /** A 5-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 9 * * 1". */
            cron: z
              .string()
              .regex(/^\S+( \S+){4,5}$/, {
                error:
                  'expected a cron expression with 5 fields (minute hour day month weekday), e.g. "0 9 * * 1"',
              })
              .optional(),
            timeZone,
          })
          .refine((s) => (s.at === undefined) !== (s.cron === undefined), {
            error: 'give exactly one of start.at (a time) or start.cron (a cron expression)',
          })
          .optional(),
        windows: z
          .array(
            z
              .strictObject({
                days: z
                  .array(
                    z.enum(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], {
                      error: 'days are Mon, Tue, Wed, Thu, Fri, Sat or Sun',
                    }),
                  )
                  .min(1, { error: 'give at least one day, e.g. [Mon, Tue, Wed, Thu]' }),
                from: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, {
                  error: 'from is a time of day "HH:MM", e.g. "09:00"',
                }),
                to: z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, {
                  error: 'to is a time of day "HH:MM", e.g. "16:00" (or "24:00")',
                }),
                timeZone,
              })
              .refine((w) => w.from < w.to, {
                path: ['to'],
                error: 'to must be later than from (for a window across midnight, write two windows)',
              }),
          )
          .min(1, { error: 'omit windows, or give at least one window' })
          .optional(),
      })
      .optional(),
    /** Optional: where to tell people (used by notifiers). */
    notify: z.strictObject({ slackChannel: z.string().optional() }).optional(),
    /**
     * Optional "policy second": once all traffic is on the target, move this PeerAuthentication (in the plan's
     * namespace) from PERMISSIVE to STRICT, after checking that the traffic already uses mutual TLS.
     */
    mtls: z
      .strictObject({
        peerAuthentication: name('spec.mtls.peerAuthentication'),
        /** false (default): only check readiness for STRICT; true: switch to STRICT after completion. */
        tightenAfterCompletion: z
          .boolean({ error: 'spec.mtls.tightenAfterCompletion must be true or false' })
          .default(false),
      })
      .optional(),
  })
  .superRefine(
    (spec, ctx) => {
      const issue = serviceEntryIssue(spec);
      if (issue) ctx.addIssue({ code: 'custom', ...issue });
    },
    { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
  )
  .superRefine((spec, ctx) => {
    for (const issue of routeIssues(spec)) ctx.addIssue({ code: 'custom', ...issue });
    if (spec.route?.kind === 'HTTPRoute') return;
    const src = { host: spec.source.host ?? spec.host, subset: spec.source.subset };
    const tgt = { host: spec.target.host ?? spec.host, subset: spec.target.subset };
    if (src.host !== tgt.host) return;
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
  });
export type PlanSpec = z.output<typeof planSpecSchema>;

export const planSchema = documentSchema('MigrationPlan', planSpecSchema);
export type MigrationPlan = z.output<typeof planSchema>;
