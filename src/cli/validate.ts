/**
 * `meshshift validate`: checks plans and policies without touching a cluster. Every document of every file is
 * validated (MigrationPlans and Policies together, like `kubectl apply -f`); each is judged by its parsed `kind`.
 */
import { readFileSync } from 'node:fs';
import { ValidationError, formatFieldError } from '../plan/errors.js';
import { validateText, type PlanFileDocument } from '../plan/load.js';
import { formatDuration } from '../plan/duration.js';
import { green, red } from '../term/style.js';

export interface ValidateOptions {
  policies?: string;
}

function summary(d: PlanFileDocument): string {
  if (d.policy) {
    const { spec } = d.policy;
    return `Policy ${d.policy.metadata.name} — steps ${spec.steps.join(' → ')} %, ${formatDuration(spec.stepDuration)} per step`;
  }
  const p = d.resolved!;
  const route =
    p.mode === 'subsets'
      ? `subsets ${p.source.destination.subset} → ${p.target.destination.subset} of ${p.host}`
      : `${p.source.destination.host} → ${p.target.destination.host}`;
  return `MigrationPlan ${p.name} — ${route}, policy ${p.policyName} (steps ${p.policy.steps.join(' → ')} %)`;
}

/** Validates one file; returns whether every document is valid. */
function validateFile(
  file: string,
  opts: ValidateOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): boolean {
  let docs: PlanFileDocument[];
  try {
    docs = validateText(readFileSync(file, 'utf8'), file, opts.policies);
  } catch (e) {
    if (!(e instanceof ValidationError)) {
      const code = (e as NodeJS.ErrnoException).code;
      err(`${red('✗')} ${file}: ${code ? `cannot read (${code})` : (e as Error).message}`);
      return false;
    }
    err(`${red('✗')} ${file}: ${e.errors.length} error${e.errors.length === 1 ? '' : 's'}`);
    for (const fe of e.errors) err(`  ${formatFieldError(file, fe)}`);
    return false;
  }
  let ok = true;
  for (const d of docs) {
    const where = docs.length > 1 ? `${file} [document ${d.index}]` : file;
    if (d.errors.length === 0) {
      out(`${green('✓')} ${where}: ${summary(d)}`);
      continue;
    }
    ok = false;
    err(`${red('✗')} ${where}: ${d.errors.length} error${d.errors.length === 1 ? '' : 's'}`);
    for (const fe of d.errors) err(`  ${formatFieldError(file, fe)}`);
  }
  return ok;
}

export function validateFiles(
  files: string[],
  opts: ValidateOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  let failed = 0;
  for (const file of files) if (!validateFile(file, opts, out, err)) failed++;
  return failed ? 1 : 0;
}
