/**
 * The MigrationPlan CustomResourceDefinition, generated from the same zod schema `meshshift validate` uses
 * (zod 4's JSON Schema output), made structural as Kubernetes requires: every node typed, no
 * `additionalProperties: false` beside `properties` (the API server prunes unknown fields instead), no types
 * inside `anyOf`. A union of different types (a policy name or an inline policy) becomes
 * `x-kubernetes-preserve-unknown-fields` and is checked by the controller with the full zod schema, which
 * reports the exact field in the MigrationPlan's conditions. deploy/crd/migrationplans.yaml is this output.
 */
import { z } from 'zod';
import { stringify } from 'yaml';
import { planSpecSchema } from '../plan/schema.js';

export const CRD_GROUP = 'meshshift.io';
export const CRD_VERSION = 'v1alpha1';
export const CRD_PLURAL = 'migrationplans';
export const CRD_KIND = 'MigrationPlan';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const JS_SAFE_INT = Number.MAX_SAFE_INTEGER;

/** Rewrites one JSON Schema node (and its children) into a structural OpenAPI v3 schema node. */
export function structural(node: Json): Json {
  const unions = (node.anyOf ?? node.oneOf) as Json[] | undefined;
  if (unions) {
    const types = new Set(unions.map((u) => u.type));
    if (types.size === 1 && !types.has(undefined)) {
      // Same type on every branch (e.g. enums): merge into one node.
      return structural({ ...unions[0], ...(node.description ? { description: node.description } : {}) });
    }
    const description = [
      node.description,
      `One of: ${unions.map((u) => String(u.type)).join(' or ')} (validated by meshshift).`,
    ]
      .filter(Boolean)
      .join(' ');
    return { description, 'x-kubernetes-preserve-unknown-fields': true };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$schema' || k === 'id' || k === '$id') continue;
    if (k === 'additionalProperties' && v === false) continue;
    if ((k === 'maximum' && v === JS_SAFE_INT) || (k === 'minimum' && v === -JS_SAFE_INT)) continue;
    if (k === 'properties' && isObj(v)) {
      out.properties = Object.fromEntries(
        Object.entries(v).map(([name, child]) => [name, structural(child as Json)]),
      );
    } else if ((k === 'items' || k === 'additionalProperties') && isObj(v)) {
      out[k] = structural(v);
    } else {
      out[k] = v;
    }
  }
  if (out.type === undefined && out['x-kubernetes-preserve-unknown-fields'] === undefined) {
    throw new Error(`CRD schema: a node has no type and cannot be made structural: ${JSON.stringify(node)}`);
  }
  return out;
}

/** The spec schema, from zod (input side: durations are strings as written). */
export function specSchema(): Json {
  const raw = z.toJSONSchema(planSpecSchema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'throw',
  }) as Json;
  return structural(raw);
}

const condition: Json = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string' },
    message: { type: 'string' },
    observedGeneration: { type: 'integer', format: 'int64' },
    lastTransitionTime: { type: 'string', format: 'date-time' },
  },
};

/** What the controller writes (src/controller/status.ts). */
export function statusSchema(): Json {
  return {
    type: 'object',
    properties: {
      migrationId: {
        type: 'string',
        description: 'The migration in meshshift service mode driving this plan.',
      },
      phase: { type: 'string' },
      weight: { type: 'integer', description: 'Percent of traffic on the target.' },
      step: {
        type: 'string',
        description:
          'Current step, e.g. "3/6"; after a rollback the step it came back from, e.g. "2/6 (rolled back)".',
      },
      observedGeneration: { type: 'integer', format: 'int64' },
      planGeneration: {
        type: 'integer',
        format: 'int64',
        description: 'The generation whose spec the migration runs (a later spec edit is refused).',
      },
      startedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: 'string', format: 'date-time' },
      reason: { type: 'string', description: 'Why it is paused, rolled back or failed.' },
      possible: { type: 'array', items: { type: 'string' }, description: 'Commands accepted now.' },
      lastVerdict: {
        type: 'object',
        properties: {
          outcome: { type: 'string' },
          weight: { type: 'integer' },
          summary: { type: 'string' },
          at: { type: 'string', format: 'date-time' },
          checks: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                name: { type: 'string' },
                outcome: { type: 'string' },
                observed: { type: 'number' },
                threshold: { type: 'number' },
              },
            },
          },
        },
      },
      lastHistoryId: { type: 'string', description: 'The last history entry mirrored as an Event.' },
      conditions: {
        type: 'array',
        items: condition,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      },
    },
  };
}

const column = (name: string, type: string, jsonPath: string, extra: Json = {}): Json => ({
  name,
  type,
  jsonPath,
  ...extra,
});

export function migrationPlanCrd(): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${CRD_PLURAL}.${CRD_GROUP}`,
      labels: { 'app.kubernetes.io/name': 'meshshift' },
    },
    spec: {
      group: CRD_GROUP,
      scope: 'Namespaced',
      names: {
        plural: CRD_PLURAL,
        singular: 'migrationplan',
        kind: CRD_KIND,
        listKind: `${CRD_KIND}List`,
        shortNames: ['mp'],
        categories: ['meshshift'],
      },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            column('Phase', 'string', '.status.phase'),
            column('Weight', 'integer', '.status.weight'),
            column('Step', 'string', '.status.step'),
            column('Last verdict', 'string', '.status.lastVerdict.outcome'),
            column('Age', 'date', '.metadata.creationTimestamp'),
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A migration of one workload from VMs into Kubernetes behind Istio.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(),
                status: statusSchema(),
              },
            },
          },
        },
      ],
    },
  };
}

/** The checked-in YAML (deploy/crd/migrationplans.yaml). */
export function migrationPlanCrdYaml(): string {
  return (
    '# Generated from src/plan/schema.ts by src/controller/crd-schema.ts (`meshshift crd`). Do not edit:\n' +
    '# test/controller/crd.test.ts fails when this file differs from the generator output.\n' +
    stringify(migrationPlanCrd(), { lineWidth: 0 })
  );
}
