/** Loading MigrationPlans and Policies from YAML files, resolving policy names against policies/. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDocuments, describeDocuments, type CheckedDocument, type Kind } from './documents.js';
import { ValidationError, formatFieldError, type FieldError } from './errors.js';
import { reporterFor } from './reporter.js';
import type { DataPlane, RouteKind } from './route-schema.js';
import type { PolicySpec } from './policy-schema.js';
import type { MigrationPlan, PlanSpec } from './schema.js';

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

/** The route a plan shifts: which object, which of its rules, which API version (default: the preferred). */
export interface RouteRef {
  kind: RouteKind;
  name: string;
  rule?: string;
  apiVersion?: string;
}

/** The field a plan author edits for each part of the route (for messages). */
export function routeField(
  plan: Pick<ResolvedPlan, 'document'>,
  part: 'name' | 'rule' | 'apiVersion',
): string {
  if (plan.document.spec.route) return `spec.route.${part}`;
  return `spec.virtualService.${part === 'rule' ? 'route' : part}`;
}

function routeOf(spec: PlanSpec): RouteRef {
  if (spec.route) return spec.route;
  const vs = spec.virtualService!;
  return {
    kind: 'VirtualService',
    name: vs.name,
    ...(vs.route !== undefined ? { rule: vs.route } : {}),
    ...(vs.apiVersion !== undefined ? { apiVersion: vs.apiVersion } : {}),
  };
}

/**
 * A ResolvedPlan stored by an earlier meshshift (before spec.route): `virtualService` instead of `route`, no
 * `dataPlane`. Migrations in flight across an upgrade keep working; a current plan is returned as it is.
 */
export function upgradeResolvedPlan(stored: ResolvedPlan): ResolvedPlan {
  const old = stored as ResolvedPlan & {
    virtualService?: { name: string; route?: string; apiVersion?: string };
  };
  if (old.route && old.dataPlane) return stored;
  const { virtualService, ...rest } = old;
  const vs = virtualService ?? { name: '' };
  const route: RouteRef = old.route ?? {
    kind: 'VirtualService',
    name: vs.name,
    ...(vs.route !== undefined ? { rule: vs.route } : {}),
    ...(vs.apiVersion !== undefined ? { apiVersion: vs.apiVersion } : {}),
  };
  return { ...rest, route, dataPlane: old.dataPlane ?? 'sidecar' };
}

/** A validated plan with its policy resolved: everything the engine needs, nothing to look up later. */
export interface ResolvedPlan {
  name: string;
  namespace: string;
  host: string;
  /** The route to shift (spec.route, or spec.virtualService in its older spelling). */
  route: RouteRef;
  /** Where L7 metrics come from: sidecars (reporter destination/source) or an ambient waypoint. */
  dataPlane: DataPlane;
  source: {
    destination: Destination;
    /** The VMs' ServiceEntry (always with a VirtualService; with an HTTPRoute when the plan names one). */
    serviceEntry?: string;
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

const plural = (kind: Kind) => (kind === 'Policy' ? 'Policies' : `${kind}s`);

/** The one document of `kind` in a file that must hold exactly one (run, submit, a policies/ file). */
function onlyOne(docs: readonly CheckedDocument[], kind: Kind, source: string, use: string): CheckedDocument {
  const errors = docs.flatMap((d) => d.errors);
  if (errors.length > 0) throw new ValidationError(source, errors);
  const matching = docs.filter((d) => d.kind === kind);
  if (matching.length === 1) return matching[0]!;
  // Point at the kind of the first document too many (or of the first document when none matches).
  const at = matching[1] ?? docs[0]!;
  const message =
    matching.length === 0
      ? `no ${kind} here (it holds ${describeDocuments(docs)}): ${use} takes exactly one ${kind}`
      : `${matching.length} ${plural(kind)} here (${describeDocuments(matching)}): ${use} takes exactly one; put each in its own file`;
  throw new ValidationError(source, [
    {
      path: 'kind',
      message,
      ...at.locate(['kind']),
      ...(docs.length > 1 ? { document: at.index } : {}),
    },
  ]);
}

export function parsePolicy(text: string, source = 'policy'): { name: string; spec: PolicySpec } {
  const policy = onlyOne(checkDocuments(text, source), 'Policy', source, 'a policy file').policy!;
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

/**
 * Resolves a validated plan's policy: an inline policy, a Policy document of the same file (`filePolicies`), or a
 * file of `policiesDir`.
 */
export function resolvePlan(
  plan: MigrationPlan,
  source: string,
  policiesDir = defaultPoliciesDir(),
  filePolicies: ReadonlyMap<string, PolicySpec> = new Map(),
): ResolvedPlan {
  const { spec } = plan;
  let policyName = 'inline';
  let policy: PolicySpec;
  const fromFile = typeof spec.policy === 'string' ? filePolicies.get(spec.policy) : undefined;
  if (typeof spec.policy === 'string' && fromFile) {
    policyName = spec.policy;
    policy = fromFile;
  } else if (typeof spec.policy === 'string') {
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
  try {
    const reporter = reporterFor(spec.dataPlane, policy.analysis.reporter);
    if (reporter !== policy.analysis.reporter)
      policy = { ...policy, analysis: { ...policy.analysis, reporter } };
  } catch (err) {
    throw new ValidationError(source, [{ path: 'spec.policy', message: (err as Error).message }]);
  }
  const srcHost = spec.source.host ?? spec.host;
  const tgtHost = spec.target.host ?? spec.host;
  return {
    name: plan.metadata.name,
    namespace: spec.namespace,
    host: spec.host,
    route: routeOf(spec),
    dataPlane: spec.dataPlane,
    source: {
      destination: { host: srcHost, ...(spec.source.subset ? { subset: spec.source.subset } : {}) },
      ...(spec.source.serviceEntry ? { serviceEntry: spec.source.serviceEntry } : {}),
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

/** A document of a plan file, checked and (for a MigrationPlan) resolved. */
export interface PlanFileDocument extends CheckedDocument {
  resolved?: ResolvedPlan;
}

function resolveErrors(err: unknown, source: string): FieldError[] {
  if (!(err instanceof ValidationError)) throw err;
  if (err.source === source) return err.errors;
  // A broken file in policies/: name it, since the plan itself may be fine.
  return err.errors.map((e) => ({
    path: 'spec.policy',
    message: `policy file ${formatFieldError(err.source, e)}`,
  }));
}

/**
 * Validates every document of `text` (MigrationPlans and Policies together); a plan may name a Policy of the same
 * text. Throws a ValidationError only for problems of the whole text (size, nesting, no document).
 */
export function validateText(text: string, source: string, policiesDir?: string): PlanFileDocument[] {
  const docs: PlanFileDocument[] = checkDocuments(text, source);
  const filePolicies = new Map<string, PolicySpec>();
  for (const d of docs) {
    if (!d.policy) continue;
    const name = d.policy.metadata.name;
    const first = docs.find((o) => o.policy?.metadata.name === name);
    if (first !== d) {
      d.errors.push({
        path: 'metadata.name',
        message: `Policy "${name}" is already defined in document ${first?.index}: give each Policy its own name`,
        ...d.locate(['metadata', 'name']),
        ...(docs.length > 1 ? { document: d.index } : {}),
      });
    } else filePolicies.set(name, d.policy.spec);
  }
  for (const d of docs) {
    if (!d.plan) continue;
    const named = d.plan.spec.policy;
    const broken = docs.find((o) => o.kind === 'Policy' && !o.policy && o.name === named);
    if (typeof named === 'string' && !filePolicies.has(named) && broken) {
      d.errors.push({
        path: 'spec.policy',
        message: `Policy "${named}" of document ${broken.index} is invalid: fix it first`,
        ...d.locate(['spec', 'policy']),
        ...(docs.length > 1 ? { document: d.index } : {}),
      });
      continue;
    }
    try {
      d.resolved = resolvePlan(d.plan, source, policiesDir, filePolicies);
    } catch (err) {
      const extra = docs.length > 1 ? { document: d.index } : {};
      const where = d.locate(['spec', 'policy']);
      d.errors.push(...resolveErrors(err, source).map((e) => ({ ...where, ...e, ...extra })));
    }
  }
  return docs;
}

/**
 * The one MigrationPlan of `text`, validated and resolved, with its place in the file. Every document must be
 * valid; a text with no plan or several plans is refused, naming what it holds.
 */
export function parsePlanDocument(
  text: string,
  source = 'plan',
  policiesDir?: string,
): { plan: ResolvedPlan; document: number; documents: number } {
  const docs = validateText(text, source, policiesDir);
  const chosen = onlyOne(docs, 'MigrationPlan', source, 'a migration (run, submit)') as PlanFileDocument;
  return { plan: chosen.resolved!, document: chosen.index, documents: docs.length };
}

/** Parses, validates and resolves a MigrationPlan from YAML text. Throws ValidationError naming every bad field. */
export function parsePlan(text: string, source = 'plan', policiesDir?: string): ResolvedPlan {
  return parsePlanDocument(text, source, policiesDir).plan;
}

/** The one MigrationPlan of a file, with its place among the file's documents. */
export function loadPlanDocument(
  file: string,
  policiesDir?: string,
): { plan: ResolvedPlan; document: number; documents: number } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read plan ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return parsePlanDocument(text, file, policiesDir);
}

export function loadPlanFile(file: string, policiesDir?: string): ResolvedPlan {
  return loadPlanDocument(file, policiesDir).plan;
}

/**
 * Compresses a policy's time scale (tests, demos, benchmarks): durations are multiplied by `factor`, and so is
 * the minimum request count per window, since a shorter window holds proportionally fewer requests; the power
 * requirement before promotion (`detectBeforePromotion`) is waived when compressed.
 */
export function scalePolicy(policy: PolicySpec, factor: number): PolicySpec {
  if (factor === 1) return policy;
  const t = (ms: number) => Math.max(1, Math.round(ms * factor));
  // A compressed run serves a fraction of the requests a real bake would: the power to detect a small regression
  // before promotion cannot be had, so that requirement is waived (the decisions benchmark runs it unscaled).
  const { detectBeforePromotion: _waived, ...analysis } = policy.analysis;
  return {
    ...policy,
    stepDuration: t(policy.stepDuration),
    writeFailureGrace: t(policy.writeFailureGrace),
    analysis: {
      ...(factor < 1 ? analysis : policy.analysis),
      interval: t(policy.analysis.interval),
      window: t(policy.analysis.window),
      minRequests: Math.ceil(policy.analysis.minRequests * Math.min(1, factor)),
      ...(policy.analysis.maxBake !== undefined ? { maxBake: t(policy.analysis.maxBake) } : {}),
      ...(policy.analysis.postPromotionWatch !== undefined
        ? { postPromotionWatch: t(policy.analysis.postPromotionWatch) }
        : {}),
      ...(policy.analysis.holdWhileSuspect !== undefined
        ? { holdWhileSuspect: t(policy.analysis.holdWhileSuspect) }
        : {}),
    },
  };
}
