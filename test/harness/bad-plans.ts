/**
 * Seeded generator of bad plan and policy text (malformed YAML/JSON, deep nesting, huge documents, alias bombs,
 * non-mapping roots, wrong kinds, several documents), for the fuzz tests of the unit, CLI and HTTP layers.
 */
import { mulberry32 } from '../../src/sim/random.js';
import { GOOD_PLAN, GOOD_POLICY } from './plan-fixtures.js';

export interface BadInput {
  family: string;
  text: string;
}

type Rand = () => number;
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const YAML_CHARS = [...':-[]{}&*!|>\'"#%@`,?', '\t', '\n', ' ', '\r', '\u0000', '\ufeff', '---', '...', '<<'];
const SCALARS = [
  '',
  '~',
  'null',
  'true',
  '-1',
  '1e400',
  '0x1F',
  '.nan',
  '"\\u0000"',
  "'",
  '[',
  '{a: }',
  '&x',
  '*x',
];

function mutate(r: Rand, text: string): string {
  let t = text;
  for (let n = int(r, 1, 5); n > 0; n--) {
    const lines = t.split('\n');
    const i = int(r, 0, Math.max(0, lines.length - 1));
    const pos = int(r, 0, t.length);
    switch (int(r, 0, 6)) {
      case 0:
        t = t.slice(0, pos) + pick(r, YAML_CHARS) + t.slice(pos);
        break;
      case 1:
        t = t.slice(0, pos) + t.slice(pos + int(r, 1, 20));
        break;
      case 2:
        lines.splice(i, 0, lines[i] ?? '');
        t = lines.join('\n');
        break;
      case 3:
        lines[i] = (r() < 0.5 ? ' '.repeat(int(r, 1, 4)) : '') + (lines[i] ?? '').trimStart();
        t = lines.join('\n');
        break;
      case 4:
        lines[i] = (lines[i] ?? '').replace(/:\s.*$/, `: ${pick(r, SCALARS)}`);
        t = lines.join('\n');
        break;
      case 5:
        t = t.slice(0, pos);
        break;
      default: {
        const j = int(r, 0, lines.length - 1);
        [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
        t = lines.join('\n');
      }
    }
  }
  return t;
}

function randomJson(r: Rand, depth: number): unknown {
  const k = int(r, 0, depth > 6 ? 3 : 6);
  if (k === 0) return pick(r, [null, true, false, 0, -1.5, 1e308]);
  if (k === 1) return pick(r, ['', 'MigrationPlan', 'Policy', '1m', '\u0000', 'x'.repeat(int(r, 1, 300))]);
  if (k <= 3) return Array.from({ length: int(r, 0, 4) }, () => randomJson(r, depth + 1));
  const keys = [
    'apiVersion',
    'kind',
    'metadata',
    'spec',
    'name',
    'steps',
    'policy',
    '__proto__',
    'constructor',
  ];
  return Object.fromEntries(
    Array.from({ length: int(r, 0, 5) }, () => [pick(r, keys), randomJson(r, depth + 1)]),
  );
}

function deep(r: Rand): string {
  const n = pick(r, [63, 64, 65, 200, 2_000, 5_000]);
  switch (int(r, 0, 3)) {
    case 0:
      return `kind: MigrationPlan\nspec: ${'['.repeat(n)}${']'.repeat(n)}\n`;
    case 1:
      return `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    case 2:
      return `${'- '.repeat(Math.min(n, 20_000))}x\n`;
    default:
      return Array.from({ length: Math.min(n, 300) }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
  }
}

function huge(r: Rand): string {
  const size = pick(r, [100 * 1024, 129 * 1024, 600 * 1024]);
  switch (int(r, 0, 2)) {
    case 0:
      return `${GOOD_PLAN}  extra: "${'x'.repeat(size)}"\n`;
    case 1:
      return GOOD_PLAN + Array.from({ length: size / 16 }, (_, i) => `  k${i}: ${i}`).join('\n');
    default:
      return Array.from({ length: size / 300 }, () => GOOD_POLICY).join('---\n');
  }
}

function aliasBomb(r: Rand): string {
  const fan = int(r, 5, 12);
  const levels = int(r, 3, 9);
  const rows = ['kind: MigrationPlan', 'spec:', `  l0: &l0 [${Array(fan).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++)
    rows.push(
      `  l${i}: &l${i} [${Array(fan)
        .fill(`*l${i - 1}`)
        .join(', ')}]`,
    );
  return rows.join('\n');
}

function wrongKind(r: Rand): string {
  const kind = pick(r, [
    'VirtualService',
    'Plan',
    'policy',
    '42',
    '[Policy]',
    '{a: 1}',
    'null',
    '""',
    '!!binary aGk=',
  ]);
  const base = r() < 0.5 ? GOOD_PLAN : GOOD_POLICY;
  return base.replace(/^kind: .*$/m, `kind: ${kind}${r() < 0.3 ? '  # comment' : ''}`);
}

const FAMILIES: Record<string, (r: Rand) => string> = {
  'mutated YAML': (r) => mutate(r, pick(r, [GOOD_PLAN, GOOD_POLICY, `${GOOD_POLICY}---\n${GOOD_PLAN}`])),
  'mutated JSON': (r) =>
    mutate(
      r,
      JSON.stringify({ apiVersion: 'meshshift.io/v1alpha1', kind: 'MigrationPlan', spec: { a: [1, 2] } }),
    ),
  'random JSON': (r) => JSON.stringify(randomJson(r, 0)) ?? 'null',
  'non-mapping root': (r) =>
    pick(r, ['[1, 2]', '"plan"', '42', 'null', 'true', '- a\n- b', '!!binary aGk=', '']),
  'wrong kind': wrongKind,
  'duplicate keys': (r) =>
    GOOD_PLAN.replace('  source:\n', `  source:\n    subset: ${pick(r, ['a', 'vm'])}\n`),
  'deep nesting': deep,
  'alias bomb': aliasBomb,
  'several documents': (r) =>
    Array.from({ length: int(r, 2, 5) }, () =>
      pick(r, [GOOD_PLAN, GOOD_POLICY, mutate(r, GOOD_PLAN), '', '# c']),
    ).join(pick(r, ['---\n', '\n---\n', '...\n---\n', '--- \n'])),
  'random characters': (r) =>
    Array.from({ length: int(r, 0, 400) }, () => String.fromCharCode(int(r, 0, 0x2fff))).join(''),
};

/** `count` inputs: every family in turn, so each appears about equally often; huge inputs a few times only. */
export function badInputs(seed: number, count: number): BadInput[] {
  const r = mulberry32(seed);
  const families = Object.keys(FAMILIES);
  const out: BadInput[] = [];
  for (let i = 0; i < count; i++) {
    const family = families[i % families.length]!;
    out.push({ family, text: FAMILIES[family]!(r) });
  }
  for (let i = 0; i < Math.max(1, Math.floor(count / 100)); i++) out.push({ family: 'huge', text: huge(r) });
  return out;
}
