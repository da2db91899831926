/**
 * The test API server's CustomResourceDefinitions, OpenAPI v3, Table responses, core/v1 Events view, field
 * ownership and server-side apply, over plain HTTP as kubectl speaks it (test/controller/kubectl.test.ts runs
 * the real kubectl).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrationPlanCrd } from '../../src/controller/crd-schema.js';
import { structuralErrors } from '../../src/sim/kube/crd.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../../src/sim/kube/index.js';

let server: KubeApiServer;
beforeEach(async () => {
  server = await startKubeApiServer({ crds: [] });
  server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
});
afterEach(() => server.close());

interface Res {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Res> {
  const init: RequestInit = { method, headers: { 'Content-Type': 'application/json', ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${server.url}${path}`, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const MPS = '/apis/meshshift.io/v1alpha1/namespaces/shop/migrationplans';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

/** A small CRD with the schema features the server implements. */
function widgetCrd(schemaPatch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Size', type: 'integer', jsonPath: '.spec.size' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['size'],
                  properties: {
                    size: { type: 'integer', minimum: 1 },
                    color: { type: 'string', enum: ['red', 'blue'], default: 'red' },
                    labels: { type: 'object', additionalProperties: { type: 'string' } },
                  },
                },
                status: {
                  type: 'object',
                  properties: {
                    conditions: {
                      type: 'array',
                      'x-kubernetes-list-type': 'map',
                      'x-kubernetes-list-map-keys': ['type'],
                      items: {
                        type: 'object',
                        required: ['type'],
                        properties: { type: { type: 'string' }, status: { type: 'string' } },
                      },
                    },
                  },
                },
              },
              ...schemaPatch,
            },
          },
        },
      ],
    },
  };
}

const WIDGETS = '/apis/example.com/v1/namespaces/shop/widgets';
const widget = (spec: Record<string, unknown>, name = 'w1') => ({
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { name },
  spec,
});

describe('CustomResourceDefinitions', () => {
  it('creating one registers the kind in discovery, OpenAPI and routing; deleting it removes kind and objects', async () => {
    expect((await call('GET', '/apis/example.com/v1')).status).toBe(404);
    const created = await call('POST', CRDS, widgetCrd());
    expect(created.status).toBe(201);
    expect((created.body.status as { conditions: { type: string }[] }).conditions.map((c) => c.type)).toEqual(
      ['NamesAccepted', 'Established'],
    );
    const list = (await call('GET', '/apis/example.com/v1')).body as { resources: { name: string }[] };
    expect(list.resources.map((r) => r.name)).toEqual(['widgets', 'widgets/status']);
    const index = (await call('GET', '/openapi/v3')).body as {
      paths: Record<string, { serverRelativeURL: string }>;
    };
    const doc = (await call('GET', index.paths['apis/example.com/v1']!.serverRelativeURL)).body as {
      paths: Record<string, { patch?: { parameters: { name: string }[] } }>;
      components: { schemas: Record<string, unknown> };
    };
    const patchOp = doc.paths['/apis/example.com/v1/namespaces/{namespace}/widgets/{name}']!.patch!;
    expect(patchOp.parameters.map((p) => p.name)).toContain('fieldValidation');
    expect(Object.keys(doc.components.schemas)).toEqual(['com.example.v1.Widget']);

    expect((await call('POST', WIDGETS, widget({ size: 1 }))).status).toBe(201);
    expect((await call('DELETE', `${CRDS}/widgets.example.com`)).status).toBe(200);
    expect((await call('GET', WIDGETS)).status).toBe(404);
    expect(server.list('apiextensions.k8s.io', 'customresourcedefinitions')).toEqual([]);
  });

  it('refuses a non-structural schema (422 naming the node) and accepts the CRD meshshift ships', async () => {
    const bad = widgetCrd({ properties: { spec: { properties: { size: { minimum: 1 } } } } });
    const res = await call('POST', CRDS, bad);
    expect(res.status).toBe(422);
    expect(res.body.message).toContain(
      'spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value',
    );
    const shipped = migrationPlanCrd() as { spec: { versions: { schema: { openAPIV3Schema: never } }[] } };
    expect(structuralErrors(shipped.spec.versions[0]!.schema.openAPIV3Schema, 'root', false)).toEqual([]);
    expect((await call('POST', CRDS, shipped)).status).toBe(201);
    expect((await call('GET', MPS)).status).toBe(200);
  });

  it('prunes unknown fields per fieldValidation, applies defaults, validates types, enums, bounds and required', async () => {
    await call('POST', CRDS, widgetCrd());
    const body = widget({ size: 2, extra: 1 });
    const strict = await call('POST', `${WIDGETS}?fieldValidation=Strict`, body);
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe(
      'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.extra"',
    );
    const warned = await call('POST', WIDGETS, body);
    expect(warned.status).toBe(201);
    expect(warned.headers.get('warning')).toBe('299 - "unknown field \\"spec.extra\\""');
    expect(warned.body.spec).toEqual({ size: 2, color: 'red' }); // pruned, defaulted
    const ignored = await call(
      'POST',
      `${WIDGETS}?fieldValidation=Ignore`,
      widget({ size: 2, extra: 1 }, 'w2'),
    );
    expect(ignored.headers.get('warning')).toBeNull();

    const invalid = await call('POST', WIDGETS, widget({ size: 0, color: 'green', labels: { a: 1 } }, 'w3'));
    expect(invalid.status).toBe(422);
    expect((invalid.body.details as { causes: unknown[] }).causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        message: 'Invalid value: 0: spec.size in body should be greater than or equal to 1',
        field: 'spec.size',
      },
      {
        reason: 'FieldValueNotSupported',
        message: 'Unsupported value: "green": supported values: "red", "blue"',
        field: 'spec.color',
      },
      {
        reason: 'FieldValueTypeInvalid',
        message: 'Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
        field: 'spec.labels.a',
      },
    ]);
    const missing = await call('POST', WIDGETS, widget({}, 'w4'));
    expect(missing.body.message).toBe('Widget.example.com "w4" is invalid: spec.size: Required value');
  });
});

describe('Table responses', () => {
  it('lists with the printer columns (JSONPath filters included), one object, and as watch events', async () => {
    await call('POST', CRDS, widgetCrd());
    await call('POST', WIDGETS, widget({ size: 3 }));
    await call(
      'PATCH',
      `${WIDGETS}/w1/status`,
      { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      {
        'Content-Type': 'application/merge-patch+json',
      },
    );
    const table = (await call('GET', WIDGETS, undefined, { Accept: TABLE })).body as {
      kind: string;
      columnDefinitions: { name: string }[];
      rows: { cells: unknown[]; object: { kind: string; metadata: { name: string } } }[];
    };
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Size', 'Ready']);
    expect(table.rows.map((r) => r.cells)).toEqual([['w1', 3, 'True']]);
    expect(table.rows[0]!.object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'w1' } });
    const one = (await call('GET', `${WIDGETS}/w1?includeObject=None`, undefined, { Accept: TABLE })).body;
    expect(one.rows).toEqual([{ cells: ['w1', 3, 'True'] }]);

    const ac = new AbortController();
    const res = await fetch(`${server.url}${WIDGETS}?watch=true`, {
      headers: { Accept: TABLE },
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const event = JSON.parse(first.split('\n')[0]!) as {
      type: string;
      object: { kind: string; rows: unknown[] };
    };
    expect(event).toMatchObject({
      type: 'ADDED',
      object: { kind: 'Table', rows: [{ cells: ['w1', 3, 'True'] }] },
    });
  });
});

describe('core/v1 Events', () => {
  it('serves the events.k8s.io store as core/v1 with involvedObject field selectors, read-only', async () => {
    const regarding = { kind: 'MigrationPlan', name: 'mp1', namespace: 'shop', uid: 'u1' };
    const ev = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: 'mp1.1', namespace: 'shop' },
      regarding,
      reason: 'WeightChanged',
      note: 'weight 0 % → 1 %',
      type: 'Normal',
      action: 'Shift',
      reportingController: 'meshshift.io/controller',
      reportingInstance: 'pod-1',
      eventTime: '2026-12-06T05:00:00.000000Z',
    };
    expect((await call('POST', '/apis/events.k8s.io/v1/namespaces/shop/events', ev)).status).toBe(201);
    const sel = 'involvedObject.name=mp1,involvedObject.kind=MigrationPlan,involvedObject.uid=u1';
    const list = (
      await call('GET', `/api/v1/namespaces/shop/events?fieldSelector=${encodeURIComponent(sel)}`)
    ).body as { kind: string; items: KubeObject[] };
    expect(list.kind).toBe('EventList');
    expect(list.items).toHaveLength(1);
    expect(list.items[0]).toMatchObject({
      involvedObject: regarding,
      message: 'weight 0 % → 1 %',
      source: { component: 'meshshift.io/controller' },
      reportingComponent: 'meshshift.io/controller',
    });
    const other = await call('GET', `/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name%3Dmp2`);
    expect(other.body.items).toEqual([]);
    expect((await call('POST', '/api/v1/namespaces/shop/events', ev)).status).toBe(405);
  });
});
