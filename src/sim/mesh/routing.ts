/**
 * The route table the load generator draws from, built the way Envoy would from a VirtualService (first matching
 * HTTP route, weighted destinations by host and subset) or from a static weight map; the weight timeline.
 */
import type { BackendRuntime } from './backend.js';
import { pickHttpRouteRule } from './http-route-match.js';
import { isRecord, normalizeHost, routeMatches, type RequestShape } from './route-match.js';

interface RouteTable {
  /** backend indexes, parallel to cum */
  targets: number[];
  /** cumulative weights */
  cum: number[];
  total: number;
}

const EMPTY_TABLE: RouteTable = { targets: [], cum: [], total: 0 };

function sameWeights(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

export class Router {
  private table: RouteTable = EMPTY_TABLE;
  private weights: Record<string, number>;
  private readonly timeline: Array<{ at: number; weights: Record<string, number> }> = [];
  private readonly waiters = new Set<() => void>();
  private readonly byName: Map<string, BackendRuntime>;

  constructor(
    private readonly backends: readonly BackendRuntime[],
    private readonly requestShape: RequestShape,
    private readonly vsNamespace: string | undefined,
  ) {
    this.byName = new Map(backends.map((b) => [b.spec.name, b]));
    this.weights = Object.fromEntries(backends.map((b) => [b.spec.name, 0]));
  }

  setStatic(s: Record<string, number>): void {
    const t: RouteTable = { targets: [], cum: [], total: 0 };
    for (const [name, weight] of Object.entries(s)) {
      const b = this.byName.get(name);
      if (b === undefined) throw new Error(`static routing names unknown backend ${name}`);
      if (!(weight >= 0)) throw new Error(`static routing weight for ${name} must be >= 0`);
      if (weight === 0) continue;
      t.total += weight;
      t.targets.push(b.index);
      t.cum.push(t.total);
    }
    this.setTable(t);
  }

  /** No route at all (the VirtualService is missing or was deleted). */
  clear(): void {
    this.setTable(EMPTY_TABLE);
  }

  setVirtualService(vs: unknown): void {
    this.setTable(this.tableFromVirtualService(vs));
  }

  /** Routes by a Gateway API HTTPRoute (GAMMA): the rule serving the request, its backendRefs by weight. */
  setHttpRoute(route: unknown): void {
    if (!isRecord(route) || !isRecord(route.spec) || !Array.isArray(route.spec.rules)) return this.clear();
    const rule = pickHttpRouteRule(route.spec.rules, this.requestShape);
    const refs = rule && Array.isArray(rule.backendRefs) ? rule.backendRefs : [];
    this.setTable(
      this.weightedTable(
        refs.map((r) => ({
          // Gateway API: an unset weight is 1.
          weight: isRecord(r) && typeof r.weight === 'number' ? r.weight : 1,
          targets: this.resolveBackendRef(r),
        })),
      ),
    );
  }

  pick(rng: () => number): BackendRuntime | undefined {
    const t = this.table;
    if (t.total <= 0) return undefined;
    const r = rng() * t.total;
    const n = t.cum.length;
    let i = 0;
    while (i < n - 1 && r >= (t.cum[i] as number)) i++;
    const idx = t.targets[i] as number;
    return idx < 0 ? undefined : this.backends[idx];
  }

  currentWeights(): Record<string, number> {
    return { ...this.weights };
  }

  weightTimeline(): Array<{ at: number; weights: Record<string, number> }> {
    return this.timeline.map((e) => ({ at: e.at, weights: { ...e.weights } }));
  }

  waitForWeights(
    pred: (w: Record<string, number>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, number>> {
    if (pred({ ...this.weights })) return Promise.resolve({ ...this.weights });
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (pred({ ...this.weights })) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve({ ...this.weights });
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `waitForWeights: timed out after ${timeoutMs} ms; current weights ${JSON.stringify(this.weights)}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Backends standing for a VirtualService destination (host + optional subset). */
  private resolveDestination(dest: unknown): BackendRuntime[] {
    if (!isRecord(dest) || typeof dest.host !== 'string') return [];
    const host = normalizeHost(dest.host, this.vsNamespace);
    const subset = typeof dest.subset === 'string' ? dest.subset : undefined;
    const sameHost = this.backends.filter((b) => b.host === host);
    if (subset !== undefined) return sameHost.filter((b) => b.spec.destination.subset === subset);
    const noSubset = sameHost.filter((b) => b.spec.destination.subset === undefined);
    // A subset-less destination load-balances over every endpoint of the host.
    return noSubset.length > 0 ? noSubset : sameHost;
  }

  /** Backends standing for an HTTPRoute backendRef: a Service (by FQDN) or an Istio Hostname. */
  private resolveBackendRef(ref: unknown): BackendRuntime[] {
    if (!isRecord(ref) || typeof ref.name !== 'string') return [];
    const group = typeof ref.group === 'string' ? ref.group : '';
    const kind = typeof ref.kind === 'string' ? ref.kind : 'Service';
    let host: string;
    if (group === '' && kind === 'Service') {
      const ns = typeof ref.namespace === 'string' ? ref.namespace : this.vsNamespace;
      host = `${ref.name}.${ns ?? 'default'}.svc.cluster.local`;
    } else if (group === 'networking.istio.io' && kind === 'Hostname') host = ref.name;
    else return [];
    return this.backends.filter((b) => b.host === host);
  }

  /** A table from weighted entries; an entry without backends keeps its share, unrouted (Envoy: 503 NC/UH). */
  private weightedTable(entries: Array<{ weight: number; targets: BackendRuntime[] }>): RouteTable {
    const t: RouteTable = { targets: [], cum: [], total: 0 };
    for (const { weight, targets } of entries) {
      if (!(weight > 0)) continue;
      if (targets.length === 0) {
        t.total += weight;
        t.targets.push(-1);
        t.cum.push(t.total);
        continue;
      }
      for (const b of targets) {
        t.total += weight / targets.length;
        t.targets.push(b.index);
        t.cum.push(t.total);
      }
    }
    return t;
  }

  private tableFromVirtualService(vs: unknown): RouteTable {
    if (!isRecord(vs) || !isRecord(vs.spec) || !Array.isArray(vs.spec.http)) return EMPTY_TABLE;
    const route = vs.spec.http.find(
      (r): r is Record<string, unknown> => isRecord(r) && routeMatches(r, this.requestShape),
    );
    if (route === undefined || !Array.isArray(route.route)) return EMPTY_TABLE;
    const dests = route.route;
    return this.weightedTable(
      dests.filter(isRecord).map((d) => ({
        weight: typeof d.weight === 'number' ? d.weight : dests.length === 1 ? 100 : 0,
        targets: this.resolveDestination(d.destination),
      })),
    );
  }

  /** Install a route table and derive the per-backend percentages from it. */
  private setTable(t: RouteTable): void {
    const w: Record<string, number> = Object.fromEntries(this.backends.map((b) => [b.spec.name, 0]));
    for (let i = 0; i < t.targets.length; i++) {
      const idx = t.targets[i] as number;
      if (idx < 0) continue; // share of an unknown destination: counted in the total only
      const b = this.backends[idx] as BackendRuntime;
      const prev = i === 0 ? 0 : (t.cum[i - 1] as number);
      w[b.spec.name] = (w[b.spec.name] ?? 0) + (((t.cum[i] as number) - prev) / t.total) * 100;
    }
    for (const k of Object.keys(w)) w[k] = Math.round((w[k] as number) * 1000) / 1000;
    this.table = t;
    if (this.timeline.length === 0 || !sameWeights(w, this.weights)) {
      this.weights = w;
      this.timeline.push({ at: Date.now(), weights: { ...w } });
      for (const fn of [...this.waiters]) fn();
    }
  }
}
