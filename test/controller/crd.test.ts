/** The MigrationPlan CRD: generated from the zod plan schema, structural, and the checked-in copy is current. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { migrationPlanCrd, migrationPlanCrdYaml, structural } from '../../src/controller/crd-schema.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHECKED_IN = path.join(ROOT, 'deploy/base/crd-migrationplans.yaml');

type Node = Record<string, unknown>;

/** Kubernetes' structural-schema rules that the generator must meet, checked node by node. */
function structuralViolations(node: Node, at: string): string[] {
  const out: string[] = [];
  if (node.type === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true)
    out.push(`${at}: no type`);
  for (const k of ['anyOf', 'oneOf', 'allOf', 'not']) if (k in node) out.push(`${at}: ${k}`);
  if (node.properties !== undefined && node.additionalProperties !== undefined)
    out.push(`${at}: properties and additionalProperties together`);
  if (node.additionalProperties === false) out.push(`${at}: additionalProperties: false`);
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Node>))
    out.push(...structuralViolations(child, `${at}.${name}`));
  if (node.items) out.push(...structuralViolations(node.items as Node, `${at}[]`));
  if (typeof node.additionalProperties === 'object')
    out.push(...structuralViolations(node.additionalProperties as Node, `${at}{}`));
  return out;
}

const props0 = (n: Node) => n.properties as Record<string, Node>;

describe('MigrationPlan CRD', () => {
  it('the checked-in CRD is exactly the generator output (regenerate with `meshshift crd`)', () => {
    expect(readFileSync(CHECKED_IN, 'utf8')).toBe(migrationPlanCrdYaml());
  });

  it('is structural: every node typed, no junctors, no additionalProperties beside properties', () => {
    const crd = parse(readFileSync(CHECKED_IN, 'utf8')) as {
      spec: { versions: Array<{ schema: { openAPIV3Schema: Node } }> };
    };
    expect(structuralViolations(crd.spec.versions[0]!.schema.openAPIV3Schema, 'root')).toEqual([]);
  });

  it('carries the zod constraints (patterns, enums, required fields) and the policy union as preserved', () => {
    const spec = (migrationPlanCrd().spec as { versions: Array<{ schema: { openAPIV3Schema: Node } }> })
      .versions[0]!.schema.openAPIV3Schema.properties as Record<string, Node>;
    const planSpec = spec.spec!;
    expect(planSpec.required).toEqual(
      expect.arrayContaining(['namespace', 'host', 'source', 'target', 'policy']),
    );
    // One of route / virtualService: the controller's zod check says which, with the fix.
    expect(planSpec.required).not.toContain('virtualService');
    expect((props0(planSpec).route!.properties as Record<string, Node>).kind!.enum).toEqual([
      'HTTPRoute',
      'VirtualService',
    ]);
    expect(props0(planSpec).dataPlane!.enum).toEqual(['sidecar', 'ambient']);
    const props = planSpec.properties as Record<string, Node>;
    expect(props.namespace!.pattern).toBe('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$');
    expect((props.virtualService!.properties as Record<string, Node>).apiVersion!.enum).toEqual([
      'v1',
      'v1beta1',
      'v1alpha3',
    ]);
    expect(props.policy!['x-kubernetes-preserve-unknown-fields']).toBe(true);
  });

  it('has the status subresource, short name mp and the printer columns', () => {
    const crd = migrationPlanCrd() as {
      spec: {
        names: { shortNames: string[] };
        versions: Array<{ subresources: unknown; additionalPrinterColumns: Array<{ name: string }> }>;
      };
    };
    expect(crd.spec.names.shortNames).toEqual(['mp']);
    expect(crd.spec.versions[0]!.subresources).toEqual({ status: {} });
    expect(crd.spec.versions[0]!.additionalPrinterColumns.map((c) => c.name)).toEqual([
      'Phase',
      'Weight',
      'Step',
      'Last verdict',
      'Age',
    ]);
  });

  it('refuses to emit a node it cannot make structural (a guard that can fail)', () => {
    expect(() => structural({ properties: { x: { description: 'untyped' } }, type: 'object' })).toThrow(
      /no type/,
    );
  });
});
