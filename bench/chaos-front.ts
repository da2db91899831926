/**
 * A front for the Kubernetes API test server, one per worker process (its kubeconfig points here): it injects
 * the soak's API faults (500s, hangs) and, at the instant each VirtualService PATCH goes out, asks Redis who
 * holds that migration's lock, so a write by a worker that does not hold it is caught as it happens.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WriteCheck } from './chaos-invariants.js';

export type ApiFault = { kind: 'ok' } | { kind: '500' } | { kind: 'hang'; until: Promise<void> };

export interface KubeFront {
  readonly url: string;
  /** The worker process behind this front (set once spawned). */
  pid: number;
  close(): Promise<void>;
}

const VS_PATCH = /\/namespaces\/([^/]+)\/virtualservices\/[^/]+$/;

export async function startKubeFront(o: {
  upstream: string;
  fault: () => ApiFault;
  /** pid holding the lock of the migration in `namespace` right now. */
  holder: (namespace: string) => Promise<WriteCheck['holderPid']>;
  onWrite: (w: WriteCheck) => void;
}): Promise<KubeFront> {
  const up = new URL(o.upstream);
  const front: KubeFront = { url: '', pid: 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const fault = o.fault();
        if (fault.kind === 'hang') await fault.until;
        else if (fault.kind === '500' && !(req.url ?? '').includes('watch=')) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              kind: 'Status',
              apiVersion: 'v1',
              status: 'Failure',
              message: 'injected by the chaos soak',
              reason: 'InternalError',
              code: 500,
            }),
          );
          return;
        }
        if (res.destroyed || req.socket.destroyed) return; // the client gave up while we hung: never applied
        const m = req.method === 'PATCH' ? VS_PATCH.exec((req.url ?? '').split('?')[0]!) : null;
        if (m)
          o.onWrite({
            at: Date.now(),
            namespace: m[1]!,
            writerPid: front.pid,
            holderPid: await o.holder(m[1]!),
          });
        const fwd = http.request(
          { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        fwd.on('error', () => res.destroy());
        res.on('close', () => fwd.destroy());
        fwd.end(Buffer.concat(chunks));
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  (front as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  front.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return front;
}
