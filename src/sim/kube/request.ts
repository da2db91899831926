/** One parsed request to the test server: what it targets, its body, and the reply. */
import type { IncomingMessage } from 'node:http';
import { MAX_BODY_BYTES, type ResourceType } from './resources.js';
import { KubeStatusError } from './status.js';

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
}

/** What a resource path resolves to. */
export interface Target {
  rt: ResourceType;
  version: string;
  /** Set for namespaced paths; undefined for cluster-wide lists and cluster-scoped kinds. */
  namespace?: string;
  name?: string;
  subresource?: string;
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
