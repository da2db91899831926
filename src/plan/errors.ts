/**
 * Turns zod issues into messages a release engineer can act on: the field path, the YAML line,
 * what is wrong and what to write instead (with a "did you mean" for misspelt fields).
 */
import type { z } from 'zod';
import { isMap, isNode, type Document, type LineCounter } from 'yaml';

export interface FieldError {
  /** Dotted path with indexes, e.g. spec.analysis.interval or spec.steps[2]. */
  path: string;
  message: string;
  /** 1-based position in the source file, when known. */
  line?: number;
  column?: number;
  /** 1-based index of the document in a file with several (`---` separated). */
  document?: number;
}

export class ValidationError extends Error {
  constructor(
    readonly source: string,
    readonly errors: FieldError[],
  ) {
    super(`${source} is invalid:\n${errors.map((e) => `  ${formatFieldError(source, e)}`).join('\n')}`);
    this.name = 'ValidationError';
  }
}

export function formatFieldError(source: string, e: FieldError): string {
  const where = e.line ? `${source}:${e.line}:${e.column ?? 1} ` : '';
  const doc = e.document ? `[document ${e.document}] ` : '';
  return `${where}${doc}${e.path || '(document)'}: ${e.message}`;
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return d[a.length]![b.length]!;
}

export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(word.toLowerCase(), c.toLowerCase());
    if (dd < bestD) {
      bestD = dd;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Known keys of the zod object at `path`, to suggest replacements for unknown fields. */
function knownKeysAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let node: unknown = schema;
  const unwrap = (n: unknown): unknown => {
    // Walk through pipes/optionals/defaults/effects to the underlying object schema.
    for (let i = 0; i < 10 && n && typeof n === 'object'; i++) {
      const def = (n as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
      if (!def) return n;
      if (def.type === 'object' || def.type === 'array' || def.type === 'record') return n;
      if (def.type === 'union') return n;
      n = def.innerType ?? def.in ?? def.schema ?? n;
      if (n === undefined) return undefined;
    }
    return n;
  };
  for (const key of path) {
    node = unwrap(node);
    const def = (node as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
    if (!def) return [];
    if (def.type === 'object') node = (def.shape as Record<string, unknown>)[String(key)];
    else if (def.type === 'array') node = def.element;
    else if (def.type === 'union') {
      const objectOption = (def.options as unknown[])
        .map(unwrap)
        .find((o) => (o as { _zod?: { def?: { type?: string } } })?._zod?.def?.type === 'object');
      node = (objectOption as { _zod: { def: { shape: Record<string, unknown> } } } | undefined)?._zod.def
        .shape[String(key)];
    } else return [];
  }
  node = unwrap(node);
  const def = (node as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
  if (def?.type === 'union') {
    const obj = (def.options as unknown[])
      .map(unwrap)
      .find((o) => (o as { _zod?: { def?: { type?: string } } })?._zod?.def?.type === 'object');
    return Object.keys((obj as { _zod: { def: { shape: object } } } | undefined)?._zod.def.shape ?? {});
  }
  return def?.type === 'object' ? Object.keys(def.shape as object) : [];
}

export function positionOf(
  doc: Document | undefined,
  lc: LineCounter | undefined,
  path: ReadonlyArray<PropertyKey>,
  key?: string,
) {
  if (!doc || !lc) return {};
  let node: unknown = doc.getIn(path as unknown[], true);
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isNode(p.key) && (p.key as { value?: unknown }).value === key);
    node = pair?.key;
  }
  // Fall back to the nearest existing parent (e.g. for a missing required field).
  for (let cut = path.length; (!node || !isNode(node)) && cut > 0; cut--)
    node = doc.getIn(path.slice(0, cut - 1) as unknown[], true);
  if (!isNode(node) || !node.range) return {};
  const pos = lc.linePos(node.range[0]);
  return { line: pos.line, column: pos.col };
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k as string];
  }
  return v;
}

export function issuesToFieldErrors(
  schema: z.ZodType,
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  doc?: Document,
  lc?: LineCounter,
  prefix: ReadonlyArray<PropertyKey> = [],
  limit = Infinity,
): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    if (out.length >= limit) break;
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, path);
      for (const key of issue.keys.slice(0, limit - out.length)) {
        const hint = suggest(key, known);
        out.push({
          path: formatPath([...path, key]),
          message: `unknown field${hint ? `; did you mean "${hint}"?` : ''}${known.length ? ` (allowed here: ${known.join(', ')})` : ''}`,
          ...positionOf(doc, lc, path, key),
        });
      }
      continue;
    }
    if (issue.code === 'invalid_union') {
      // Report the errors of the alternative that matches the value's type (e.g. an inline policy object),
      // instead of a vague "no alternative matched".
      const branch = issue.errors.find(
        (errs) => errs.length > 0 && !errs.some((e) => e.code === 'invalid_type' && e.path.length === 0),
      );
      if (branch) {
        out.push(...issuesToFieldErrors(schema, branch, input, doc, lc, path, limit - out.length));
        continue;
      }
    }
    let message = issue.message.replace(/^Invalid input: /, '');
    if (issue.code === 'invalid_type' && valueAt(input, path) === undefined) {
      message = `is required: ${message.replace(/, received undefined$/, '').replace(/^expected /, '')}`;
    } else if (issue.code === 'invalid_union') {
      message =
        'expected a policy name such as "default" or an inline policy with steps, stepDuration, analysis and slo';
    }
    out.push({ path: formatPath(path), message, ...positionOf(doc, lc, path) });
  }
  return out;
}
