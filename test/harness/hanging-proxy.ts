/**
 * An HTTP proxy on 127.0.0.1 in front of the Kubernetes API test server that can make the API *hang*: while
 * hanging, every request is held open and never forwarded — not even after `heal()` (a request that hung stays
 * hung, as on a wedged API server); only the client's own deadline ends it. After `heal()` new requests pass.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeApiServer } from '../../src/sim/kube/index.js';

export interface HangingProxy {
  readonly url: string;
  /** Requests held (and dropped when their client gave up) since the proxy started. */
  readonly held: number;
  hang(): void;
  heal(): void;
  /** A kubeconfig for the upstream's user, pointed at the proxy. */
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

export async function startHangingProxy(upstream: KubeApiServer): Promise<HangingProxy> {
  const up = new URL(upstream.url);
  let hanging = false;
  let held = 0;
  const server = http.createServer((req, res) => {
    if (hanging) {
      held++;
      req.resume(); // read the body, answer nothing; the client's deadline closes the connection
      return;
    }
    const fwd = http.request(
      { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    fwd.on('error', () => res.destroy());
    res.on('close', () => fwd.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get held() {
      return held;
    },
    hang: () => void (hanging = true),
    heal: () => void (hanging = false),
    kubeConfig() {
      const base = upstream.kubeConfig();
      const user = base.getCurrentUser()!;
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'hanging-proxy', server: url, skipTLSVerify: true }],
        users: [user],
        contexts: [{ name: 'hanging-proxy', cluster: 'hanging-proxy', user: user.name }],
        currentContext: 'hanging-proxy',
      });
      return kc;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
