/**
 * `meshshift validate` and `meshshift run` on the files users really have (the built binary): several documents,
 * kinds written with comments, quotes or JSON, and hostile text. Exit 1 names the field and line, no stack trace.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { badInputs } from '../harness/bad-plans.js';
import { GOOD_PLAN, GOOD_POLICY } from '../harness/plan-fixtures.js';

const BIN = path.resolve('bin/meshshift.js');
const dir = mkdtempSync(path.join(tmpdir(), 'meshshift-validate-'));
const write = (name: string, text: string) => {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
};

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const STACK = /\n\s+at |Error: |node:internal/;

describe('meshshift validate: several documents', () => {
  it('validates each document of a file (was: "Source contains multiple documents")', async () => {
    const f = write(
      'both.yaml',
      `${GOOD_POLICY}---\n${GOOD_PLAN.replace('policy: default', 'policy: quick')}`,
    );
    const r = await cli(['validate', f]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ .*both\.yaml \[document 1\]: Policy quick — steps 10 → 50 → 100 %/);
    expect(r.stdout).toMatch(/✓ .*both\.yaml \[document 2\]: MigrationPlan productcatalog — .*policy quick/);
  });

  it('reports each bad document with its index and line, and still confirms the good ones', async () => {
    const vs = 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: pc }\n';
    const f = write(
      'mixed.yaml',
      [GOOD_POLICY, vs, GOOD_PLAN.replace('    deployment: productcatalogservice\n', '')].join('---\n'),
    );
    const r = await cli(['validate', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✓ .*mixed\.yaml \[document 1\]: Policy quick/);
    expect(r.stderr).toMatch(
      /mixed\.yaml:12:7 \[document 2\] kind: kind must be "MigrationPlan" or "Policy", got "VirtualService"/,
    );
    expect(r.stderr).toMatch(/mixed\.yaml:\d+:\d+ \[document 3\] spec\.target\.deployment: is required/);
    expect(r.stderr).not.toMatch(STACK);
  });

  it('decides the kind from the parsed document: comments, quotes and JSON', async () => {
    const json = JSON.stringify({
      apiVersion: 'meshshift.io/v1alpha1',
      kind: 'Policy',
      metadata: { name: 'quick' },
      spec: {
        steps: [10, 100],
        stepDuration: '1m',
        analysis: { interval: '10s', window: '1m' },
        slo: { errorRate: { max: 0.01 } },
      },
    });
    const files = [
      write('comment.yaml', GOOD_POLICY.replace('kind: Policy', 'kind: Policy  # a comment')),
      write('quoted.yaml', GOOD_POLICY.replace('kind: Policy', 'kind: "Policy"')),
      write('policy.json', json),
    ];
    const r = await cli(['validate', ...files]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.match(/: Policy quick/g)).toHaveLength(3);
  });
});

describe('meshshift validate: hostile files', () => {
  it('alias bomb, duplicate key, deep nesting, huge file, non-mapping root: exit 1 naming the field and line', async () => {
    const bomb = [
      'kind: MigrationPlan',
      'spec:',
      '  a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefgh'
        .split('')
        .map((c, i) => `  ${c}: &${c} [${Array(10).fill(`*${'abcdefg'[i]}`).join(', ')}]`),
    ].join('\n');
    const cases: Array<[string, string, RegExp]> = [
      ['bomb.yaml', bomb, /bomb\.yaml:4:\d+ spec\.b\[0\]: YAML alias \*a expands to too much data/],
      [
        'dup.yaml',
        GOOD_PLAN.replace('    subset: vm\n', '    subset: vm\n    subset: vms\n'),
        /dup\.yaml:12:5 spec\.source\.subset: duplicate key "subset" \(first at line 11\)/,
      ],
      [
        'deep.json',
        `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`,
        /deep\.json:1:\d+ \(document\): nested more than 64 levels/,
      ],
      [
        'huge.yaml',
        `${GOOD_PLAN}${'# filler\n'.repeat(20_000)}`,
        /huge\.yaml:\d+:\d+ \(document\): the text is \d+ KiB/,
      ],
      ['list.yaml', '- a\n- b\n', /list\.yaml:1:1 \(document\): expected a YAML mapping .*got a list/],
    ];
    for (const [name, text, expected] of cases) {
      const r = await cli(['validate', write(name, text)]);
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toMatch(expected);
      expect(r.stderr, name).not.toMatch(STACK);
    }
  });

  it('seeded fuzz: one validate over 40 bad files prints a verdict per file, every error with a position, no stack trace', async () => {
    const inputs = badInputs(11, 40);
    const files = inputs.map((x, i) => write(`fuzz-${i}.yaml`, x.text));
    const r = await cli(['validate', ...files]);
    expect(r.code).toBe(1);
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(STACK);
    for (const f of files) expect(`${r.stdout}${r.stderr}`).toContain(`${f}`);
    // Every error line names file:line:col (then the field path, or "(document)" for the text as a whole).
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('  '));
    expect(errorLines.length).toBeGreaterThan(inputs.length / 2);
    for (const line of errorLines) expect(line).toMatch(/^ {2}\S+:\d+:\d+ (\[document \d+\] )?\S+: /);
  });
});

describe('meshshift run: which document', () => {
  it('refuses a file with several plans, naming them, before touching a cluster', async () => {
    const f = write(
      'two.yaml',
      `${GOOD_PLAN}---\n${GOOD_PLAN.replace('name: productcatalog', 'name: cart')}`,
    );
    const r = await cli([
      'run',
      f,
      '--prometheus',
      'http://127.0.0.1:9',
      '--kubeconfig',
      path.join(dir, 'none'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /two\.yaml:\d+:\d+ \[document 2\] kind: 2 MigrationPlans here \(MigrationPlan productcatalog \(document 1\), MigrationPlan cart \(document 2\)\)/,
    );
    expect(r.stderr).toMatch(/nothing was changed/);
  });
});
