/**
 * Gateway API in the simulated cluster: the published CRDs (HTTPRoute, Gateway; v1.6.1, standard channel, stored
 * untouched in fixtures/gateway-api) for the Kubernetes API test server, and the objects of the HTTPRoute layout
 * of the migration scenario.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { KubeObject } from './kube/index.js';

export const GATEWAY_API_RELEASE = 'v1.6.1';
const CRD_FILES = ['gateway.networking.k8s.io_httproutes.yaml', 'gateway.networking.k8s.io_gateways.yaml'];

/** The fixtures directory, from src/sim under tsx and from dist/src/sim once built. */
export function gatewayApiFixturesDir(): string {
  const rel = path.join('fixtures', 'gateway-api', GATEWAY_API_RELEASE);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const candidate of [path.join(dir, rel), path.join(dir, 'src', 'sim', rel)])
      if (existsSync(path.join(candidate, CRD_FILES[0]!))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(
    `Gateway API ${GATEWAY_API_RELEASE} fixtures not found above ${fileURLToPath(import.meta.url)}`,
  );
}

let parsed: KubeObject[] | undefined;

/** The HTTPRoute and Gateway CRDs as published (parsed once per process; callers get copies). */
export function gatewayApiCrds(): KubeObject[] {
  parsed ??= CRD_FILES.map(
    (f) => parse(readFileSync(path.join(gatewayApiFixturesDir(), f), 'utf8')) as KubeObject,
  );
  return parsed.map((c) => structuredClone(c));
}

/** A published sample (samples/<name>.yaml), parsed. */
export function gatewayApiSample(name: string): KubeObject {
  return parse(
    readFileSync(path.join(gatewayApiFixturesDir(), 'samples', `${name}.yaml`), 'utf8'),
  ) as KubeObject;
}
