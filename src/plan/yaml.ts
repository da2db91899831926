/**
 * YAML (or JSON) text → documents, each with its line positions and the problems that stop it from being
 * validated against a schema: syntax errors, duplicate keys, aliases that expand too far, a root that is not a
 * mapping. File-wide problems (too large, too deep, too many documents, nothing in it) throw a ValidationError.
 */
import {
  Composer,
  LineCounter,
  Parser,
  isCollection,
  isPair,
  isScalar,
  isSeq,
  visit,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import { ValidationError, formatPath, type FieldError } from './errors.js';
import { LIMITS, tooDeepAt } from './limits.js';

export interface YamlDocument {
  /** 1-based position among the file's documents (`---` separated), empty ones included. */
  index: number;
  /** The plain value (undefined when `errors` is not empty). */
  value: unknown;
  doc: Document;
  lineCounter: LineCounter;
  /** Problems that stop this document from being validated further. */
  errors: FieldError[];
}

type Path = Array<string | number>;

function at(lc: LineCounter, offset: number): { line: number; column: number } {
  const p = lc.linePos(offset);
  return { line: p.line, column: p.col };
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : '?';
}

/** The field path of `node` from the ancestors `visit` hands out. */
function pathOf(ancestors: readonly unknown[], node: unknown): Path {
  const chain = [...ancestors, node];
  const out: Path = [];
  for (let i = 0; i + 1 < chain.length; i++) {
    const parent = chain[i];
    const child = chain[i + 1];
    if (isPair(parent) && child === parent.value) out.push(keyText(parent.key));
    else if (isSeq(parent)) out.push(parent.items.indexOf(child as YamlNode));
  }
  return out;
}

function duplicateKeys(doc: Document, lc: LineCounter): FieldError[] {
  const errors: FieldError[] = [];
  visit(doc, {
    Map(_, map, ancestors) {
      const seen = new Map<string, number>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        const offset = pair.key.range?.[0] ?? 0;
        const first = seen.get(key);
        if (first === undefined) {
          seen.set(key, offset);
          continue;
        }
        errors.push({
          path: formatPath([...pathOf(ancestors, map), key]),
          message: `duplicate key "${key}" (first at line ${at(lc, first).line}): keep one of them`,
          ...at(lc, offset),
        });
        if (errors.length >= LIMITS.maxErrorsPerDocument) return visit.BREAK;
      }
      return undefined;
    },
  });
  return errors;
}

/** Where an alias bomb goes off: the first alias of a collection (or else the first alias). */
function aliasBomb(doc: Document, lc: LineCounter): FieldError {
  let first: { path: Path; offset: number; name: string } | undefined;
  visit(doc, {
    Alias(_, alias, ancestors) {
      const hit = { path: pathOf(ancestors, alias), offset: alias.range?.[0] ?? 0, name: alias.source };
      first ??= hit;
      if (!isCollection(alias.resolve(doc))) return undefined;
      first = hit;
      return visit.BREAK;
    },
  });
  return {
    path: first ? formatPath(first.path) : '',
    message: `YAML alias${first ? ` *${first.name}` : 'es'} expand${first ? 's' : ''} to too much data (aliases may repeat a value at most ${LIMITS.maxAliasCount} times): write the values out instead`,
    ...(first ? at(lc, first.offset) : {}),
  };
}

function rootProblem(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return undefined;
  const got = Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`;
  return `expected a YAML mapping (apiVersion, kind, metadata, spec), got ${got}`;
}

function documentOf(doc: Document, index: number, lc: LineCounter): YamlDocument {
  const base = { index, doc, lineCounter: lc, value: undefined };
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => ({
      path: '',
      message: `YAML syntax error: ${e.message.split('\n')[0]}`,
      ...at(lc, e.pos[0]),
    }));
    return { ...base, errors };
  }
  const dups = duplicateKeys(doc, lc);
  if (dups.length > 0) return { ...base, errors: dups };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: LIMITS.maxAliasCount });
  } catch {
    return { ...base, errors: [aliasBomb(doc, lc)] };
  }
  const problem = rootProblem(value);
  const start = doc.contents?.range?.[0] ?? 0;
  if (problem) return { ...base, errors: [{ path: '', message: problem, ...at(lc, start) }] };
  return { ...base, value, errors: [] };
}

function isEmpty(doc: Document): boolean {
  return (
    doc.errors.length === 0 &&
    (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null && !doc.contents.source))
  );
}

/** Line and column of `offset`, without parsing (for text too large to parse). */
function scanPosition(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/** Parses every document of `text`. Throws a ValidationError (with a line) for problems of the whole text. */
export function parseYamlDocuments(text: string, source: string): YamlDocument[] {
  const fail = (message: string, pos: { line: number; column: number }): never => {
    throw new ValidationError(source, [{ path: '', message, ...pos }]);
  };
  if (text.length > LIMITS.maxChars) {
    fail(
      `the text is ${Math.ceil(text.length / 1024)} KiB and passes the limit of ${LIMITS.maxChars / 1024} KiB here: a plan or policy file is a few KiB; is this the right file?`,
      scanPosition(text, LIMITS.maxChars),
    );
  }
  const lc = new LineCounter();
  const tokens = Array.from(new Parser(lc.addNewLine).parse(text));
  const deep = tooDeepAt(tokens, LIMITS.maxDepth);
  if (deep !== undefined) {
    fail(
      `nested more than ${LIMITS.maxDepth} levels deep here (a plan needs about 6): is this the right file?`,
      at(lc, deep),
    );
  }
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false });
  const docs = Array.from(composer.compose(tokens, false, text.length));
  const out = docs.map((doc, i) => ({ doc, index: i + 1 })).filter(({ doc }) => !isEmpty(doc));
  if (out.length === 0) {
    fail('the text holds no document: expected a MigrationPlan or a Policy', { line: 1, column: 1 });
  }
  const extra = out[LIMITS.maxDocuments];
  if (extra) {
    fail(
      `the text holds ${out.length} documents; at most ${LIMITS.maxDocuments} are read from one file (this is document ${extra.index})`,
      at(lc, extra.doc.range[0]),
    );
  }
  return out.map(({ doc, index }) => documentOf(doc as Document, index, lc));
}
