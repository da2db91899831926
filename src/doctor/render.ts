/** Doctor results for people (one ✓/✗ line each, the fix under a ✗) and for programs (JSON). */
import { dim, green, red, yellow } from '../term/style.js';
import type { CheckResult } from './types.js';

export function renderText(results: readonly CheckResult[]): string {
  const lines = results.map((r) => {
    const mark = r.skipped ? yellow('–') : r.ok ? green('✓') : red('✗');
    return `${mark} ${r.id}: ${r.message}${!r.ok && r.fix ? dim(`\n    fix: ${r.fix}`) : ''}`;
  });
  const failed = results.filter((r) => !r.ok).length;
  lines.push(
    failed === 0
      ? green(`all ${results.length} checks passed`)
      : red(`${failed} of ${results.length} checks failed`),
  );
  return lines.join('\n');
}

export function renderJson(results: readonly CheckResult[]): string {
  return JSON.stringify({ ok: results.every((r) => r.ok), checks: results });
}
