/**
 * How a mesh data plane picks an HTTPRoute rule for the load generator's requests (GAMMA): among the rules whose
 * matches accept the request, the most specific match wins (Exact path, then the longest PathPrefix, then a
 * method, then more header matches), ties going to the earlier rule, as the Gateway API spec orders them.
 * The generator sends no special headers or query parameters, so a rule that requires one never matches.
 */
import { isRecord, type RequestShape } from './route-match.js';

/** How specific a match is (higher wins), or -1 when it does not accept the request. */
function specificity(m: unknown, req: RequestShape): number {
  if (!isRecord(m)) return 0;
  if (Array.isArray(m.headers) && m.headers.length > 0) return -1;
  if (Array.isArray(m.queryParams) && m.queryParams.length > 0) return -1;
  if (typeof m.method === 'string' && m.method !== req.method) return -1;
  const method = typeof m.method === 'string' ? 1 : 0;
  const path = isRecord(m.path) ? m.path : { type: 'PathPrefix', value: '/' };
  const value = typeof path.value === 'string' ? path.value : '/';
  if (path.type === 'Exact') return req.uri === value ? 3_000_000 + method : -1;
  if (path.type === 'RegularExpression') {
    try {
      return new RegExp(`^(?:${value})$`).test(req.uri) ? 1_000_000 + method : -1;
    } catch {
      return -1;
    }
  }
  // PathPrefix matches whole path segments.
  const prefix = value.endsWith('/') && value.length > 1 ? value.slice(0, -1) : value;
  const ok = prefix === '/' || req.uri === prefix || req.uri.startsWith(`${prefix}/`);
  return ok ? 2_000_000 + prefix.length * 2 + method : -1;
}

/** The rule that serves the request, or undefined when none does (the data plane answers 404). */
export function pickHttpRouteRule(rules: unknown[], req: RequestShape): Record<string, unknown> | undefined {
  let best: { rule: Record<string, unknown>; score: number } | undefined;
  for (const rule of rules) {
    if (!isRecord(rule)) continue;
    const matches = Array.isArray(rule.matches) && rule.matches.length > 0 ? rule.matches : [{}];
    const score = Math.max(...matches.map((m) => specificity(m, req)));
    if (score >= 0 && (best === undefined || score > best.score)) best = { rule, score };
  }
  return best?.rule;
}
