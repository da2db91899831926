/**
 * A front for the Kubernetes API test server, one per worker process (its kubeconfig points here): it injects
 * the soak's API faults (500s, hangs) and, at the instant each VirtualService PATCH goes out, asks Redis who
 * holds that migration's lock, so a write by a worker that does not hold it is caught as it happens. Every
 * VirtualService request that the fault failed (a 500 sent, or a hang the client gave up on) is reported with
 * when it started and ended: the rollback invariants look for the engine's record of each.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultedRequest, WriteCheck } from './chaos-invariants.js';

/**
 * A hang holds every request until `until`; then a request whose client still waits is forwarded — unless the
 * hang is `wedged`: then it is never answered (as on a wedged API server) and only the client's deadline ends it.
 */
export type ApiFault =
  { kind: 'ok' } | { kind: '500' } | { kind: 'hang'; until: Promise<void>; wedged: boolean };

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
  onFaulted: (f: FaultedRequest) => void;
}): Promise<KubeFront> {
  const up = new URL(o.upstream);
  const front: KubeFront = { url: '', pid: 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    const start = Date.now();
    let closedAt: number | undefined;
    res.on('close', () => (closedAt ??= Date.now()));
    const vsNs = VS_PATCH.exec((req.url ?? '').split('?')[0]!)?.[1];
    const faulted = (kind: FaultedRequest['kind'], end: number) => {
      if (vsNs) o.onFaulted({ namespace: vsNs, method: req.method ?? '?', start, end, kind });
    };
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const fault = o.fault();
        if (fault.kind === 'hang') {
          await fault.until;
          if (fault.wedged && closedAt === undefined) await new Promise((r) => res.once('close', r));
          if (res.destroyed || req.socket.destroyed) faulted('hang', closedAt ?? Date.now());
        } else if (fault.kind === '500' && !(req.url ?? '').includes('watch=')) {
          faulted('500', Date.now());
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
