/**
 * "Policy second": after a migration has completed, move the workload's Istio PeerAuthentication from
 * PERMISSIVE to STRICT — but only after checking that the traffic it governs already uses mutual TLS, so that
 * no plaintext client is cut off.
 *
 * Talks to Kubernetes only through @kubernetes/client-node (security.istio.io v1, falling back to v1beta1),
 * every call with a deadline and the caller's AbortSignal, and to Prometheus only through a query function
 * passed in (e.g. `PrometheusProvider.query`).
 *
 * Kubernetes calls made here (the RBAC in deploy/ grants exactly these):
 *   get   peerauthentications.security.istio.io
 *   patch peerauthentications.security.istio.io   (JSON patch: test resourceVersion + mode, replace mode)
 */
import * as k8s from '@kubernetes/client-node';
import { mtlsTrafficQuery } from '../gate/input/promql.js';
import type { ResolvedPlan } from '../plan/load.js';
import { MtlsError } from './errors.js';
import { KubeCalls, jsonPatch, type KubeCallOptions } from './kube/call.js';
import { CheckList } from './kube/checks.js';
import { ApiDiscovery } from './kube/discovery.js';
import { guardedPatch, type JsonPatchOp } from './kube/guarded-patch.js';
import { retryPolicy, type RetryPolicy } from './kube/retry.js';
import { judgeMtlsTraffic, type MtlsQueryFn } from './mtls-traffic.js';
import type { CallOptions, PreflightCheck } from './types.js';

const GROUP = 'security.istio.io';
const PLURAL = 'peerauthentications';
const SUPPORTED = ['v1', 'v1beta1'] as const;
const PA_NOT_FOUND_FIX =
  'create it with spec.mtls.mode PERMISSIVE (see deploy/examples), or fix spec.mtls.peerAuthentication';

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthenticationAdapterOptions extends KubeCallOptions {
  /** Prometheus access for the traffic check; without it preflightMtls reports the check as failed. */
  query?: MtlsQueryFn;
  /** Share of requests that must be mutual TLS. Default 0.999 ("about all": a stray health probe is fine). */
  minMutualTlsRatio?: number;
  /** PromQL range for the traffic check, in ms. Default 10 minutes. */
  windowMs?: number;
  /** Requests needed in the window before the ratio is trusted. Default 1. */
  minRequests?: number;
  /** Istio reporter to read (the server side knows the connection's real security). Default 'destination'. */
  reporter?: 'destination' | 'source';
  /** Attempts for the patch when the object changes under us (422 from the `test` op) or the API blips. */
  maxAttempts?: number;
  /** Backoff between those attempts. */
  retry?: Partial<Omit<RetryPolicy, 'maxAttempts'>>;
}

export interface MtlsPreflightReport {
  ok: boolean;
  checks: PreflightCheck[];
  /** security.istio.io version used. */
  apiVersion?: string;
  /** spec.mtls.mode found ('UNSET' when absent). */
  mode?: MtlsMode;
  /** STRICT already: tightenMtls would change nothing. */
  alreadyStrict: boolean;
  /** Requests seen in the window and the share of them over mutual TLS (when the query ran). */
  requests?: number;
  mutualTlsRatio?: number;
  /** The PromQL used for the traffic check. */
  query?: string;
}

export interface MtlsTightenResult {
  /** false when the PeerAuthentication was STRICT already (idempotent re-run after a restart). */
  changed: boolean;
  from: MtlsMode;
  mode: 'STRICT';
  attempts: number;
  resourceVersion?: string;
}

export interface TightenOptions extends CallOptions {
  /** Runs before every PATCH attempt, retries included (the fencing check); throwing stops the write. */
  beforeAttempt?: () => Promise<void>;
}

interface PeerAuthenticationObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    mtls?: { mode?: string };
    portLevelMtls?: Record<string, { mode?: string }>;
  };
}

interface Target {
  namespace: string;
  name: string;
  version: string;
  signal?: AbortSignal;
}

const MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];
function modeOf(pa: PeerAuthenticationObject): MtlsMode {
  const m = pa.spec?.mtls?.mode ?? 'UNSET';
  return (MODES as readonly string[]).includes(m) ? (m as MtlsMode) : 'UNSET';
}

function requireMtls(plan: ResolvedPlan): { peerAuthentication: string } {
  if (!plan.mtls)
    throw new MtlsError(
      `plan ${plan.name} has no spec.mtls block`,
      'add spec.mtls.peerAuthentication to the MigrationPlan',
    );
  return plan.mtls;
}

/** The patch from PERMISSIVE to STRICT, null when STRICT already; MtlsError for any other mode. */
function tightenPatch(pa: PeerAuthenticationObject, ref: string): JsonPatchOp[] | null {
  const mode = modeOf(pa);
  if (mode === 'STRICT') return null;
  if (mode !== 'PERMISSIVE')
    throw new MtlsError(
      `PeerAuthentication ${ref} has mode ${mode}, not PERMISSIVE: refusing to change it`,
      'set spec.mtls.mode: PERMISSIVE and run the mTLS preflight',
    );
  const rv = pa.metadata.resourceVersion;
  if (!rv) throw new MtlsError(`PeerAuthentication ${ref} has no resourceVersion`);
  return [
    { op: 'test', path: '/metadata/resourceVersion', value: rv },
    { op: 'test', path: '/spec/mtls/mode', value: 'PERMISSIVE' },
    { op: 'replace', path: '/spec/mtls/mode', value: 'STRICT' },
  ];
}

export class PeerAuthenticationAdapter {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly calls: KubeCalls;
  private readonly discovery: ApiDiscovery;
  private readonly policy: RetryPolicy;

  constructor(
    kc: k8s.KubeConfig,
    private readonly opts: PeerAuthenticationAdapterOptions = {},
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.calls = new KubeCalls(opts);
    this.discovery = new ApiDiscovery(kc, this.calls);
    this.policy = retryPolicy({ ...opts.retry, maxAttempts: opts.maxAttempts ?? 5 });
  }

  /** The security.istio.io version to use: the cluster's preferred one of v1 (Istio ≥ 1.22) and v1beta1. */
  apiVersion(signal?: AbortSignal): Promise<string> {
    return this.discovery.version(
      { group: GROUP, supported: SUPPORTED, hint: 'is Istio installed?' },
      signal,
    );
  }

  private read(t: Target): Promise<PeerAuthenticationObject> {
    const { namespace, name, version } = t;
    return this.calls.run(
      'get',
      `${PLURAL}/${namespace}/${name}`,
      (o) =>
        this.custom.getNamespacedCustomObject({ group: GROUP, version, namespace, plural: PLURAL, name }, o),
      t.signal,
    );
  }

  private patch(t: Target, body: JsonPatchOp[]): Promise<PeerAuthenticationObject> {
    const { namespace, name, version } = t;
    return this.calls.run(
      'patch',
      `${PLURAL}/${namespace}/${name}`,
      (o) =>
        this.custom.patchNamespacedCustomObject(
          { group: GROUP, version, namespace, plural: PLURAL, name, body },
          jsonPatch(o),
        ),
      t.signal,
    );
  }

  /**
   * Checks that the plan's PeerAuthentication can be tightened without cutting anyone off: it exists, it is
   * PERMISSIVE (or STRICT already), and Prometheus shows (about) every request it governs arriving over mutual
   * TLS. Read-only: never changes anything.
   */
  async preflightMtls(plan: ResolvedPlan, opts: CallOptions = {}): Promise<MtlsPreflightReport> {
    const name = requireMtls(plan).peerAuthentication;
    const checks = new CheckList(opts.signal);
    const report = (extra: Partial<MtlsPreflightReport> = {}): MtlsPreflightReport => ({
      ok: checks.ok,
      checks: checks.checks,
      alreadyStrict: false,
      ...extra,
    });
    let version: string;
    try {
      version = await this.apiVersion(opts.signal);
      checks.add('mtls-api', true, `${GROUP}/${version} is served`);
    } catch (err) {
      checks.failed('mtls-api', err, 'install Istio ≥ 1.22 (security.istio.io/v1)');
      return report();
    }
    const target: Target = {
      namespace: plan.namespace,
      name,
      version,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    let pa: PeerAuthenticationObject;
    try {
      pa = await this.read(target);
    } catch (err) {
      checks.failedRead(
        'peerauthentication',
        err,
        `PeerAuthentication ${plan.namespace}/${name}`,
        PA_NOT_FOUND_FIX,
      );
      return report({ apiVersion: version });
    }
    const mode = checkMode(checks, pa, `${plan.namespace}/${name}`);
    if (mode === 'STRICT') return report({ apiVersion: version, mode, alreadyStrict: true });
    return report({ apiVersion: version, mode, ...(await this.checkTraffic(checks, plan, pa)) });
  }

  /** Observability first: only tighten what the metrics prove is mutual TLS already. */
  private async checkTraffic(
    checks: CheckList,
    plan: ResolvedPlan,
    pa: PeerAuthenticationObject,
  ): Promise<Pick<MtlsPreflightReport, 'query' | 'requests' | 'mutualTlsRatio'>> {
    const namespaceWide = Object.keys(pa.spec?.selector?.matchLabels ?? {}).length === 0;
    const query = mtlsTrafficQuery(plan, {
      namespaceWide,
      reporter: this.opts.reporter ?? 'destination',
      windowMs: this.opts.windowMs ?? 10 * 60_000,
    });
    if (!this.opts.query) {
      const message = 'no Prometheus query function given: cannot check the traffic';
      checks.add('mtls-traffic', false, message, 'pass options.query');
      return { query };
    }
    let series;
    try {
      series = await this.opts.query(query);
    } catch (err) {
      checks.add(
        'mtls-traffic',
        false,
        `Prometheus: ${(err as Error).message}`,
        'check that Prometheus is up',
      );
      return { query };
    }
    const v = judgeMtlsTraffic(series, {
      what: namespaceWide ? `namespace ${plan.namespace}` : plan.host,
      minRatio: this.opts.minMutualTlsRatio ?? 0.999,
      minRequests: this.opts.minRequests ?? 1,
    });
    checks.add('mtls-traffic', v.ok, v.message, v.fix);
    return { query, requests: v.requests, mutualTlsRatio: v.mutualTlsRatio };
  }

  /**
   * Moves the plan's PeerAuthentication from PERMISSIVE to STRICT with one JSON patch guarded by `test` ops on
   * metadata.resourceVersion and spec.mtls.mode; touches no other field. Idempotent: STRICT already → no write.
   * Refuses any other starting mode (run preflightMtls first).
   */
  async tightenMtls(plan: ResolvedPlan, opts: TightenOptions = {}): Promise<MtlsTightenResult> {
    const name = requireMtls(plan).peerAuthentication;
    const ref = `${plan.namespace}/${name}`;
    const version = await this.apiVersion(opts.signal);
    const target: Target = {
      namespace: plan.namespace,
      name,
      version,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    const r = await guardedPatch<PeerAuthenticationObject>({
      what: `tighten PeerAuthentication ${ref} to STRICT`,
      policy: this.policy,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.beforeAttempt ? { beforeWrite: opts.beforeAttempt } : {}),
      read: () => this.read(target),
      decide: (pa) => tightenPatch(pa, ref),
      write: (ops) => this.patch(target, ops),
    });
    const resourceVersion = r.object.metadata?.resourceVersion;
    return {
      changed: r.wrote,
      from: r.wrote ? 'PERMISSIVE' : 'STRICT',
      mode: 'STRICT',
      attempts: r.attempts,
      ...(resourceVersion ? { resourceVersion } : {}),
    };
  }
}

/** PERMISSIVE can be tightened and STRICT needs nothing; anything else is refused with what to set. */
function checkMode(checks: CheckList, pa: PeerAuthenticationObject, ref: string): MtlsMode {
  const mode = modeOf(pa);
  const portModes = Object.entries(pa.spec?.portLevelMtls ?? {})
    .map(([port, m]) => `${port}: ${m.mode ?? 'UNSET'}`)
    .join(', ');
  checks.add(
    'peerauthentication',
    mode === 'PERMISSIVE' || mode === 'STRICT',
    mode === 'PERMISSIVE'
      ? `PeerAuthentication ${ref} is PERMISSIVE and can be moved to STRICT${portModes ? ` (portLevelMtls stays as it is: ${portModes})` : ''}`
      : mode === 'STRICT'
        ? `PeerAuthentication ${ref} is STRICT already: nothing to do`
        : `PeerAuthentication ${ref} has mode ${mode}: meshshift only moves PERMISSIVE to STRICT`,
    mode === 'UNSET'
      ? 'set spec.mtls.mode: PERMISSIVE explicitly (UNSET inherits from the namespace or mesh policy)'
      : 'set spec.mtls.mode: PERMISSIVE first, and let the clients move to mutual TLS',
  );
  return mode;
}
