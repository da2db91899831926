/**
 * What kube-apiserver does to a custom resource against its CRD's structural schema on every write: unknown
 * fields are pruned and, per the `fieldValidation` query parameter, refused (Strict: 400), reported as `Warning`
 * headers (Warn, the default) or dropped silently (Ignore); then defaults are applied and the object is validated
 * (types, enums, required fields, bounds: 422 Invalid listing every field). metadata is kube's own and not pruned.
 */
import { isRecord } from './json.js';
import type { Ctx, Target } from './request.js';
import { applyDefaults, prune, validate } from './schema.js';
import { errBadRequest, errInvalid } from './status.js';
import type { KubeObject } from './types.js';

const DIRECTIVES = ['Ignore', 'Warn', 'Strict'] as const;
type Directive = (typeof DIRECTIVES)[number];

export function fieldValidation(ctx: Ctx): Directive {
  const raw = ctx.params.get('fieldValidation');
  if (raw === null || raw === '') return 'Warn';
  const found = DIRECTIVES.find((d) => d === raw);
  if (!found) {
    throw errBadRequest(
      `fieldValidation parameter unsupported: ${raw}. Supported values are: ${DIRECTIVES.join(', ')}`,
    );
  }
  return found;
}

/** Reports fields the schema does not know per the request's fieldValidation (they are already pruned). */
export function reportUnknown(ctx: Ctx, target: Target, unknown: readonly string[]): void {
  if (unknown.length === 0) return;
  const list = unknown.map((f) => `unknown field ${JSON.stringify(f)}`);
  switch (fieldValidation(ctx)) {
    case 'Strict': {
      const { kind } = target.rt;
      throw errBadRequest(
        `${kind} in version ${JSON.stringify(target.version)} cannot be handled as a ${kind}: strict decoding error: ${list.join(', ')}`,
      );
    }
    case 'Warn':
      ctx.warnings.push(...list);
      return;
    case 'Ignore':
      return;
  }
}

/** Prunes, defaults and validates a custom resource in place (no-op for kinds without a schema). */
export function admitCustom(ctx: Ctx, target: Target, obj: KubeObject): void {
  const schema = target.rt.crd?.schemas[target.version];
  if (!schema) return;
  const { metadata, ...rest } = obj;
  const unknown = prune(
    rest,
    {
      ...schema,
      properties: {
        ...(isRecord(schema.properties) ? schema.properties : {}),
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
      },
    },
    '',
  );
  for (const key of Object.keys(obj)) if (key !== 'metadata' && !(key in rest)) delete obj[key];
  reportUnknown(ctx, target, unknown);
  applyDefaults(rest, schema);
  Object.assign(obj, rest, { metadata });
  const body = { ...rest, metadata: {} };
  const errors = validate(body, schema, '');
  if (errors.length > 0) throw errInvalid(target.rt, metadata.name, errors);
}
