/**
 * Every document of a plan or policy file (like `kubectl apply -f`): each is classified by the `kind` of its
 * parsed value (never by the raw text) and checked against that kind's schema. Errors name the document when the
 * file holds several.
 */
import type { z } from 'zod';
import { issuesToFieldErrors, positionOf, suggest, type FieldError } from './errors.js';
import { LIMITS } from './limits.js';
import { policySchema, type Policy } from './policy-schema.js';
import { planSchema, type MigrationPlan } from './schema.js';
import { parseYamlDocuments, type YamlDocument } from './yaml.js';

export const KINDS = ['MigrationPlan', 'Policy'] as const;
export type Kind = (typeof KINDS)[number];

export interface CheckedDocument {
  /** 1-based position among the file's `---` separated documents. */
  index: number;
  /** The kind it was validated as (absent when the kind itself is the problem). */
  kind?: Kind;
  /** metadata.name when it is a string. */
  name?: string;
  plan?: MigrationPlan;
  policy?: Policy;
  errors: FieldError[];
  /** Line and column of a field of this document, for errors found later (e.g. an unknown policy name). */
  locate: (path: ReadonlyArray<string | number>) => { line?: number; column?: number };
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The kind to validate as, or the error about `kind`. A near miss ("Migrationplan") is validated as what it resembles. */
function kindOf(y: YamlDocument, value: Record<string, unknown>): Kind | FieldError {
  const kind = value.kind;
  if (kind === 'MigrationPlan' || kind === 'Policy') return kind;
  const guess = typeof kind === 'string' ? suggest(kind, KINDS) : undefined;
  if (guess) return guess as Kind;
  const expected = KINDS.map((k) => `"${k}"`).join(' or ');
  return {
    path: 'kind',
    message:
      kind === undefined
        ? `is required: ${expected}`
        : `kind must be ${expected}, got ${show(kind)} (meshshift reads only its own kinds)`,
    ...positionOf(y.doc, y.lineCounter, kind === undefined ? [] : ['kind']),
  };
}

function schemaErrors(schema: z.ZodType, y: YamlDocument): { data?: unknown; errors: FieldError[] } {
  const result = schema.safeParse(y.value);
  if (result.success) return { data: result.data, errors: [] };
  const max = LIMITS.maxErrorsPerDocument;
  const errors = issuesToFieldErrors(schema, result.error.issues, y.value, y.doc, y.lineCounter, [], max);
  if (errors.length >= max) {
    errors.push({
      path: '',
      message: `more errors not shown (${max} at most): fix these first`,
      ...positionOf(y.doc, y.lineCounter, []),
    });
  }
  return { errors };
}

function check(y: YamlDocument): CheckedDocument {
  const locate = (path: ReadonlyArray<string | number>) => positionOf(y.doc, y.lineCounter, path);
  if (y.errors.length > 0) return { index: y.index, errors: y.errors, locate };
  const value = y.value as Record<string, unknown>;
  const meta = value.metadata as { name?: unknown } | undefined;
  const name = typeof meta?.name === 'string' ? meta.name : undefined;
  const base = { index: y.index, locate, ...(name !== undefined ? { name } : {}) };
  const kind = kindOf(y, value);
  if (typeof kind !== 'string') return { ...base, errors: [kind] };
  if (kind === 'Policy') {
    const { data, errors } = schemaErrors(policySchema, y);
    return { ...base, kind, errors, ...(data ? { policy: data as Policy } : {}) };
  }
  const { data, errors } = schemaErrors(planSchema, y);
  return { ...base, kind, errors, ...(data ? { plan: data as MigrationPlan } : {}) };
}

/** Parses and checks every document of `text`; throws a ValidationError only for problems of the whole text. */
export function checkDocuments(text: string, source: string): CheckedDocument[] {
  const docs = parseYamlDocuments(text, source).map(check);
  if (docs.length > 1) {
    for (const d of docs) d.errors = d.errors.map((e) => ({ ...e, document: d.index }));
  }
  return docs;
}

/** "MigrationPlan a (document 1), Policy b (document 3)": what a file holds, for messages. */
export function describeDocuments(docs: readonly CheckedDocument[]): string {
  return docs
    .map((d) => `${d.kind ?? 'unknown kind'}${d.name ? ` ${d.name}` : ''} (document ${d.index})`)
    .join(', ');
}
