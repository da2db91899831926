/** Plan files as users write them: several documents, kinds written in any YAML/JSON form, hostile input. */
import { describe, expect, it } from 'vitest';
import { ValidationError, formatFieldError, type FieldError } from '../../src/plan/errors.js';
import { LIMITS } from '../../src/plan/limits.js';
import { parsePlan, parsePlanDocument, parsePolicy, validateText } from '../../src/plan/load.js';
import { GOOD_PLAN as PLAN, GOOD_POLICY as POLICY } from '../harness/plan-fixtures.js';

function failure(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

const lines = (source: string, errors: readonly FieldError[]) =>
  errors.map((e) => formatFieldError(source, e));

describe('multi-document files', () => {
  it('validates every document, like kubectl apply -f (was: "Source contains multiple documents")', () => {
    const text = `${POLICY}---\n${PLAN.replace('policy: default', 'policy: quick')}`;
    const docs = validateText(text, 'both.yaml');
    expect(docs.map((d) => [d.index, d.kind, d.errors])).toEqual([
      [1, 'Policy', []],
      [2, 'MigrationPlan', []],
    ]);
    // The plan takes its policy from the same file.
    expect(docs[1]!.resolved?.policyName).toBe('quick');
    expect(docs[1]!.resolved?.policy.steps).toEqual([10, 50, 100]);
  });

  it('names the document and the line of each error; one bad document does not hide the others', () => {
    const badPolicy = POLICY.replace('steps: [10, 50, 100]', 'steps: [10, 5]');
    const badPlan = PLAN.replace('    deployment: productcatalogservice\n', '');
    const text = `${badPolicy}---\n${PLAN}---\n${badPlan}`;
    const docs = validateText(text, 'f.yaml');
    expect(docs.map((d) => d.errors.length > 0)).toEqual([true, false, true]);
    const all = lines(
      'f.yaml',
      docs.flatMap((d) => d.errors),
    ).join('\n');
    expect(all).toMatch(/^f\.yaml:6:\d+ \[document 1\] spec\.steps: /m);
    // Document 3 starts after 10 + 1 + 16 + 1 lines: its target block is at line 41.
    expect(all).toMatch(/^f\.yaml:41:\d+ \[document 3\] spec\.target\.deployment: is required/m);
  });

  it('run/submit take the one plan and say which document it is', () => {
    const found = parsePlanDocument(`${POLICY}---\n${PLAN}`, 'p.yaml');
    expect(found).toMatchObject({ document: 2, documents: 2, plan: { name: 'productcatalog' } });
  });

  it('refuses a file with several plans, naming them', () => {
    const two = `${PLAN}---\n${PLAN.replace('name: productcatalog', 'name: cart')}`;
    const err = failure(() => parsePlan(two, 'two.yaml'));
    expect(err.message).toMatch(
      /2 MigrationPlans here \(MigrationPlan productcatalog \(document 1\), MigrationPlan cart \(document 2\)\): .* takes exactly one/,
    );
    expect(failure(() => parsePlan(POLICY, 'p.yaml')).message).toMatch(
      /no MigrationPlan here \(it holds Policy quick \(document 1\)\)/,
    );
  });

  it('an invalid Policy next to the plan stops run/submit too', () => {
    const text = `${POLICY.replace('stepDuration: 1m', 'stepDuration: soon')}---\n${PLAN}`;
    const err = failure(() => parsePlan(text.replace('policy: default', 'policy: quick'), 'p.yaml'));
    expect(lines('p.yaml', err.errors)).toEqual([
      expect.stringMatching(/^p\.yaml:7:\d+ \[document 1\] spec\.stepDuration: /),
      'p.yaml:26:11 [document 2] spec.policy: Policy "quick" of document 1 is invalid: fix it first',
    ]);
  });

  it('two Policies of the same name in one file are an error on the second', () => {
    const docs = validateText(`${POLICY}---\n${POLICY}`, 'p.yaml');
    expect(lines('p.yaml', docs[1]!.errors)).toEqual([
      expect.stringMatching(
        /^p\.yaml:14:\d+ \[document 2\] metadata\.name: Policy "quick" is already defined in document 1/,
      ),
    ]);
  });

  it('empty documents (a trailing ---, comments only) are skipped; an empty file is an error', () => {
    expect(validateText(`---\n${PLAN}---\n# nothing\n`, 'p.yaml').map((d) => d.index)).toEqual([1]);
    expect(lines('e.yaml', failure(() => validateText('# only a comment\n', 'e.yaml')).errors)).toEqual([
      'e.yaml:1:1 (document): the text holds no document: expected a MigrationPlan or a Policy',
    ]);
  });
});

describe('kind comes from the parsed document', () => {
  const forms = {
    'with a comment': POLICY.replace('kind: Policy', 'kind: Policy  # a comment'),
    'double-quoted': POLICY.replace('kind: Policy', 'kind: "Policy"'),
    'single-quoted': POLICY.replace('kind: Policy', "kind: 'Policy'"),
    'in flow style': `{apiVersion: meshshift.io/v1alpha1, kind: Policy, metadata: {name: quick}, spec: {steps: [10, 50, 100], stepDuration: 1m, analysis: {interval: 10s, window: 1m}, slo: {errorRate: {max: 0.01}}}}`,
    JSON: JSON.stringify({
      apiVersion: 'meshshift.io/v1alpha1',
      kind: 'Policy',
      metadata: { name: 'quick' },
      spec: {
        steps: [10, 50, 100],
        stepDuration: '1m',
        analysis: { interval: '10s', window: '1m' },
        slo: { errorRate: { max: 0.01 } },
      },
    }),
  };

  for (const [name, text] of Object.entries(forms)) {
    it(`a Policy ${name} is validated as a Policy`, () => {
      const [doc] = validateText(text, 'p.yaml');
      expect(doc).toMatchObject({ kind: 'Policy', errors: [] });
      expect(parsePolicy(text, 'p.yaml').name).toBe('quick');
    });
  }

  it('another kind gets one error on kind, not the schema of a plan', () => {
    const [doc] = validateText(
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: x }\n',
      'vs.yaml',
    );
    expect(lines('vs.yaml', doc!.errors)).toEqual([
      'vs.yaml:2:7 kind: kind must be "MigrationPlan" or "Policy", got "VirtualService" (meshshift reads only its own kinds)',
    ]);
    const [missing] = validateText('metadata: { name: x }\n', 'm.yaml');
    expect(lines('m.yaml', missing!.errors)).toEqual([
      'm.yaml:1:1 kind: is required: "MigrationPlan" or "Policy"',
    ]);
  });

  it('a near miss is validated as the kind it resembles and told the right spelling', () => {
    const [doc] = validateText(PLAN.replace('kind: MigrationPlan', 'kind: Migrationplan'), 'p.yaml');
    expect(doc!.kind).toBe('MigrationPlan');
    expect(lines('p.yaml', doc!.errors)).toEqual(['p.yaml:2:7 kind: kind must be "MigrationPlan"']);
  });
});

describe('hostile or broken text becomes field errors', () => {
  it('a duplicate key names the key, its field path and both lines', () => {
    const text = PLAN.replace('    subset: vm\n', '    subset: vm\n    subset: vms\n');
    const err = failure(() => parsePlan(text, 'p.yaml'));
    expect(lines('p.yaml', err.errors)).toEqual([
      'p.yaml:12:5 spec.source.subset: duplicate key "subset" (first at line 11): keep one of them',
    ]);
    const json = failure(() =>
      parsePlan('{"kind": "MigrationPlan", "spec": {"steps": [{"a": 1, "a": 2}]}}', 'p.json'),
    );
    expect(json.errors[0]).toMatchObject({ path: 'spec.steps[0].a', line: 1 });
    const many = failure(() =>
      parsePlan(`kind: MigrationPlan\nspec:\n${'  a: 1\n'.repeat(10_000)}`, 'p.yaml'),
    );
    expect(many.errors).toHaveLength(LIMITS.maxErrorsPerDocument);
  });

  it('an alias bomb is a ValidationError naming the alias, quickly', () => {
    const bomb = [
      'apiVersion: meshshift.io/v1alpha1',
      'kind: MigrationPlan',
      'metadata: {name: x}',
      'spec:',
      '  a: &a [x, x, x, x, x, x, x, x, x]',
      ...'bcdefghi'
        .split('')
        .map((c, i) => `  ${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(', ')}]`),
    ].join('\n');
    const t0 = performance.now();
    const err = failure(() => parsePlan(bomb, 'bomb.yaml'));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(lines('bomb.yaml', err.errors)).toEqual([
      expect.stringMatching(
        /^bomb\.yaml:6:\d+ spec\.b\[0\]: YAML alias \*a expands to too much data .* write the values out/,
      ),
    ]);
  });

  it('aliases used within the limit are fine', () => {
    const text = PLAN.replace('  policy: default', '  policy: &p default\n  notify: { slackChannel: *p }');
    expect(parsePlan(text, 'p.yaml').notify).toEqual({ slackChannel: 'default' });
  });

  it('nesting deeper than the limit is refused before the parser recurses', () => {
    for (const text of [
      '['.repeat(60_000) + ']'.repeat(60_000),
      '{"a":'.repeat(2_000) + '1' + '}'.repeat(2_000),
      '- '.repeat(2_000) + 'x\n',
      Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}k:`).join('\n'),
    ]) {
      const err = failure(() => parsePlan(text, 'deep.yaml'));
      expect(err.errors).toEqual([
        expect.objectContaining({
          path: '',
          line: expect.any(Number) as number,
          message: expect.stringMatching(/nested more than 64 levels deep/) as string,
        }),
      ]);
    }
  });

  it('oversized text is refused at the line where it passes the limit', () => {
    const text = `${PLAN}${'# padding line of a comment\n'.repeat(20_000)}`;
    const err = failure(() => parsePlan(text, 'big.yaml'));
    expect(err.errors[0]).toMatchObject({
      path: '',
      message: expect.stringMatching(/passes the limit of 128 KiB/),
    });
    expect(err.errors[0]!.line).toBe(16 + Math.floor((LIMITS.maxChars - PLAN.length) / 28) + 1);
  });

  it('roots that are not mappings say what they are', () => {
    for (const [text, got] of [
      ['[1, 2]', 'a list'],
      ['"plan"', 'a string'],
      ['42', 'a number'],
      ['null', 'null'],
      ['true', 'a boolean'],
    ] as const) {
      expect(lines('r.yaml', failure(() => parsePlan(text, 'r.yaml')).errors)).toEqual([
        `r.yaml:1:1 (document): expected a YAML mapping (apiVersion, kind, metadata, spec), got ${got}`,
      ]);
    }
  });

  it('thousands of unknown keys: errors are capped and the answer is quick', () => {
    const keys = Array.from({ length: 6_000 }, (_, i) => `  extra${i}: ${i}`).join('\n');
    const t0 = performance.now();
    const err = failure(() => parsePlan(`${PLAN}${keys}\n`, 'k.yaml'));
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(err.errors.length).toBe(LIMITS.maxErrorsPerDocument + 1);
    expect(err.errors.at(-1)!.message).toMatch(/more errors not shown/);
  });
});
