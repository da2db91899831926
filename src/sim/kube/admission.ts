/** Istio admission (istiod's `validation.istio.io` webhook), reduced to what meshshift depends on. */
import { isRecord } from './json.js';
import type { KubeObject } from './types.js';

/**
 * The subset of istiod's `validation.istio.io` webhook meshshift depends on: route weights.
 * Returns the error strings (empty = valid). proto3 semantics: a weight of 0 is the same as no weight.
 */
export function validateVirtualService(obj: KubeObject): string[] {
  const errors: string[] = [];
  const spec = obj.spec;
  if (!isRecord(spec)) return ['virtual service must have at least one host'];
  const hosts = spec.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0) errors.push('virtual service must have at least one host');
  else if (hosts.some((h) => typeof h !== 'string' || h === ''))
    errors.push('virtual service host must be a non-empty string');

  for (const protocol of ['http', 'tcp', 'tls'] as const) {
    const rules = spec[protocol];
    if (rules === undefined || rules === null) continue;
    if (!Array.isArray(rules)) {
      errors.push(`${protocol} must be a list of routes`);
      continue;
    }
    rules.forEach((rule: unknown) => {
      if (!isRecord(rule)) {
        errors.push(`${protocol} route must be an object`);
        return;
      }
      const route = rule.route;
      if (route === undefined || route === null) {
        const alternative =
          protocol === 'http' && (rule.redirect !== undefined || rule.directResponse !== undefined);
        if (!alternative)
          errors.push(
            protocol === 'http' ? 'HTTP route, redirect or direct response is required' : 'route is required',
          );
        return;
      }
      if (!Array.isArray(route) || route.length === 0) {
        errors.push(`${protocol} route must have at least one destination`);
        return;
      }
      let total = 0;
      let weightsOk = true;
      for (const dest of route as unknown[]) {
        if (!isRecord(dest) || !isRecord(dest.destination)) {
          errors.push('destination is required');
          weightsOk = false;
          continue;
        }
        const host = dest.destination.host;
        if (typeof host !== 'string' || host === '') errors.push('destination.host is required');
        const weight = dest.weight;
        if (weight === undefined || weight === null) continue;
        if (typeof weight !== 'number' || !Number.isInteger(weight)) {
          errors.push(`weight ${JSON.stringify(weight)} is not an integer`);
          weightsOk = false;
        } else if (weight < 0) {
          errors.push(`weight ${weight} < 0`);
          weightsOk = false;
        } else if (weight > 100) {
          errors.push(`weight ${weight} > 100`);
          weightsOk = false;
        } else total += weight;
      }
      if (!weightsOk) return;
      if (route.length > 1 && total !== 100) errors.push(`total destination weight ${total} != 100`);
      if (route.length === 1 && total !== 0 && total !== 100) {
        errors.push(`total destination weight ${total} != 100`);
      }
    });
  }
  return errors;
}
