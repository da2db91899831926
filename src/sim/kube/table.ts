/**
 * `meta.k8s.io/v1` Table responses (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), what `kubectl get`
 * prints: Name plus a CRD's `additionalPrinterColumns` (the simple JSONPath kube allows there), else Name and Age;
 * core/v1 Events get kube's event columns. Cells are computed as kube's table convertor does (dates as a human
 * age, strings printed, integers and numbers as they are, missing values null). Rows carry the object as
 * `includeObject` asks: None, Metadata (the default, a PartialObjectMetadata) or Object.
 */
import { isRecord, type UnknownRecord } from './json.js';
import type { PrinterColumn, ResourceType } from './resources.js';
import { errBadRequest } from './status.js';
import type { KubeObject } from './types.js';

/** True when the Accept header asks for a meta.k8s.io/v1 (or v1beta1) Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && params.includes('g=meta.k8s.io');
  });
}

const NAME_COLUMN: PrinterColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  jsonPath: '.metadata.name',
};
const AGE_COLUMN: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const EVENT_COLUMNS: PrinterColumn[] = [
  { name: 'Last Seen', type: 'date', jsonPath: '.eventTime' },
  { name: 'Type', type: 'string', jsonPath: '.type' },
  { name: 'Reason', type: 'string', jsonPath: '.reason' },
  { name: 'Object', type: 'string', jsonPath: '.involvedObject.name' },
  { name: 'Message', type: 'string', jsonPath: '.message' },
];

export function columnsFor(rt: ResourceType, version: string): PrinterColumn[] {
  if (rt.group === '' && rt.kind === 'Event') return EVENT_COLUMNS;
  const own = rt.crd?.columns[version] ?? [];
  return own.length > 0 ? [...own] : [AGE_COLUMN];
}

/** kube's duration.HumanDuration, as `kubectl get` shows ages. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  if (hours < 24 * 365 * 8) return `${years}y${Math.floor(hours / 24) % 365}d`;
  return `${years}y`;
}

type Step = { key: string } | { index: number } | { filterKey: string; filterValue: string };

/** The JSONPath subset CRD printer columns use: `.a.b`, `.a[0]`, `.a[?(@.type=="Ready")].status`. */
export function parseJsonPath(path: string): Step[] {
  const steps: Step[] = [];
  const re = /\.([A-Za-z0-9_$-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_-]+)\s*==\s*["']([^"']*)["']\)\]/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < path.length && ((re.lastIndex = at), (m = re.exec(path)) !== null)) {
    if (m[1] !== undefined) steps.push({ key: m[1] });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else steps.push({ filterKey: m[3] ?? '', filterValue: m[4] ?? '' });
    at = re.lastIndex;
  }
  if (at !== path.length || steps.length === 0)
    throw errBadRequest(`unsupported JSONPath ${JSON.stringify(path)}`);
  return steps;
}

export function evalJsonPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const step of parseJsonPath(path)) {
    if ('key' in step) cur = isRecord(cur) ? cur[step.key] : undefined;
    else if ('index' in step) cur = Array.isArray(cur) ? cur[step.index] : undefined;
    else
      cur = Array.isArray(cur)
        ? cur.find((x) => isRecord(x) && String(x[step.filterKey]) === step.filterValue)
        : undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

function cell(col: PrinterColumn, obj: KubeObject, now: number): unknown {
  const value = evalJsonPath(obj, col.jsonPath);
  if (value === undefined || value === null) return null;
  switch (col.type) {
    case 'date': {
      const t = typeof value === 'string' ? Date.parse(value) : NaN;
      return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
    }
    case 'string':
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    default:
      return JSON.stringify(value);
  }
}

function rowObject(obj: KubeObject, include: string): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

/** A Table of `objects` (already presented in the served version). */
export function toTable(
  rt: ResourceType,
  version: string,
  objects: readonly KubeObject[],
  params: URLSearchParams,
  listMeta: UnknownRecord,
): UnknownRecord {
  const include = params.get('includeObject') ?? 'Metadata';
  if (!['None', 'Metadata', 'Object'].includes(include))
    throw errBadRequest(`includeObject: Unsupported value: ${JSON.stringify(include)}`);
  const cols = columnsFor(rt, version);
  const now = Date.now();
  const columnDefinitions = [NAME_COLUMN, ...cols].map((c) => ({
    name: c.name,
    type: c.type,
    format: c.format ?? '',
    description: c.description ?? '',
    priority: c.priority ?? 0,
  }));
  const rows = objects.map((o) => {
    const row: UnknownRecord = { cells: [o.metadata.name, ...cols.map((c) => cell(c, o, now))] };
    const object = rowObject(o, include);
    if (object !== undefined) row.object = object;
    return row;
  });
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: listMeta, columnDefinitions, rows };
}
