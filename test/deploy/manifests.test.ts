/**
 * deploy/: every YAML parses; every Kubernetes and Istio object validates against the published schemas
 * (kubernetes-models, @kubernetes-models/istio); every kustomization lists every file of its folder and
 * renders; the pods are locked down; references (Secrets, ConfigMaps, ServiceAccounts, ServiceMonitor →
 * Service) resolve; the alert rules pass promtool and every PromQL of rules and dashboard is accepted by a real
 * Prometheus; meshshift's metric names used there are the ones deploy/README.md documents.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { readKustomization, readYamlObjects, renderKustomization, type RenderedObject } from './kustomize.js';
import { checkUnknownFields, type TypedObject } from './strict-fields.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const rel = (p: string) => path.relative(ROOT, p);

function walk(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((e) => {
      const p = path.join(dir, e);
      return statSync(p).isDirectory() ? walk(p) : [p];
    })
    .sort();
}
const yamlFiles = walk(DEPLOY).filter((f) => /\.ya?ml$/.test(f));
const kustomizeDirs = yamlFiles
  .filter((f) => path.basename(f) === 'kustomization.yaml')
  .map(path.dirname)
  .sort();

/** Objects of every YAML file under deploy/, except kustomizations and meshshift's own documents. */
function kubeObjects(): Array<{ file: string; obj: RenderedObject }> {
  return yamlFiles
    .filter((f) => path.basename(f) !== 'kustomization.yaml')
    .flatMap((file) => readYamlObjects(file).map((obj) => ({ file, obj })))
    .filter(({ obj }) => !obj.apiVersion.startsWith('meshshift.io/'));
}

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/**
 * Versions the schema packages do not ship, validated with the same schema under another version: Istio serves
 * networking.istio.io/v1 and security.istio.io/v1 with the v1beta1 schemas, and @kubernetes-models/istio 2.x (the
 * last release that runs on Node 20) ships networking v1beta1/v1alpha3 only and PeerAuthentication as v1beta1 only.
 */
const SCHEMA_ALIAS: Record<string, string> = {
  'networking.istio.io/v1': 'networking.istio.io/v1beta1',
  'security.istio.io/v1': 'security.istio.io/v1beta1',
};

/** The object as its schema package knows it (apiVersion of the alias). */
const asSchema = <T extends { apiVersion: string }>(obj: T): T =>
  SCHEMA_ALIAS[obj.apiVersion] ? { ...obj, apiVersion: SCHEMA_ALIAS[obj.apiVersion]! } : obj;

/** The module of the maintained schema packages that defines apiVersion/kind. */
function modelModule(servedApiVersion: string, kind: string): string {
  const apiVersion = SCHEMA_ALIAS[servedApiVersion] ?? servedApiVersion;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  return group!.endsWith('istio.io')
    ? `@kubernetes-models/istio/${group}/${version}/${kind}`
    : group
      ? `kubernetes-models/${group}/${version}/${kind}`
      : `kubernetes-models/${version}/${kind}`;
}

/** The schema model for apiVersion/kind from the maintained packages; undefined when none ships one. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  try {
    const mod = (await import(modelModule(apiVersion, kind))) as Record<string, unknown>;
    return mod[kind] as ModelClass | undefined;
  } catch {
    return undefined;
  }
}

const render = (sub: string) => renderKustomization(path.join(DEPLOY, sub));
const find = (objs: RenderedObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind} ${name} not rendered`);
  return o;
};

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{
    name: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }>;
  envFrom?: Array<{ configMapRef?: { name: string } }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  ports?: Array<{ name?: string; containerPort: number }>;
}
interface PodSpec {
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string } }>;
  hostNetwork?: boolean;
  hostPID?: boolean;
}
const podSpec = (o: RenderedObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const workloads = (objs: RenderedObject[]) =>
  objs.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));

describe('deploy/ YAML', () => {
  it('finds the expected layout', () => {
    expect(kustomizeDirs.map(rel)).toEqual([
      'deploy',
      'deploy/base',
      'deploy/cluster-wide',
      'deploy/examples/productcatalogservice/cluster',
      'deploy/monitoring',
      'deploy/redis',
    ]);
  });

  it('every YAML file parses, and every document is an object with apiVersion, kind and a name', () => {
    expect(yamlFiles.length).toBeGreaterThan(20);
    for (const f of yamlFiles) {
      const docs = readYamlObjects(f);
      expect(docs.length, rel(f)).toBeGreaterThan(0);
      for (const d of docs) {
        expect(typeof d.apiVersion, rel(f)).toBe('string');
        expect(typeof d.kind, rel(f)).toBe('string');
        if (d.kind !== 'Kustomization') expect(d.metadata?.name, rel(f)).toMatch(/^[a-z0-9][-a-z0-9.]*$/);
      }
    }
  });

  it('every Kubernetes and Istio object validates against its published schema', async () => {
    const withoutModel: string[] = [];
    let validated = 0;
    for (const { file, obj } of kubeObjects()) {
      const Model = await modelFor(obj.apiVersion, obj.kind);
      if (!Model) {
        withoutModel.push(`${obj.apiVersion}/${obj.kind}`);
        continue;
      }
      expect(
        () => new Model(asSchema(obj)).validate(),
        `${rel(file)}: ${obj.kind} ${obj.metadata.name}`,
      ).not.toThrow();
      validated++;
    }
    expect(validated).toBeGreaterThan(25);
    // Only the Prometheus Operator kinds lack a schema package here; they are checked below (promtool,
    // Prometheus, structure) and listed in the report. The HTTPRoute of the ambient example is checked against
    // the published Gateway API CRD by the test API server (example-ambient.test.ts).
    expect([...new Set(withoutModel)].sort()).toEqual([
      'gateway.networking.k8s.io/v1/HTTPRoute',
      'monitoring.coreos.com/v1/PrometheusRule',
      'monitoring.coreos.com/v1/ServiceMonitor',
    ]);
  });

  it('no object has a field its schema does not define (typos like readOnlyRootFileSystem)', async () => {
    const typed: TypedObject[] = [];
    for (const { file, obj } of kubeObjects()) {
      if (!(await modelFor(obj.apiVersion, obj.kind))) continue;
      typed.push({
        module: modelModule(obj.apiVersion, obj.kind),
        type: `I${obj.kind}`,
        label: `${rel(file)}: ${obj.kind} ${obj.metadata.name}`,
        value: asSchema(obj),
      });
    }
    // One deliberate typo proves the check bites (and is reported under its own label only).
    const probe = structuredClone(typed.find((t) => t.type === 'IDeployment')!);
    const container = (probe.value as { spec: { template: { spec: PodSpec } } }).spec.template.spec
      .containers[0]!;
    (container.securityContext as Record<string, unknown>).readOnlyRootFileSystem = true;
    probe.label = 'probe';
    const errors = checkUnknownFields([...typed, probe], ROOT);
    expect(errors.filter((e) => !e.startsWith('probe:'))).toEqual([]);
    expect(errors).toEqual([expect.stringMatching(/^probe: .*readOnlyRootFileSystem/)]);
  });

  it('the schema check really rejects bad objects (so a pass means something)', async () => {
    const VS = (await modelFor('networking.istio.io/v1', 'VirtualService'))!;
    const bad = { metadata: { name: 'x' }, spec: { hosts: ['x'], http: [{ route: [{ weight: '50' }] }] } };
    expect(() => new VS(bad).validate()).toThrow(/weight/);
    const Deployment = (await modelFor('apps/v1', 'Deployment'))!;
    expect(() =>
      new Deployment({
        metadata: { name: 'x' },
        spec: { template: {}, selector: { matchLabels: 1 } },
      }).validate(),
    ).toThrow();
  });
});

describe('kustomize', () => {
  it.each(kustomizeDirs.map((d) => [rel(d), d]))(
    '%s lists every file of its folder, and only existing ones',
    (_, dir) => {
      const k = readKustomization(dir);
      const listed = new Set<string>();
      for (const r of k.resources ?? []) listed.add(r.replace(/\/$/, ''));
      for (const g of k.configMapGenerator ?? [])
        for (const f of g.files ?? []) listed.add(f.includes('=') ? f.split('=')[1]! : f);
      const present = readdirSync(dir).filter(
        (e) =>
          e !== 'kustomization.yaml' &&
          !e.endsWith('.md') &&
          !e.endsWith('.example.yaml') && // placeholder Secrets: never applied by kustomize, on purpose
          (statSync(path.join(dir, e)).isDirectory()
            ? readdirSync(path.join(dir, e)).includes('kustomization.yaml')
            : /\.(ya?ml|json)$/.test(e)),
      );
      // deploy/ itself composes the small install; optional parts are applied on their own (see README).
      const optional = rel(dir) === 'deploy' ? ['cluster-wide', 'examples', 'monitoring'] : [];
      expect([...listed].sort()).toEqual(present.filter((e) => !optional.includes(e)).sort());
      expect(() => renderKustomization(dir)).not.toThrow();
    },
  );

  it('deploy/ renders the small install into the meshshift namespace', () => {
    const objs = render('.');
    const ids = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(ids).toEqual(
      [
        'ClusterRole/meshshift-migrator',
        'ConfigMap/meshshift-config',
        'CustomResourceDefinition/migrationplans.meshshift.io',
        'Deployment/meshshift-api',
        'Deployment/meshshift-controller',
        'Deployment/meshshift-worker',
        'Namespace/meshshift',
        'NetworkPolicy/meshshift-redis',
        'PodDisruptionBudget/meshshift-api',
        'PodDisruptionBudget/meshshift-worker',
        'Service/meshshift-api',
        'Service/meshshift-redis',
        'Service/meshshift-worker',
        'ServiceAccount/meshshift-api',
        'ServiceAccount/meshshift-worker',
        'StatefulSet/meshshift-redis',
      ].sort(),
    );
    for (const o of objs) {
      if (['Namespace', 'ClusterRole', 'CustomResourceDefinition'].includes(o.kind))
        expect(o.metadata.namespace).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe('meshshift');
      expect(o.metadata.labels?.['app.kubernetes.io/part-of']).toBe('meshshift');
    }
    // labels (includeSelectors: false) must not touch selectors, which are immutable on Deployments.
    const api = find(objs, 'Deployment', 'meshshift-api').spec as { selector: { matchLabels: object } };
    expect(api.selector.matchLabels).not.toHaveProperty('app.kubernetes.io/part-of');
  });

  it('the renderer applies namespace, commonLabels (with selectors) and refuses unknown fields', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kustomize-'));
    try {
      writeFileSync(
        path.join(dir, 'kustomization.yaml'),
        'namespace: x\ncommonLabels: {a: b}\nresources: [d.yaml]\n',
      );
      writeFileSync(
        path.join(dir, 'd.yaml'),
        stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'd' },
          spec: { selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } } } },
        }),
      );
      const [d] = renderKustomization(dir);
      expect(d!.metadata).toMatchObject({ namespace: 'x', labels: { a: 'b' } });
      expect(d!.spec).toMatchObject({
        selector: { matchLabels: { app: 'd', a: 'b' } },
        template: { metadata: { labels: { app: 'd', a: 'b' } } },
      });
      writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: [d.yaml]\npatches: []\n');
      expect(() => renderKustomization(dir)).toThrow(/patches/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pods are locked down', () => {
  const all = [...render('.'), ...render('examples/productcatalogservice/cluster')];

  it.each(workloads(all).map((w) => [`${w.kind}/${w.metadata.name}`, w]))('%s', (_, w) => {
    const spec = podSpec(w);
    expect(spec.hostNetwork ?? false).toBe(false);
    expect(spec.hostPID ?? false).toBe(false);
    expect(spec.securityContext?.runAsNonRoot).toBe(true);
    expect(spec.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    for (const c of spec.containers) {
      const sc = c.securityContext;
      expect(sc?.allowPrivilegeEscalation, c.name).toBe(false);
      expect(sc?.readOnlyRootFilesystem, c.name).toBe(true);
      expect(sc?.privileged ?? false, c.name).toBe(false);
      expect(sc?.capabilities?.drop, c.name).toEqual(['ALL']);
      expect(sc?.capabilities?.add, c.name).toBeUndefined();
      for (const kind of ['requests', 'limits'] as const) {
        expect(c.resources?.[kind]?.cpu, `${c.name} ${kind}.cpu`).toBeTruthy();
        expect(c.resources?.[kind]?.memory, `${c.name} ${kind}.memory`).toBeTruthy();
      }
      expect(c.image, c.name).toMatch(/:[\w.-]+$/);
      expect(c.image, c.name).not.toMatch(/:latest$/);
    }
  });

  it('the meshshift containers run `serve --role api|worker` with /healthz and /readyz probes', () => {
    const base = render('base');
    for (const role of ['api', 'worker']) {
      const [c] = podSpec(find(base, 'Deployment', `meshshift-${role}`)).containers;
      expect(c!.args).toEqual(['serve', '--role', role]);
      expect(c!.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c!.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c!.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    }
  });
});

describe('references resolve', () => {
  const small = render('.');
  const secrets = readYamlObjects(path.join(DEPLOY, 'secrets.example.yaml'));

  it('every Secret key the pods use is described in secrets.example.yaml, and no real Secret is shipped', () => {
    expect(
      kubeObjects()
        .filter(({ obj }) => obj.kind === 'Secret')
        .map(({ file }) => rel(file)),
    ).toEqual(Array(secrets.length).fill('deploy/secrets.example.yaml'));
    for (const w of workloads(small)) {
      const spec = podSpec(w);
      for (const c of spec.containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          const s = secrets.find((x) => x.metadata.name === ref.name);
          expect(s, `${w.metadata.name}: Secret ${ref.name}`).toBeDefined();
          expect(Object.keys(s!.stringData as object), `${ref.name}`).toContain(ref.key);
        }
        for (const e of c.envFrom ?? []) {
          if (e.configMapRef) find(small, 'ConfigMap', e.configMapRef.name);
        }
      }
      for (const v of spec.volumes ?? []) {
        if (v.secret) expect(secrets.map((s) => s.metadata.name)).toContain(v.secret.secretName);
      }
      if (spec.serviceAccountName) find(small, 'ServiceAccount', spec.serviceAccountName);
    }
  });

  it('the ServiceMonitor selects the api and worker Services by a port they have', () => {
    const [sm] = render('monitoring').filter((o) => o.kind === 'ServiceMonitor');
    const spec = sm!.spec as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: { matchNames: string[] };
      endpoints: Array<{ port: string; path: string }>;
    };
    const services = small.filter(
      (o) =>
        o.kind === 'Service' &&
        spec.namespaceSelector.matchNames.includes(o.metadata.namespace!) &&
        Object.entries(spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    expect(services.map((s) => s.metadata.name).sort()).toEqual(['meshshift-api', 'meshshift-worker']);
    for (const s of services) {
      const ports = (s.spec as { ports: Array<{ name: string }> }).ports.map((p) => p.name);
      for (const e of spec.endpoints) expect(ports).toContain(e.port);
    }
    expect(spec.endpoints.map((e) => e.path)).toEqual(['/metrics']);
  });

  it('the Services select the pods of their Deployment', () => {
    for (const s of small.filter((o) => o.kind === 'Service')) {
      const selector = (s.spec as { selector: Record<string, string> }).selector;
      const matched = workloads(small).filter((w) =>
        Object.entries(selector).every(
          ([k, v]) =>
            (w.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata
              .labels[k] === v,
        ),
      );
      expect(matched.length, s.metadata.name).toBe(1);
    }
  });
});

describe('monitoring', () => {
  const monitoring = render('monitoring');
  const rule = monitoring.find((o) => o.kind === 'PrometheusRule')!;
  const groups = (
    rule.spec as { groups: Array<{ name: string; rules: Array<{ alert?: string; expr: string }> }> }
  ).groups;
  const dashboard = JSON.parse(
    readFileSync(path.join(DEPLOY, 'monitoring/grafana-dashboard.json'), 'utf8'),
  ) as {
    uid: string;
    title: string;
    panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }>; datasource?: unknown }>;
  };
  const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it('alerts cover worker down, migration stuck and rollback', () => {
    const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(
      expect.arrayContaining(['MeshshiftWorkerDown', 'MeshshiftMigrationStuck', 'MeshshiftRollback']),
    );
  });

  it('promtool accepts the rule groups', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rules-'));
    try {
      const file = path.join(dir, 'rules.yaml');
      writeFileSync(file, stringify({ groups }));
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      expect(r.error, 'promtool (Debian package prometheus) is needed').toBeUndefined();
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the dashboard is a Grafana dashboard with weight, verdicts and per-subset SLI panels', () => {
    expect(dashboard.uid).toBe('meshshift-migrations');
    const titles = dashboard.panels.map((p) => p.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Target weight over time',
        'Verdicts',
        'Success rate by version',
        'Latency p99 / p50 by version',
      ]),
    );
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
    const cm = monitoring.find((o) => o.kind === 'ConfigMap')!;
    expect(cm.metadata).toMatchObject({
      name: 'meshshift-grafana-dashboard',
      labels: { grafana_dashboard: '1' },
    });
    expect(JSON.parse((cm.data as Record<string, string>)['meshshift.json']!)).toEqual(dashboard);
  });

  it('every PromQL expression (rules and dashboard) is accepted by a real Prometheus', async () => {
    const url = inject('prometheusUrl');
    const exprs = [...groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboardExprs];
    expect(exprs.length).toBeGreaterThan(10);
    for (const raw of exprs) {
      const expr = raw
        .replace(/\$__rate_interval|\$__range/g, '1m')
        .replace(/\$(namespace|migration|service)\b/g, '.*');
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string };
      expect(body.status, `${body.error ?? ''}\n${expr}`).toBe('success');
    }
  });

  it("meshshift's metric names used by alerts and dashboard are all in deploy/README.md's contract", () => {
    const readme = readFileSync(path.join(DEPLOY, 'README.md'), 'utf8');
    const section = readme.split(/^## /m).find((s) => s.startsWith('Metrics contract'));
    expect(section, 'deploy/README.md needs a "## Metrics contract" section').toBeDefined();
    const documented = new Set([...section!.matchAll(/`(meshshift_[a-z_]+)`/g)].map((m) => m[1]));
    const used = new Set(
      [...groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboardExprs]
        .flatMap((e) => [...e.matchAll(/\b(meshshift_[a-z_]+)/g)].map((m) => m[1]!))
        .map((n) => n.replace(/_(bucket|sum|count)$/, '')),
    );
    expect(used.size).toBeGreaterThan(5);
    for (const n of used) expect(documented, `${n} is used but not documented`).toContain(n);
  });
});
