/**
 * Seeded fuzz of the plan readers: every failure must be a ValidationError whose errors each name a field path or
 * a line, in bounded time, never another exception. FUZZ_SEED / FUZZ_COUNT explore other inputs.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/plan/errors.js';
import { parsePlan, parsePolicy, validateText } from '../../src/plan/load.js';
import { badInputs, type BadInput } from '../harness/bad-plans.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const COUNT = Number(process.env.FUZZ_COUNT ?? 250);
/**
 * Per call: the worst input within the limits (128 KiB of nested brackets) parses in ~0.2 s on an idle core. On a
 * loaded machine the bound grows with the measured time of that worst case, so the test judges the code, not the load.
 */
const BOUND_MS = 2000;
const WORST = `${'['.repeat(60_000)}${']'.repeat(60_000)}`;

function boundMs(): number {
  const t0 = performance.now();
  judge(() => parsePlan(WORST, 'worst.yaml'));
  return Math.max(BOUND_MS, 4 * (performance.now() - t0));
}

type Outcome = { ok: true } | { ok: false; problem?: string; errors: number };

function judge(fn: () => unknown): Outcome {
  try {
    fn();
    return { ok: true };
  } catch (err) {
    if (!(err instanceof ValidationError)) {
      return {
        ok: false,
        errors: 0,
        problem: `${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`,
      };
    }
    if (err.errors.length === 0) return { ok: false, errors: 0, problem: 'a ValidationError without errors' };
    const vague = err.errors.find((e) => (e.path === '' && e.line === undefined) || !e.message);
    if (vague)
      return {
        ok: false,
        errors: err.errors.length,
        problem: `no path and no line: ${JSON.stringify(vague)}`,
      };
    if (err.errors.some((e) => /\n\s+at /.test(e.message)))
      return { ok: false, errors: err.errors.length, problem: 'a stack trace in a message' };
    return { ok: false, errors: err.errors.length };
  }
}

/** validateText reports per document instead of throwing: the same rules apply to each document's errors. */
function judgeValidate(text: string): Outcome {
  return judge(() => {
    const docs = validateText(text, 'fuzz.yaml');
    const errors = docs.flatMap((d) => d.errors);
    if (errors.length > 0) throw new ValidationError('fuzz.yaml', errors);
  });
}

describe(`plan readers under fuzz (seed ${SEED}, ${COUNT} inputs)`, () => {
  it('every bad input is a ValidationError naming a path or line, in bounded time', () => {
    const inputs: BadInput[] = badInputs(SEED, COUNT);
    const problems: string[] = [];
    const times: number[] = [];
    const rejected = new Map<string, number>();
    const bound = boundMs();
    for (const [i, input] of inputs.entries()) {
      for (const [entry, call] of [
        ['parsePlan', () => judge(() => parsePlan(input.text, 'fuzz.yaml'))],
        ['parsePolicy', () => judge(() => parsePolicy(input.text, 'fuzz.yaml'))],
        ['validateText', () => judgeValidate(input.text)],
      ] as const) {
        const t0 = performance.now();
        const outcome = call();
        const ms = performance.now() - t0;
        times.push(ms);
        if (ms > bound) problems.push(`#${i} ${input.family} ${entry}: ${ms.toFixed(0)} ms`);
        if (!outcome.ok && outcome.problem)
          problems.push(`#${i} ${input.family} ${entry}: ${outcome.problem}`);
        if (!outcome.ok && entry === 'parsePlan')
          rejected.set(input.family, (rejected.get(input.family) ?? 0) + 1);
      }
    }
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(1);
    console.log(
      `plan fuzz: ${inputs.length} inputs × 3 entry points; per call p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms (bound ${bound.toFixed(0)} ms); rejected by parsePlan per family: ${JSON.stringify(Object.fromEntries(rejected))}`,
    );
    expect(problems).toEqual([]);
    // The generator really produces bad input: the hostile families are rejected every time.
    for (const family of [
      'deep nesting',
      'alias bomb',
      'non-mapping root',
      'duplicate keys',
      'wrong kind',
      'huge',
    ])
      expect(rejected.get(family), family).toBe(inputs.filter((x) => x.family === family).length);
  });
});
