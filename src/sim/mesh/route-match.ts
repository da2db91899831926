/** How Envoy picks an HTTP route of a VirtualService for the load generator's requests (match conditions). */

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Istio resolves short host names relative to the VirtualService's namespace. */
export function normalizeHost(host: string, namespace: string | undefined): string {
  if (host.includes('.') || namespace === undefined) return host;
  return `${host}.${namespace}.svc.cluster.local`;
}

export interface RequestShape {
  uri: string;
  method: string;
  authority: string;
  scheme: string;
  sourceLabels: Record<string, string>;
  sourceNamespace: string;
}

export function stringMatch(m: unknown, value: string, ignoreCase: boolean): boolean {
  if (!isRecord(m)) return true;
  const v = ignoreCase ? value.toLowerCase() : value;
  const norm = (s: unknown): string | undefined =>
    typeof s === 'string' ? (ignoreCase ? s.toLowerCase() : s) : undefined;
  const exact = norm(m.exact);
  if (exact !== undefined) return v === exact;
  const prefix = norm(m.prefix);
  if (prefix !== undefined) return v.startsWith(prefix);
  if (typeof m.regex === 'string') {
    try {
      return new RegExp(`^(?:${m.regex})$`).test(value);
    } catch {
      return false;
    }
  }
  return true;
}

/** One HTTPMatchRequest against the load generator's (header-less) requests. */
export function matchRequest(m: unknown, req: RequestShape): boolean {
  if (!isRecord(m)) return true;
  const ic = m.ignoreUriCase === true;
  if (m.uri !== undefined && !stringMatch(m.uri, req.uri, ic)) return false;
  if (m.method !== undefined && !stringMatch(m.method, req.method, false)) return false;
  if (m.authority !== undefined && !stringMatch(m.authority, req.authority, false)) return false;
  if (m.scheme !== undefined && !stringMatch(m.scheme, req.scheme, false)) return false;
  // The generator sends no special headers / query params: any such condition fails.
  if (isRecord(m.headers) && Object.keys(m.headers).length > 0) return false;
  if (isRecord(m.queryParams) && Object.keys(m.queryParams).length > 0) return false;
  // withoutHeaders: header must be absent (or not matching) -> always satisfied.
  if (isRecord(m.sourceLabels)) {
    for (const [k, v] of Object.entries(m.sourceLabels)) {
      if (req.sourceLabels[k] !== v) return false;
    }
  }
  if (typeof m.sourceNamespace === 'string' && m.sourceNamespace !== req.sourceNamespace) return false;
  if (Array.isArray(m.gateways) && m.gateways.length > 0 && !m.gateways.includes('mesh')) return false;
  return true;
}

export function routeMatches(route: Record<string, unknown>, req: RequestShape): boolean {
  const match = route.match;
  if (!Array.isArray(match) || match.length === 0) return true;
  return match.some((m) => matchRequest(m, req));
}
