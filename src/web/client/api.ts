/** Calls to the dashboard's endpoints. The session is an HttpOnly cookie; writes carry the CSRF token header. */
import type { Grant } from '../../auth/access.js';
import type { HistoryEntry } from '../../engine/history.js';
import type { MigrationView } from '../../engine/migration-view.js';

export interface Me {
  user: string;
  grants: Grant[];
  csrf: string;
}

/** A migration as the API shows it: the engine's one view (a Node-free type file). */
export type View = MigrationView;

/** A history entry as the API answers it: the engine's typed union (a Node-free type file). */
export type Entry = HistoryEntry;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';
export const setCsrf = (t: string): void => {
  csrf = t;
};

export async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: {
      accept: 'application/json',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(method === 'POST' ? { 'x-csrf-token': csrf } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!res.ok) throw new ApiError(res.status, String(data.message ?? res.statusText));
  return data as T;
}

/** Merges entries by stream id, in stream order (SSE deltas may overlap the snapshot). */
export function mergeEntries(a: readonly Entry[], b: readonly Entry[]): Entry[] {
  const byId = new Map<string, Entry>();
  for (const e of a) byId.set(e.id, e);
  for (const e of b) byId.set(e.id, e);
  const key = (id: string) => id.split('-').map(Number) as [number, number];
  return [...byId.values()].sort((x, y) => {
    const [a1, a2] = key(x.id);
    const [b1, b2] = key(y.id);
    return a1 - b1 || a2 - b2;
  });
}

export const age = (iso: string, now = Date.now()): string => {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
};
