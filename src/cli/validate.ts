/** `meshshift validate`: checks plans and policies without touching a cluster. */
import { readFileSync } from 'node:fs';
import { ValidationError, formatFieldError } from '../plan/errors.js';
import { parsePlan, parsePolicy } from '../plan/load.js';
import { formatDuration } from '../plan/duration.js';
import { green, red } from './render.js';

export interface ValidateOptions {
  policies?: string;
}

export function validateFiles(
  files: string[],
  opts: ValidateOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  let failed = 0;
  for (const file of files) {
    try {
      const text = readFileSync(file, 'utf8');
      if (/^kind:\s*Policy\s*$/m.test(text)) {
        const p = parsePolicy(text, file);
        out(
          `${green('✓')} ${file}: Policy ${p.name} — steps ${p.spec.steps.join(' → ')} %, ${formatDuration(p.spec.stepDuration)} per step`,
        );
      } else {
        const p = parsePlan(text, file, opts.policies);
        out(
          `${green('✓')} ${file}: MigrationPlan ${p.name} — ${p.mode === 'subsets' ? `subsets ${p.source.destination.subset} → ${p.target.destination.subset} of ${p.host}` : `${p.source.destination.host} → ${p.target.destination.host}`}, policy ${p.policyName} (steps ${p.policy.steps.join(' → ')} %)`,
        );
      }
    } catch (e) {
      failed++;
      if (e instanceof ValidationError) {
        err(`${red('✗')} ${e.source}: ${e.errors.length} error${e.errors.length === 1 ? '' : 's'}`);
        for (const fe of e.errors) err(`  ${formatFieldError(e.source, fe)}`);
      } else {
        err(`${red('✗')} ${file}: ${(e as Error).message}`);
      }
    }
  }
  return failed ? 1 : 0;
}
