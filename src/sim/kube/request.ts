/** One parsed request to the test server: what it targets, its body, and the reply. */
import type { IncomingMessage } from 'node:http';
import { MAX_BODY_BYTES, present, type ResourceType } from './resources.js';
import { KubeStatusError } from './status.js';
import type { KubeObject } from './types.js';

export interface Reply {
  code: number;
  body: unknown;
}

/** One parsed request, after hooks. */
export interface Ctx {
  method: string;
  path: string;
  params: URLSearchParams;
  contentType?: string;
  /** Normalized media type of the body (lowercase, no parameters). */
  mediaType?: string;
  body?: unknown;
  parseError?: string;
  /** The Accept header (a Table is asked for there). */
  accept?: string;
  /** The User-Agent header (kube derives a default field manager from it). */
  userAgent?: string;
  /** `Warning` headers for the reply (e.g. unknown fields dropped under fieldValidation=Warn). */
  warnings: string[];
  /** Sets managedFields on a write's result (server-side apply); default: an Update by the request's manager. */
  recordFields?: (before: KubeObject | undefined, after: KubeObject) => void;
}

/**
 * How a stored kind is served under another API (core/v1 Events over the events.k8s.io/v1 store): the type it is
 * served as, the conversion, and the fields its field selectors may name.
 */
export interface View {
  rt: ResourceType;
  render(obj: KubeObject): KubeObject;
  fields: readonly string[];
  fieldValue(obj: KubeObject, field: string): string;
}

/** What a resource path resolves to. */
export interface Target {
  rt: ResourceType;
  version: string;
  /** Set for namespaced paths; undefined for cluster-wide lists and cluster-scoped kinds. */
  namespace?: string;
  name?: string;
  subresource?: string;
  /** Set when the request reads the store through another API's view. */
  view?: View;
}

/** A stored object as the request's API serves it. */
export function served(target: Target, obj: KubeObject): KubeObject {
  const shown = present(target.rt, target.version, obj);
  return target.view ? target.view.render(shown) : shown;
}

export const isDryRun = (ctx: Ctx): boolean => ctx.params.getAll('dryRun').includes('All');

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new KubeStatusError(413, 'RequestEntityTooLarge', 'the request body is too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
