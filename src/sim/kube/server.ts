/**
 * A strict, in-memory Kubernetes API server for meshshift's tests (and the demo).
 *
 * It speaks enough of the real kube-apiserver wire protocol for the REAL `@kubernetes/client-node`
 * client (typed APIs, CustomObjectsApi, KubernetesObjectApi, Watch) and the real kubectl (OpenAPI v3,
 * CustomResourceDefinitions, Table responses, core/v1 Events, server-side apply; see README.md for what
 * still differs) to work against it unchanged, and it is deliberately strict where a lenient fake would hide bugs:
 *  - custom resources pruned and validated against their CRD's structural schema (fieldValidation),
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
import type { KubeConfig } from '@kubernetes/client-node';
import { migrationPlanCrd } from '../../controller/crd-schema.js';
import { parse as parseYaml } from 'yaml';
import { AUTHORIZATION_GROUP, accessGroupEntry, accessReview } from './access-review.js';
import { installCrd } from './crd-install.js';
import { apiGroup, groupsOf, resourceList, type Groups } from './discovery.js';
import { kubeConfigFor, kubeconfigYamlFor, writeKubeconfigFile } from './kubeconfig.js';
import { resourceRequest, type ResourceDeps } from './resource-request.js';
import { openApiFor, openApiIndex } from './openapi.js';
import { readBody, type Ctx, type Reply, type Target } from './request.js';
import { DEFAULT_ISTIO_VERSIONS, MEDIA_JSON, buildResourceTypes } from './resources.js';
import { KubeStatusError, errMethodNotAllowed, errPathNotFound } from './status.js';
import { KubeStore } from './store.js';
import type {
  AccessPolicy,
  HookRequest,
  KubeApiServer,
  KubeApiServerOptions,
  KubeObject,
  ObjectRef,
  RecordedRequest,
  RequestHook,
} from './types.js';
import { WatchHub } from './watch.js';

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const server = new TestKubeApiServer(opts);
  await server.listen();
  return server;
}

class TestKubeApiServer implements KubeApiServer {
  readonly requests: RecordedRequest[] = [];

  private readonly server: http.Server;
  private readonly token: string | undefined;
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
    this.watches = new WatchHub(Math.max(0, opts.watchHistory ?? 1000));
    this.store = new KubeStore(types, this.watches);
    for (const crd of opts.crds ?? [migrationPlanCrd()]) installCrd(this.store, crd);
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
    return kubeConfigFor(this.url, this.clientToken());
  }

  kubeconfigYaml(): string {
    return kubeconfigYamlFor(this.url, this.clientToken());
  }

  /** Writes `<dir>/kubeconfig-<port>.yaml` (mode 0600; port-suffixed so servers can share a dir). */
  writeKubeconfig(dir: string): string {
    return writeKubeconfigFile(dir, this.boundPort, this.kubeconfigYaml());
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

  private get resources(): ResourceDeps {
    return { store: this.store, watch: (ctx, res, query, target) => this.watch(ctx, res, query, target) };
  }

  /** Non-core API groups → versions; CRDs come and go, so this is computed per request. */
  private get groups(): Groups {
    return groupsOf(this.store.types);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentTypeHeader = req.headers['content-type'];
    const ctx: Ctx = { method, path: url.pathname, params: url.searchParams, warnings: [] };
    if (req.headers.accept !== undefined) ctx.accept = req.headers.accept;
    if (req.headers['user-agent'] !== undefined) ctx.userAgent = req.headers['user-agent'];
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
    if (ctx.warnings.length > 0) {
      // kube: one `Warning: 299 - "<text>"` header per warning.
      res.setHeader(
        'Warning',
        ctx.warnings.map((w) => `299 - ${JSON.stringify(w)}`),
      );
    }
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
    if (root === 'openapi' && a === 'v3') {
      return getOnly(() =>
        seg.length === 2 ? openApiIndex(this.store.types) : openApiFor(this.store.types, seg.slice(2)),
      );
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
      return resourceRequest(this.resources, ctx, res, query, '', 'v1', seg.slice(2));
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
      return resourceRequest(this.resources, ctx, res, query, a, b, seg.slice(3));
    }
    throw errPathNotFound();
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
