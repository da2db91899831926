/** Label and field selectors (`labelSelector`, `fieldSelector` query parameters) for LIST and WATCH. */
import { errBadRequest } from './status.js';
import type { KubeObject } from './types.js';

export interface LabelRequirement {
  key: string;
  op: 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists';
  values: string[];
}

export const LABEL_KEY = String.raw`[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?`;
export const LABEL_VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
export const RE_EXISTS = new RegExp(`^(!?)\\s*(${LABEL_KEY})$`);
export const RE_EQUALITY = new RegExp(`^(${LABEL_KEY})\\s*(==|=|!=)\\s*(${LABEL_VALUE})$`);
export const RE_SET = new RegExp(`^(${LABEL_KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`);

/** Splits on commas that are not inside parentheses (`a in (x,y),b` → two terms). */
export function splitTopLevel(s: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms.map((x) => x.trim());
}

/** Parses a kube label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`; AND-ed by commas. */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  if (selector.trim() === '') return [];
  return splitTopLevel(selector).map((term) => {
    let m = RE_SET.exec(term);
    if (m) {
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      if (values.some((v) => !new RegExp(`^${LABEL_VALUE}$`).test(v))) {
        throw errBadRequest(`unable to parse requirement: invalid label value in ${JSON.stringify(term)}`);
      }
      return { key: m[1] ?? '', op: m[2] === 'in' ? 'in' : 'notin', values };
    }
    m = RE_EQUALITY.exec(term);
    if (m) return { key: m[1] ?? '', op: m[2] === '!=' ? 'neq' : 'eq', values: [m[3] ?? ''] };
    m = RE_EXISTS.exec(term);
    if (m) return { key: m[2] ?? '', op: m[1] === '!' ? 'notexists' : 'exists', values: [] };
    throw errBadRequest(
      `unable to parse requirement: found ${JSON.stringify(term)}, expected a valid label selector`,
    );
  });
}

export function labelsMatch(
  reqs: readonly LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  return reqs.every((r) => {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    const value = has ? labels[r.key] : undefined;
    switch (r.op) {
      case 'eq':
        return has && value === r.values[0];
      case 'neq':
        return !has || value !== r.values[0];
      case 'in':
        return has && value !== undefined && r.values.includes(value);
      case 'notin':
        return !has || value === undefined || !r.values.includes(value);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}

export interface FieldRequirement {
  field: string;
  value: string;
  negate: boolean;
}

const METADATA_FIELDS = ['metadata.name', 'metadata.namespace'];

/** Parses a field selector; `extra` names the kind's own selectable fields (e.g. involvedObject.name). */
export function parseFieldSelector(selector: string, extra: readonly string[] = []): FieldRequirement[] {
  if (selector.trim() === '') return [];
  return selector.split(',').map((term) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term);
    if (!m) throw errBadRequest(`invalid field selector: ${JSON.stringify(term)}`);
    const field = m[1] ?? '';
    if (!METADATA_FIELDS.includes(field) && !extra.includes(field)) {
      throw errBadRequest(
        `field label not supported: ${field} (only ${[...METADATA_FIELDS, ...extra].join(', ')} are)`,
      );
    }
    return { field, value: m[3] ?? '', negate: m[2] === '!=' };
  });
}

const metadataField = (obj: KubeObject, field: string): string =>
  field === 'metadata.name' ? obj.metadata.name : (obj.metadata.namespace ?? '');

export function fieldsMatch(
  reqs: readonly FieldRequirement[],
  obj: KubeObject,
  valueOf: (obj: KubeObject, field: string) => string = metadataField,
): boolean {
  return reqs.every((r) => {
    const actual = METADATA_FIELDS.includes(r.field) ? metadataField(obj, r.field) : valueOf(obj, r.field);
    return (actual === r.value) !== r.negate;
  });
}
