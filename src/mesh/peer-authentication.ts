/**
 * "Policy second": after a migration has completed, move the workload's Istio PeerAuthentication from
 * PERMISSIVE to STRICT — but only after checking that the traffic it governs already uses mutual TLS, so that
 * no plaintext client is cut off.
 *
 * Talks to Kubernetes only through @kubernetes/client-node (security.istio.io v1, falling back to v1beta1),
 * and to Prometheus only through a query function passed in (e.g. `PrometheusProvider.query`).
 *
 * Kubernetes calls made here (the RBAC in deploy/ grants exactly these):
 *   get   peerauthentications.security.istio.io
 *   patch peerauthentications.security.istio.io   (JSON patch: test resourceVersion + mode, replace mode)
 */
import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { qualifyHost, type ResolvedPlan } from '../plan/load.js';
import { isConflict, isNotFound, isRetryable, toKubeError } from './kube.js';
import type { PreflightCheck } from './types.js';

const GROUP = 'security.istio.io';
const SUPPORTED = ['v1', 'v1beta1'] as const;
const PLURAL = 'peerauthentications';

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

/** One series of an instant query, as `PrometheusProvider.query` returns it. */
export interface MtlsQuerySeries {
  labels: Record<string, string>;
  value: number;
}

/** Runs one PromQL instant query. `PrometheusProvider#query` fits: `(q) => provider.query(q)`. */
export type MtlsQueryFn = (promql: string) => Promise<MtlsQuerySeries[]>;

export interface PeerAuthenticationAdapterOptions {
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

export class MtlsError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'MtlsError';
  }
}

interface PeerAuthenticationObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    mtls?: { mode?: string };
    portLevelMtls?: Record<string, { mode?: string }>;
  };
}

const MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];
function modeOf(pa: PeerAuthenticationObject): MtlsMode {
  const m = pa.spec?.mtls?.mode ?? 'UNSET';
  return (MODES as readonly string[]).includes(m) ? (m as MtlsMode) : 'UNSET';
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * PromQL counting the requests that a PeerAuthentication governs, by connection_security_policy. A
 * PeerAuthentication with a selector covers the plan's workloads (both hosts of the plan); one without a
 * selector covers the whole namespace.
 */
export function mtlsTrafficQuery(
  plan: Pick<ResolvedPlan, 'namespace' | 'source' | 'target'>,
  opts: { namespaceWide: boolean; reporter: 'destination' | 'source'; windowMs: number },
): string {
  const seconds = Math.max(1, Math.round(opts.windowMs / 1000));
  let scope: string;
  if (opts.namespaceWide) {
    scope = `destination_workload_namespace="${plan.namespace}"`;
  } else {
    const hosts = [
      ...new Set(
        [plan.source.destination.host, plan.target.destination.host].map((h) =>
          qualifyHost(h, plan.namespace),
        ),
      ),
    ];
    scope =
      hosts.length === 1
        ? `destination_service="${hosts[0]}"`
        : `destination_service=~"${hosts.map(escapeRegex).join('|')}"`;
  }
  return `sum by (connection_security_policy) (increase(istio_requests_total{reporter="${opts.reporter}",${scope}}[${seconds}s]))`;
}

export class PeerAuthenticationAdapter {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly apis: k8s.ApisApi;
  private version: Promise<string> | undefined;

  constructor(
    kc: k8s.KubeConfig,
    private readonly opts: PeerAuthenticationAdapterOptions = {},
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.apis = kc.makeApiClient(k8s.ApisApi);
  }

  /** The security.istio.io version to use: v1 when served (Istio ≥ 1.22), else v1beta1. */
  apiVersion(): Promise<string> {
    if (!this.version) {
      const p = this.discoverVersion();
      p.catch(() => {
        if (this.version === p) this.version = undefined;
      });
      this.version = p;
    }
    return this.version;
  }

  private async discoverVersion(): Promise<string> {
    let groups: k8s.V1APIGroupList;
    try {
      groups = await this.apis.getAPIVersions();
    } catch (err) {
      throw toKubeError(err, 'discover apis');
    }
    const group = groups.groups.find((g) => g.name === GROUP);
    if (!group) throw new MtlsError(`the cluster does not serve ${GROUP}: is Istio installed?`);
    const served = group.versions.map((v) => v.version);
    const found = SUPPORTED.find((v) => served.includes(v));
    if (!found)
      throw new MtlsError(
        `the cluster serves ${GROUP} ${served.join(', ')}; meshshift supports ${SUPPORTED.join(', ')}`,
      );
    return found;
  }

  private requireMtls(plan: ResolvedPlan): { peerAuthentication: string; tightenAfterCompletion: boolean } {
    if (!plan.mtls)
      throw new MtlsError(
        `plan ${plan.name} has no spec.mtls block`,
        'add spec.mtls.peerAuthentication to the MigrationPlan',
      );
    return plan.mtls;
  }

  private async read(namespace: string, name: string, version: string): Promise<PeerAuthenticationObject> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version,
        namespace,
        plural: PLURAL,
        name,
      })) as PeerAuthenticationObject;
    } catch (err) {
      throw toKubeError(err, `get ${PLURAL}/${namespace}/${name}`);
    }
  }

  /**
   * Checks that the plan's PeerAuthentication can be tightened without cutting anyone off: it exists, it is
   * PERMISSIVE (or STRICT already), and Prometheus shows (about) every request it governs arriving over mutual
   * TLS. Read-only: never changes anything.
   */
  async preflightMtls(plan: ResolvedPlan): Promise<MtlsPreflightReport> {
    const { peerAuthentication: name } = this.requireMtls(plan);
    const { namespace } = plan;
    const checks: PreflightCheck[] = [];
    const add = (id: string, ok: boolean, message: string, fix?: string) =>
      checks.push({ id, ok, message, ...(fix && !ok ? { fix } : {}) });
    const report = (extra: Partial<MtlsPreflightReport> = {}): MtlsPreflightReport => ({
      ok: checks.length > 0 && checks.every((c) => c.ok),
      checks,
      alreadyStrict: false,
      ...extra,
    });

    let version: string;
    try {
      version = await this.apiVersion();
      add('mtls-api', true, `${GROUP}/${version} is served`);
    } catch (err) {
      add('mtls-api', false, (err as Error).message, 'install Istio ≥ 1.22 (security.istio.io/v1)');
      return report();
    }

    let pa: PeerAuthenticationObject;
    try {
      pa = await this.read(namespace, name, version);
    } catch (err) {
      if (isNotFound(err))
        add(
          'peerauthentication',
          false,
          `PeerAuthentication ${namespace}/${name} not found`,
          'create it with spec.mtls.mode PERMISSIVE (see deploy/examples), or fix spec.mtls.peerAuthentication',
        );
      else add('peerauthentication', false, (err as Error).message);
      return report({ apiVersion: version });
    }
    const mode = modeOf(pa);
    const alreadyStrict = mode === 'STRICT';
    const portModes = Object.entries(pa.spec?.portLevelMtls ?? {})
      .map(([port, m]) => `${port}: ${m.mode ?? 'UNSET'}`)
      .join(', ');
    add(
      'peerauthentication',
      mode === 'PERMISSIVE' || alreadyStrict,
      mode === 'PERMISSIVE'
        ? `PeerAuthentication ${namespace}/${name} is PERMISSIVE and can be moved to STRICT${portModes ? ` (portLevelMtls stays as it is: ${portModes})` : ''}`
        : alreadyStrict
          ? `PeerAuthentication ${namespace}/${name} is STRICT already: nothing to do`
          : `PeerAuthentication ${namespace}/${name} has mode ${mode}: meshshift only moves PERMISSIVE to STRICT`,
      mode === 'UNSET'
        ? 'set spec.mtls.mode: PERMISSIVE explicitly (UNSET inherits from the namespace or mesh policy)'
        : 'set spec.mtls.mode: PERMISSIVE first, and let the clients move to mutual TLS',
    );
    const namespaceWide =
      !pa.spec?.selector?.matchLabels || Object.keys(pa.spec.selector.matchLabels).length === 0;

    if (alreadyStrict) return report({ apiVersion: version, mode, alreadyStrict });

    // Observability first: only tighten what the metrics prove is mutual TLS already.
    const minRatio = this.opts.minMutualTlsRatio ?? 0.999;
    const minRequests = this.opts.minRequests ?? 1;
    const query = mtlsTrafficQuery(plan, {
      namespaceWide,
      reporter: this.opts.reporter ?? 'destination',
      windowMs: this.opts.windowMs ?? 10 * 60_000,
    });
    if (!this.opts.query) {
      add(
        'mtls-traffic',
        false,
        'no Prometheus query function given: cannot check the traffic',
        'pass options.query',
      );
      return report({ apiVersion: version, mode, query });
    }
    let series: MtlsQuerySeries[];
    try {
      series = await this.opts.query(query);
    } catch (err) {
      add('mtls-traffic', false, `Prometheus: ${(err as Error).message}`, 'check that Prometheus is up');
      return report({ apiVersion: version, mode, query });
    }
    let total = 0;
    let mutual = 0;
    const plain: string[] = [];
    for (const s of series) {
      if (!Number.isFinite(s.value)) continue;
      total += s.value;
      const policy = s.labels.connection_security_policy ?? '';
      if (policy === 'mutual_tls') mutual += s.value;
      else if (s.value > 0) plain.push(`${policy || '(none)'}: ${Math.round(s.value)}`);
    }
    const ratio = total > 0 ? mutual / total : 0;
    const what = namespaceWide ? `namespace ${namespace}` : `${plan.host}`;
    if (total < minRequests) {
      add(
        'mtls-traffic',
        false,
        `Prometheus shows ${Math.round(total)} requests to ${what} in the window: too few to prove that clients use mutual TLS`,
        'wait for traffic, or check the Istio metrics scrape',
      );
    } else {
      add(
        'mtls-traffic',
        ratio >= minRatio,
        ratio >= minRatio
          ? `${(ratio * 100).toFixed(2)} % of ${Math.round(total)} requests to ${what} use mutual TLS`
          : `only ${(ratio * 100).toFixed(2)} % of ${Math.round(total)} requests to ${what} use mutual TLS (${plain.join(', ')}): STRICT would reject the rest`,
        'move the remaining clients into the mesh (sidecar or ambient) before tightening',
      );
    }
    return report({ apiVersion: version, mode, requests: total, mutualTlsRatio: ratio, query });
  }

  /**
   * Moves the plan's PeerAuthentication from PERMISSIVE to STRICT with one JSON patch guarded by `test` ops on
   * metadata.resourceVersion and spec.mtls.mode; touches no other field. Idempotent: STRICT already → no write.
   * Refuses any other starting mode (run preflightMtls first).
   */
  async tightenMtls(plan: ResolvedPlan): Promise<MtlsTightenResult> {
    const { peerAuthentication: name } = this.requireMtls(plan);
    const { namespace } = plan;
    const version = await this.apiVersion();
    const maxAttempts = this.opts.maxAttempts ?? 5;
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const pa = await this.read(namespace, name, version);
      const mode = modeOf(pa);
      if (mode === 'STRICT') {
        return {
          changed: false,
          from: 'STRICT',
          mode: 'STRICT',
          attempts: attempt,
          ...(pa.metadata.resourceVersion ? { resourceVersion: pa.metadata.resourceVersion } : {}),
        };
      }
      if (mode !== 'PERMISSIVE') {
        throw new MtlsError(
          `PeerAuthentication ${namespace}/${name} has mode ${mode}, not PERMISSIVE: refusing to change it`,
          'set spec.mtls.mode: PERMISSIVE and run the mTLS preflight',
        );
      }
      const rv = pa.metadata.resourceVersion;
      if (!rv) throw new MtlsError(`PeerAuthentication ${namespace}/${name} has no resourceVersion`);
      const patch = [
        { op: 'test', path: '/metadata/resourceVersion', value: rv },
        { op: 'test', path: '/spec/mtls/mode', value: 'PERMISSIVE' },
        { op: 'replace', path: '/spec/mtls/mode', value: 'STRICT' },
      ];
      try {
        const updated = (await this.custom.patchNamespacedCustomObject(
          { group: GROUP, version, namespace, plural: PLURAL, name, body: patch },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
        )) as PeerAuthenticationObject;
        return {
          changed: true,
          from: 'PERMISSIVE',
          mode: 'STRICT',
          attempts: attempt,
          ...(updated.metadata?.resourceVersion ? { resourceVersion: updated.metadata.resourceVersion } : {}),
        };
      } catch (err) {
        const e = toKubeError(err, `patch ${PLURAL}/${namespace}/${name}`);
        if (!(isConflict(e) || isRetryable(e))) throw e;
        lastError = e;
        // Someone wrote in between: re-read (maybe it is STRICT now) and try again.
        if (attempt < maxAttempts) await sleep(Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random()));
      }
    }
    throw new Error(
      `gave up tightening PeerAuthentication ${namespace}/${name} after ${maxAttempts} attempts: ${(lastError as Error)?.message}`,
    );
  }
}
