/**
 * A strict, in-memory Kubernetes API server for meshshift's tests (and the demo).
 *
 * It speaks enough of the real kube-apiserver wire protocol for the REAL `@kubernetes/client-node`
 * client (typed APIs, CustomObjectsApi, KubernetesObjectApi, Watch) to work against it unchanged, and
 * it is deliberately strict where a lenient fake would hide bugs:
 *  - optimistic locking (stale resourceVersion → 409 Conflict, missing one on a custom-resource PUT → 422),
 *  - patch content types (merge / JSON patch; strategic merge only for built-in kinds, else 415),
 *  - atomic JSON patches with `test` ops (failure → 422, nothing applied),
 *  - Istio admission validation of VirtualService route weights (→ 400, nothing applied),
 *  - kube-shaped `Status` bodies for every error,
 *  - watches with history, resume from a resourceVersion and 410 Expired once it is compacted away.
 *
 * No vitest imports here: the demo starts this server at runtime. Listens on 127.0.0.1 only.
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AUTHORIZATION_GROUP, accessGroupEntry, accessReview, type AccessPolicy } from './access-review.js';
import { apiGroup, groupsOf, resolve, resourceList, type Groups } from './discovery.js';
import { listReply } from './list.js';
import { readBody, type Ctx, type Reply, type Target } from './request.js';
import { DEFAULT_ISTIO_VERSIONS, MEDIA_JSON, buildResourceTypes, present } from './resources.js';
import { KubeStatusError, errMethodNotAllowed, errPathNotFound } from './status.js';
import { KubeStore } from './store.js';
import type {
  HookRequest,
  KubeApiServer,
  KubeApiServerOptions,
  KubeObject,
  ObjectRef,
  RecordedRequest,
  RequestHook,
} from './types.js';
import { WatchHub } from './watch.js';
import { create, patch, remove, replace } from './writes.js';

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const server = new TestKubeApiServer(opts);
  await server.listen();
  return server;
}

class TestKubeApiServer implements KubeApiServer {
  readonly requests: RecordedRequest[] = [];

  private readonly server: http.Server;
  private readonly token: string | undefined;
  private readonly groups: Groups;
  private readonly watches: WatchHub;
  private readonly store: KubeStore;
  private readonly hooks: { fn: RequestHook }[] = [];
  private boundPort = 0;
  private access: AccessPolicy;
  private closing: Promise<void> | undefined;

  constructor(opts: KubeApiServerOptions) {
    this.token = opts.token;
    this.access = opts.access ?? {};
    const types = buildResourceTypes(opts.istioVersions ?? DEFAULT_ISTIO_VERSIONS);
    this.groups = groupsOf(types);
    this.watches = new WatchHub(Math.max(0, opts.watchHistory ?? 1000));
    this.store = new KubeStore(types, this.watches);
    this.server = http.createServer({ noDelay: true }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // Last resort: handle() answers every error itself, so this is a bug in the server.
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': MEDIA_JSON });
        res.end(JSON.stringify(new KubeStatusError(500, 'InternalError', String(err)).toStatus()));
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  // ─────────────── kubeconfig ───────────────

  private clientToken(): string {
    return this.token ?? 'meshshift-test-token';
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'meshshift-test', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'meshshift-test', token: this.clientToken() }],
      contexts: [{ name: 'meshshift-test', cluster: 'meshshift-test', user: 'meshshift-test' }],
      currentContext: 'meshshift-test',
    });
    return kc;
  }

  kubeconfigYaml(): string {
    return stringifyYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'meshshift-test', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'meshshift-test', user: { token: this.clientToken() } }],
      contexts: [{ name: 'meshshift-test', context: { cluster: 'meshshift-test', user: 'meshshift-test' } }],
      'current-context': 'meshshift-test',
    });
  }

  /** Writes `<dir>/kubeconfig-<port>.yaml` (mode 0600; port-suffixed so servers can share a dir). */
  writeKubeconfig(dir: string): string {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `kubeconfig-${this.boundPort}.yaml`);
    writeFileSync(file, this.kubeconfigYaml(), { mode: 0o600 });
    return file;
  }

  // ─────────────── test-side store access (no admission, no locking) ───────────────

  put(input: KubeObject): KubeObject {
    return this.store.put(input);
  }

  get(ref: ObjectRef): KubeObject | undefined {
    return this.store.get(ref);
  }

  list(group: string, plural: string, namespace?: string): KubeObject[] {
    return this.store.list(group, plural, namespace);
  }

  edit(ref: ObjectRef, mutate: (obj: KubeObject) => void): KubeObject {
    return this.store.edit(ref, mutate);
  }

  remove(ref: ObjectRef): void {
    this.store.remove(ref);
  }

  onRequest(hook: RequestHook): () => void {
    const entry = { fn: hook };
    this.hooks.push(entry);
    return () => {
      const i = this.hooks.indexOf(entry);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  setAccess(policy: AccessPolicy): void {
    this.access = policy;
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.watches.closeAll();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  // ─────────────── HTTP ───────────────

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentTypeHeader = req.headers['content-type'];
    const ctx: Ctx = { method, path: url.pathname, params: url.searchParams };
    if (contentTypeHeader !== undefined) {
      ctx.contentType = contentTypeHeader;
      ctx.mediaType = (contentTypeHeader.split(';')[0] ?? '').trim().toLowerCase();
    }
    const query = url.search.startsWith('?') ? url.search.slice(1) : url.search;
    try {
      const raw = await readBody(req);
      if (raw.length > 0) {
        try {
          ctx.body = ctx.mediaType?.includes('yaml')
            ? (parseYaml(raw) as unknown)
            : (JSON.parse(raw) as unknown);
        } catch (err) {
          ctx.body = raw;
          ctx.parseError = err instanceof Error ? err.message : String(err);
        }
      }
      for (const { fn } of [...this.hooks]) {
        const hookReq: HookRequest = { method, path: ctx.path, query };
        if (ctx.contentType !== undefined) hookReq.contentType = ctx.contentType;
        if (ctx.body !== undefined) hookReq.body = ctx.body;
        await fn(hookReq);
      }
      if (res.destroyed || req.socket.destroyed) {
        // kube-apiserver cancels a request's context when its client disconnects: a request whose client gave
        // up while it waited (e.g. in a hook that hangs it) is not applied. 499 = client closed request.
        this.record(ctx, query, 499);
        return;
      }
      this.authenticate(req);
      const reply = this.route(ctx, res, query);
      if (reply) this.send(res, ctx, query, reply.code, reply.body);
    } catch (err) {
      const statusErr =
        err instanceof KubeStatusError
          ? err
          : new KubeStatusError(500, 'InternalError', err instanceof Error ? err.message : String(err));
      const headers: Record<string, string> = {};
      const retry = statusErr.details?.retryAfterSeconds;
      if (retry !== undefined) headers['Retry-After'] = String(retry);
      if (res.headersSent) {
        res.end();
        return;
      }
      this.send(res, ctx, query, statusErr.code, statusErr.toStatus(), headers);
    }
  }

  private record(ctx: Ctx, query: string, status: number): void {
    const entry: RecordedRequest = { method: ctx.method, path: ctx.path, query, status, at: Date.now() };
    if (ctx.contentType !== undefined) entry.contentType = ctx.contentType;
    if (ctx.body !== undefined) entry.body = ctx.body;
    this.requests.push(entry);
  }

  private send(
    res: ServerResponse,
    ctx: Ctx,
    query: string,
    code: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    this.record(ctx, query, code);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : MEDIA_JSON,
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  private authenticate(req: IncomingMessage): void {
    if (this.token === undefined) return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (m?.[1]?.trim() !== this.token) throw new KubeStatusError(401, 'Unauthorized', 'Unauthorized');
  }

  /** Returns the reply to send, or undefined when the request became a watch stream. */
  private route(ctx: Ctx, res: ServerResponse, query: string): Reply | undefined {
    let seg: string[];
    try {
      seg = ctx.path
        .split('/')
        .filter((s) => s.length > 0)
        .map((s) => decodeURIComponent(s));
    } catch {
      throw errPathNotFound();
    }
    const [root, a, b] = seg;
    const getOnly = (body: () => unknown): Reply => {
      if (ctx.method !== 'GET') throw errMethodNotAllowed();
      return { code: 200, body: body() };
    };

    if (root === 'healthz' || root === 'readyz' || root === 'livez') return getOnly(() => 'ok');
    if (root === 'version' && seg.length === 1) {
      return getOnly(() => ({
        major: '1',
        minor: '31',
        gitVersion: 'v1.31.0-meshshift-test',
        platform: 'linux/amd64',
      }));
    }
    if (root === 'api') {
      if (seg.length === 1) {
        return getOnly(() => ({
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }],
        }));
      }
      if (a !== 'v1') throw errPathNotFound();
      if (seg.length === 2) return getOnly(() => resourceList(this.store.types, '', 'v1'));
      return this.resourceRequest(ctx, res, query, '', 'v1', seg.slice(2));
    }
    if (root === 'apis') {
      if (seg.length === 1) {
        return getOnly(() => ({
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: [...[...this.groups.keys()].map((g) => apiGroup(this.groups, g)), accessGroupEntry()],
        }));
      }
      if (a === AUTHORIZATION_GROUP && seg.length > 2) return accessReview(ctx, seg.slice(2), this.access);
      if (a === undefined || !this.groups.has(a)) throw errPathNotFound();
      if (seg.length === 2)
        return getOnly(() => ({ kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(this.groups, a) }));
      if (b === undefined || !(this.groups.get(a) ?? []).includes(b)) throw errPathNotFound();
      if (seg.length === 3) return getOnly(() => resourceList(this.store.types, a, b));
      return this.resourceRequest(ctx, res, query, a, b, seg.slice(3));
    }
    throw errPathNotFound();
  }

  private resourceRequest(
    ctx: Ctx,
    res: ServerResponse,
    query: string,
    group: string,
    version: string,
    rest: readonly string[],
  ): Reply | undefined {
    const target = resolve(this.store.types, group, version, rest);
    const { rt, name, subresource } = target;
    const isWatch = /^(true|1)$/i.test(ctx.params.get('watch') ?? '');

    if (name === undefined) {
      if (ctx.method === 'GET') {
        if (isWatch) {
          this.watch(ctx, res, query, target);
          return undefined;
        }
        return { code: 200, body: listReply(this.store, ctx, target) };
      }
      // Creating needs a namespace in the path for namespaced kinds (POST /apis/g/v/plural → 405).
      if (ctx.method === 'POST' && (!rt.namespaced || target.namespace !== undefined)) {
        return { code: 201, body: create(this.store, ctx, target) };
      }
      throw errMethodNotAllowed();
    }

    if (subresource !== undefined) {
      if (subresource !== 'status' || !rt.statusSubresource) throw errPathNotFound();
      switch (ctx.method) {
        case 'GET':
          return { code: 200, body: present(rt, version, this.store.current(target)) };
        case 'PUT':
          return { code: 200, body: replace(this.store, ctx, target) };
        case 'PATCH':
          return { code: 200, body: patch(this.store, ctx, target) };
        default:
          throw errMethodNotAllowed();
      }
    }

    switch (ctx.method) {
      case 'GET':
        if (isWatch) {
          // Watching one object == watching the collection with a metadata.name field selector.
          const params = new URLSearchParams(ctx.params);
          params.set('fieldSelector', `metadata.name=${name}`);
          this.watch({ ...ctx, params }, res, query, { ...target, name: undefined });
          return undefined;
        }
        return { code: 200, body: present(rt, version, this.store.current(target)) };
      case 'PUT':
        return { code: 200, body: replace(this.store, ctx, target) };
      case 'PATCH':
        return { code: 200, body: patch(this.store, ctx, target) };
      case 'DELETE':
        return { code: 200, body: remove(this.store, ctx, target) };
      default:
        throw errMethodNotAllowed();
    }
  }

  private watch(ctx: Ctx, res: ServerResponse, query: string, target: Target): void {
    this.watches.serve(
      ctx,
      res,
      target,
      () => this.store.select(target.rt, target.namespace),
      () => this.record(ctx, query, 200),
    );
  }
}
