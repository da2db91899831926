/**
 * Fields both documents share: names, namespaces, metadata, durations and metric label matchers (zod).
 * Every object is strict: an unknown field is an error, so a typo never silently disables a safety check.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

export const API_VERSION = 'meshshift.io/v1alpha1';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const name = (what: string) =>
  z
    .string({ error: 'expected a lowercase DNS name such as "productcatalogservice"' })
    .min(1, { error: `${what} must not be empty` })
    .max(253)
    .regex(DNS_SUBDOMAIN, {
      error: `${what} must be a lowercase DNS-1123 name (letters, digits, '-' and '.'), as Kubernetes requires`,
    });

export const namespace = z
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

export const labelMatchers = z.record(
  z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, { error: 'metric label names are [a-zA-Z_][a-zA-Z0-9_]*' }),
  z.string(),
);

const metadata = z.strictObject({
  name: name('metadata.name'),
  /** Where the MigrationPlan object lives when applied as a custom resource (not the plan's spec.namespace). */
  namespace: namespace.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** A document of `kind`: apiVersion, kind, metadata and its spec. */
export const documentSchema = <K extends string, S extends z.ZodType>(kind: K, spec: S) =>
  z.strictObject({
    apiVersion: z.literal(API_VERSION, { error: `apiVersion must be "${API_VERSION}"` }),
    kind: z.literal(kind, { error: `kind must be "${kind}"` }),
    metadata,
    spec,
  });
