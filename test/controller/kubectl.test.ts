/**
 * The GitOps page (docs/gitops.md) with the REAL kubectl binary (from PATH) against the Kubernetes API test server and
 * the controller (real Redis and Prometheus): the CRD from `meshshift crd` applied with kubectl, the example
 * MigrationPlan applied with kubectl's default (strict, server-side) validation, `get -w` with the CRD's printer
 * columns, `wait`, `annotate` promote and abort, `describe` with the Events, `delete` held by the finalizer,
 * server-side apply with a conflict, and `apply --dry-run=server -k deploy/`.
 * kubectl runs as a child process (async spawn: the API server runs in this process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { migrationPlanCrdYaml } from '../../src/controller/crd-schema.js';
import { SERVICE_POLICY } from '../service/helpers.js';
import { controllerEnv, startInProcess, type ControllerEnv } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'deploy/examples/productcatalogservice');
const NAME = 'productcatalogservice-to-k8s';
const GATED_POLICY = `${SERVICE_POLICY}approvals:\n  - atWeight: 5\n`;
const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let tmp: string;
let env: ControllerEnv | undefined;
const children: ChildProcess[] = [];

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'meshshift-kubectl-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGTERM');
  await env?.close();
  env = undefined;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function kubectlProcess(args: string[]): ChildProcess {
  const child = spawn('kubectl', args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: tmp,
      KUBECONFIG: env!.kubeconfig,
      KUBECACHEDIR: path.join(tmp, `cache-${env!.s.kube.port}`),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

/** Runs kubectl to completion (killed after `timeoutMs`). */
function kubectl(args: string[], timeoutMs = 30_000): Promise<Run> {
  const child = kubectlProcess(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** kubectl that must succeed; returns its stdout. */
async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(args, 180_000);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} → exit ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A file in the temp dir. */
function file(name: string, text: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, text);
  return f;
}

/** The example MigrationPlan, moved to the scenario's namespace and host, with the test's fast policy. */
function examplePlan(e: ControllerEnv, name = NAME, edit?: (spec: Record<string, unknown>) => void): string {
  const doc = parse(readFileSync(path.join(EXAMPLE, 'migrationplan.yaml'), 'utf8')) as {
    metadata: Record<string, unknown>;
    spec: Record<string, unknown>;
  };
  doc.metadata.name = name;
  doc.metadata.namespace = e.ns;
  doc.spec.namespace = e.ns;
  doc.spec.host = e.s.fixture.host;
  doc.spec.policy = parse(GATED_POLICY);
  delete doc.spec.mtls; // tightening mTLS needs Istio's mutual_tls metrics, which the simulator does not export
  edit?.(doc.spec);
  return file(`${name}.yaml`, stringify(doc));
}

async function setUp(prefix: string): Promise<ControllerEnv> {
  env = await controllerEnv(prom(), { prefix, inProcess: false, scenario: { kube: { crds: [] } } });
  // `kubectl apply -f <(meshshift crd)`: the server starts without the CRD; applying it registers the kind.
  const missing = await kubectl(['get', 'mp', '-n', env.ns]);
  expect(missing.stderr).toContain('the server doesn\'t have a resource type "mp"');
  expect(await ok('apply', '-f', file('crd.yaml', migrationPlanCrdYaml()))).toBe(
    'customresourcedefinition.apiextensions.k8s.io/migrationplans.meshshift.io created\n',
  );
  await ok('wait', '--for=condition=Established', 'crd/migrationplans.meshshift.io', '--timeout=10s');
  await startInProcess(env, prom(), prefix);
  return env;
}

const waitPhase = (e: ControllerEnv, name: string, phase: string): Promise<string> =>
  ok('wait', '-n', e.ns, `--for=jsonpath={.status.phase}=${phase}`, `mp/${name}`, '--timeout=120s');

describe('the GitOps page (docs/gitops.md) with the real kubectl', () => {
  it('CRD, strict validation, apply, get -w, promote, wait Ready, describe with Events, server-side apply', async () => {
    const e = await setUp('kubectl-ready');
    // Default validation is strict and server-side: an unknown field is refused, a wrong type is invalid.
    const unknown = await kubectl(['apply', '-f', examplePlan(e, 'typo', (s) => (s.polcy = 'default'))]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('strict decoding error: unknown field "spec.polcy"');
    const wrongType = await kubectl(['apply', '-f', examplePlan(e, 'typed', (s) => (s.host = 42))]);
    expect(wrongType.stderr).toContain(
      'spec.host: Invalid value: "integer": spec.host in body must be of type string',
    );
    expect(await kubectl(['get', 'mp', '-n', e.ns])).toMatchObject({
      stderr: `No resources found in ${e.ns} namespace.\n`,
    });

    const watch = kubectlProcess(['get', 'mp', '-n', e.ns, '-w']);
    let watched = '';
    watch.stdout!.on('data', (d: Buffer) => (watched += d.toString()));
    expect(await ok('apply', '-f', examplePlan(e))).toBe(`migrationplan.meshshift.io/${NAME} created\n`);
    await waitPhase(e, NAME, 'awaitingApproval');
    expect(
      await ok('annotate', '-n', e.ns, `mp/${NAME}`, 'meshshift.io/command=promote', '--overwrite'),
    ).toBe(`migrationplan.meshshift.io/${NAME} annotated\n`);
    expect(await ok('wait', '-n', e.ns, '--for=condition=Ready', `mp/${NAME}`, '--timeout=150s')).toBe(
      `migrationplan.meshshift.io/${NAME} condition met\n`,
    );
    watch.kill('SIGTERM');
    const distinct = [...new Set(watched.split('\n').map((l) => l.replace(/\s+\S+$/, '')))];
    console.log(`[kubectl get mp -w, distinct lines without AGE]\n${distinct.join('\n')}`);
    const lines = watched.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+PHASE\s+WEIGHT\s+STEP\s+LAST VERDICT\s+AGE$/);
    expect(watched).toMatch(new RegExp(`^${NAME}\\s+awaitingApproval\\s+5\\s+\\d/6\\s+\\S+\\s+\\d+s$`, 'm'));
    expect(lines.at(-1)).toMatch(new RegExp(`^${NAME}\\s+completed\\s+100\\s+6/6\\s+pass\\s+\\d+s$`));

    const got = await ok('get', 'mp', '-n', e.ns);
    expect(got).toMatch(new RegExp(`^${NAME}\\s+completed\\s+100\\s+6/6\\s+pass\\s+\\d+s$`, 'm'));
    const described = await ok('describe', 'mp', '-n', e.ns, NAME);
    console.log(`[kubectl describe mp]\n${described.slice(described.indexOf('Events:'))}`);
    expect(described).toMatch(/^Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message$/m);
    expect(described).toMatch(
      /Normal\s+WeightChanged\s+\S+\s+meshshift\.io\/controller\s+weight 50 % → 100 % on the target/,
    );
    expect(described).toMatch(/Normal\s+CommandAccepted\s+.*PROMOTE by kubernetes:kubectl-annotate/);
    expect(described).toMatch(/Normal\s+Completed\s+/);

    // Server-side apply (Flux): a field kubectl's client-side apply owns conflicts until forced.
    const flux = examplePlan(e, NAME, (s) => (s.notify = { slackChannel: '#flux' }));
    const conflict = await kubectl(['apply', '--server-side', '--field-manager=flux', '-f', flux]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain(
      'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using meshshift.io/v1alpha1: .spec.notify.slackChannel',
    );
    const forced = ['apply', '--server-side', '--field-manager=flux', '--force-conflicts', '-f', flux];
    expect(await ok(...forced)).toBe(`migrationplan.meshshift.io/${NAME} serverside-applied\n`);
    const generation = ['get', 'mp', '-n', e.ns, NAME, '-o', 'jsonpath={.metadata.generation}'];
    const gen = await ok(...generation);
    await ok(...forced); // the same configuration again changes nothing
    expect(await ok(...generation)).toBe(gen);
    const managers = await ok(
      'get',
      'mp',
      '-n',
      e.ns,
      NAME,
      '--show-managed-fields',
      '-o',
      'jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation}/{.subresource}{"\\n"}{end}',
    );
    // kubectl then moves the client-side-apply manager's fields to flux (a JSON patch of managedFields).
    expect(managers.split('\n')).toContain('flux/Apply/');
    expect(managers).not.toContain('kubectl-client-side-apply');
    expect(managers).toMatch(/\/Update\/status/); // the controller's status writes
  }, 300_000);

  it('abort through an annotation, delete held by the finalizer, dry-run of deploy/', async () => {
    const e = await setUp('kubectl-abort');
    await ok('apply', '-f', examplePlan(e, 'aborted'));
    await waitPhase(e, 'aborted', 'awaitingApproval');
    await ok(
      'annotate',
      '-n',
      e.ns,
      'mp/aborted',
      'meshshift.io/command=abort',
      '--overwrite',
      'meshshift.io/command-reason=pager went off',
    );
    expect(await ok('wait', '-n', e.ns, '--for=condition=Stalled', 'mp/aborted', '--timeout=60s')).toContain(
      'condition met',
    );
    expect(e.s.weightWrites().at(-1)).toBe(0);
    expect(await ok('describe', 'mp', '-n', e.ns, 'aborted')).toMatch(/ABORT by kubernetes:kubectl-annotate/);

    // `kubectl apply --server-side` (manager `kubectl`) on a client-side-applied object: kube's upgrade path
    // takes over the fields of the last-applied annotation without a conflict.
    const upgraded = examplePlan(e, 'aborted', (spec) => (spec.notify = { slackChannel: '#ssa' }));
    expect(await ok('apply', '--server-side', '-f', upgraded)).toBe(
      'migrationplan.meshshift.io/aborted serverside-applied\n',
    );
    const owners = await ok(
      ...['get', 'mp', '-n', e.ns, 'aborted', '--show-managed-fields', '-o'],
      'jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}',
    );
    expect(owners.split(' ')).toEqual(
      expect.arrayContaining(['kubectl/Apply', 'kubectl-last-applied/Apply']),
    );
    expect(owners).not.toContain('kubectl-client-side-apply');

    // Deleting an active plan: the DELETE only marks it (finalizer), the controller rolls back, then it goes.
    await ok('apply', '-f', examplePlan(e, 'deleted'));
    await waitPhase(e, 'deleted', 'awaitingApproval');
    const writesBefore = e.s.weightWrites().length;
    expect(await ok('delete', 'mp', '-n', e.ns, 'deleted', '--timeout=60s')).toBe(
      'migrationplan.meshshift.io "deleted" deleted\n',
    );
    const reqs = e.s.kube.requests;
    const isPlan = (i: number): boolean => reqs[i]!.path.endsWith('/migrationplans/deleted');
    const iDelete = reqs.findIndex((r, i) => r.method === 'DELETE' && isPlan(i));
    const iRollback = reqs.findIndex(
      (r, i) => i > iDelete && r.method === 'PATCH' && r.path.includes('/virtualservices/'),
    );
    const iRelease = reqs.findIndex(
      (r, i) => i > iRollback && ['PATCH', 'PUT'].includes(r.method) && isPlan(i),
    );
    expect(reqs[iDelete]?.status).toBe(200);
    expect(iRollback).toBeGreaterThan(iDelete); // the object was still there, held by its finalizer…
    expect(reqs[iRelease]?.status).toBe(200); // …until the controller released it after the rollback
    expect(e.s.weightWrites().slice(writesBefore)).toEqual([0]);
    expect((await kubectl(['get', 'mp', '-n', e.ns, 'deleted'])).stderr).toContain('not found');

    // `kubectl apply --dry-run=server -k deploy/` (its namespace exists: the controller's Lease lives there).
    expect(await ok('get', 'namespace', 'meshshift', '-o', 'name')).toBe('namespace/meshshift\n');
    const dry = await ok('apply', '--dry-run=server', '-k', 'deploy/');
    const out = dry.trim().split('\n');
    expect(out.length).toBe(16);
    for (const line of out) expect(line).toMatch(/ \(server dry run\)$/);
    expect(dry).toContain('deployment.apps/meshshift-controller created (server dry run)');
    expect((await kubectl(['get', 'deploy,sts,sa', '-n', 'meshshift'])).stderr).toBe(
      'No resources found in meshshift namespace.\n',
    );
  }, 300_000);
});
