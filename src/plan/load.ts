/** Loading MigrationPlans and Policies from YAML files, resolving policy names against policies/. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { ValidationError, issuesToFieldErrors, parseYaml } from './errors.js';
import { planSchema, policySchema, type MigrationPlan, type PlanSpec, type PolicySpec } from './schema.js';

/** The policies/ folder shipped with meshshift (works from src/ under tsx and from dist/src/ once built). */
export function defaultPoliciesDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'policies');
    if (existsSync(path.join(candidate, 'default.yaml'))) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve('policies');
}

export interface Destination {
  host: string;
  subset?: string;
}

/** A validated plan with its policy resolved: everything the engine needs, nothing to look up later. */
export interface ResolvedPlan {
  name: string;
  namespace: string;
  host: string;
  virtualService: { name: string; route?: string; apiVersion?: 'v1' | 'v1beta1' | 'v1alpha3' };
  source: {
    destination: Destination;
    serviceEntry: string;
    workloadEntries?: string[];
    metrics?: Record<string, string>;
  };
  target: { destination: Destination; deployment: string; metrics?: Record<string, string> };
  /** 'subsets': one host, two DestinationRule subsets. 'hosts': two hosts (ServiceEntry host vs pods' Service). */
  mode: 'subsets' | 'hosts';
  policyName: string;
  policy: PolicySpec;
  notify?: { slackChannel?: string };
  /** Service mode: scheduled start and advance windows. */
  schedule?: NonNullable<PlanSpec['schedule']>;
  /** "Policy second": the PeerAuthentication to move from PERMISSIVE to STRICT after completion. */
  mtls?: { peerAuthentication: string; tightenAfterCompletion: boolean };
  document: MigrationPlan;
}

function validate<S extends z.ZodType>(schema: S, text: string, source: string): z.output<S> {
  const { value, doc, lineCounter } = parseYaml(text, source);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(source, [
      { path: '', message: 'expected a YAML mapping (apiVersion, kind, metadata, spec)' },
    ]);
  }
  const result = schema.safeParse(value);
  if (!result.success)
    throw new ValidationError(
      source,
      issuesToFieldErrors(schema, result.error.issues, value, doc, lineCounter),
    );
  return result.data;
}

export function parsePolicy(text: string, source = 'policy'): { name: string; spec: PolicySpec } {
  const policy = validate(policySchema, text, source);
  return { name: policy.metadata.name, spec: policy.spec };
}

export function listPolicies(dir = defaultPoliciesDir()): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .map((f) => f.replace(/\.ya?ml$/, ''))
    .sort();
}

export function loadPolicy(
  name: string,
  dir = defaultPoliciesDir(),
): { name: string; spec: PolicySpec; file: string } {
  for (const ext of ['.yaml', '.yml']) {
    const file = path.join(dir, name + ext);
    if (existsSync(file)) {
      const p = parsePolicy(readFileSync(file, 'utf8'), file);
      if (p.name !== name) {
        throw new ValidationError(file, [
          { path: 'metadata.name', message: `must be "${name}" to match the file name` },
        ]);
      }
      return { ...p, file };
    }
  }
  throw new Error(
    `policy "${name}" not found in ${dir} (available: ${listPolicies(dir).join(', ') || 'none'})`,
  );
}

/** Expands a short Kubernetes service name to the FQDN Istio reports in destination_service. */
export function qualifyHost(host: string, namespace: string): string {
  return host.includes('.') ? host : `${host}.${namespace}.svc.cluster.local`;
}

export function resolvePlan(
  plan: MigrationPlan,
  source: string,
  policiesDir = defaultPoliciesDir(),
): ResolvedPlan {
  const { spec } = plan;
  let policyName = 'inline';
  let policy: PolicySpec;
  if (typeof spec.policy === 'string') {
    try {
      const loaded = loadPolicy(spec.policy, policiesDir);
      policyName = loaded.name;
      policy = loaded.spec;
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      throw new ValidationError(source, [{ path: 'spec.policy', message: (err as Error).message }]);
    }
  } else {
    policy = spec.policy;
  }
  const srcHost = spec.source.host ?? spec.host;
  const tgtHost = spec.target.host ?? spec.host;
  return {
    name: plan.metadata.name,
    namespace: spec.namespace,
    host: spec.host,
    virtualService: spec.virtualService,
    source: {
      destination: { host: srcHost, ...(spec.source.subset ? { subset: spec.source.subset } : {}) },
      serviceEntry: spec.source.serviceEntry,
      ...(spec.source.workloadEntries ? { workloadEntries: spec.source.workloadEntries } : {}),
      ...(spec.source.metrics ? { metrics: spec.source.metrics } : {}),
    },
    target: {
      destination: { host: tgtHost, ...(spec.target.subset ? { subset: spec.target.subset } : {}) },
      deployment: spec.target.deployment,
      ...(spec.target.metrics ? { metrics: spec.target.metrics } : {}),
    },
    mode: srcHost === tgtHost ? 'subsets' : 'hosts',
    policyName,
    policy,
    ...(spec.notify ? { notify: spec.notify } : {}),
    ...(spec.schedule ? { schedule: spec.schedule } : {}),
    ...(spec.mtls ? { mtls: spec.mtls } : {}),
    document: plan,
  };
}

/** Parses, validates and resolves a MigrationPlan from YAML text. Throws ValidationError naming every bad field. */
export function parsePlan(text: string, source = 'plan', policiesDir?: string): ResolvedPlan {
  return resolvePlan(validate(planSchema, text, source), source, policiesDir);
}

export function loadPlanFile(file: string, policiesDir?: string): ResolvedPlan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read plan ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return parsePlan(text, file, policiesDir);
}

/**
 * Compresses a policy's time scale (tests, demos, benchmarks): durations are multiplied by `factor`, and so is
 * the minimum request count per window, since a shorter window holds proportionally fewer requests.
 */
export function scalePolicy(policy: PolicySpec, factor: number): PolicySpec {
  if (factor === 1) return policy;
  const t = (ms: number) => Math.max(1, Math.round(ms * factor));
  return {
    ...policy,
    stepDuration: t(policy.stepDuration),
    analysis: {
      ...policy.analysis,
      interval: t(policy.analysis.interval),
      window: t(policy.analysis.window),
      minRequests: Math.ceil(policy.analysis.minRequests * Math.min(1, factor)),
    },
  };
}
