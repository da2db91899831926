/** The kube helper's decisions: retry or not, how long to wait, which API version, and one call's deadline. */
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DriftError } from '../../src/mesh/errors.js';
import { KubeCalls, signalOptions } from '../../src/mesh/kube/call.js';
import { CheckList } from '../../src/mesh/kube/checks.js';
import { ApiVersionError, chooseVersion } from '../../src/mesh/kube/discovery.js';
import { KubeApiError, isConflict, isNotFound, toKubeError } from '../../src/mesh/kube/errors.js';
import { RetriesExhaustedError, guardedPatch, type JsonPatchOp } from '../../src/mesh/kube/guarded-patch.js';
import { afterFailure, backoffDelay, retryPolicy, shouldRetry } from '../../src/mesh/kube/retry.js';

const status = (code: number, reason: string, message: string) =>
  new k8s.ApiException(code, 'HTTP error', JSON.stringify({ kind: 'Status', code, reason, message }), {});
const kubeErr = (code: number, message = 'x') => new KubeApiError(message, code);

describe('toKubeError', () => {
  it('pulls message, reason and code out of a Status body', () => {
    const e = toKubeError(
      status(409, 'Conflict', 'the object has been modified'),
      'patch virtualservices/shop/pcs',
    );
    expect(e).toBeInstanceOf(KubeApiError);
    expect(e).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(e.message).toBe('patch virtualservices/shop/pcs: the object has been modified');
  });

  it('keeps the HTTP code when the body is not a Status, and names a network error', () => {
    expect(toKubeError(new k8s.ApiException(502, 'x', '<html>bad gateway</html>', {}), 'get x').message).toBe(
      'get x: HTTP 502',
    );
    const refused = Object.assign(new Error('connect failed'), { cause: { code: 'ECONNREFUSED' } });
    expect(toKubeError(refused, 'get x')).toMatchObject({
      code: 0,
      message: 'get x: ECONNREFUSED connect failed',
    });
  });
});

describe('retry decisions', () => {
  it.each([
    ['409 Conflict', kubeErr(409), 'retry'],
    [
      '422 from a failed test op',
      kubeErr(422, 'the test operation failed: /metadata/resourceVersion'),
      'retry',
    ],
    ['422 validation', kubeErr(422, 'spec.http[0].route[0].weight: Invalid value'), 'fail'],
    ['500', kubeErr(500), 'retry'],
    ['503', kubeErr(503), 'retry'],
    ['429', kubeErr(429), 'retry'],
    ['no answer / deadline (code 0)', kubeErr(0), 'retry'],
    ['404', kubeErr(404), 'fail'],
    ['403', kubeErr(403), 'fail'],
    ['drift', new DriftError('moved', 20, 0), 'fail'],
    ['an abort', new DOMException('aborted', 'AbortError'), 'fail'],
  ])('%s → %s (before the last attempt)', (_name, err, outcome) => {
    expect(afterFailure(err, 1, retryPolicy({ maxAttempts: 3 }))).toBe(outcome);
  });

  it('gives up on the last attempt, fails at once on a final error', () => {
    const p = retryPolicy({ maxAttempts: 3 });
    expect(afterFailure(kubeErr(500), 2, p)).toBe('retry');
    expect(afterFailure(kubeErr(500), 3, p)).toBe('give-up');
    expect(afterFailure(kubeErr(404), 3, p)).toBe('fail');
    expect(shouldRetry(new Error('plain'))).toBe(false);
    expect(isNotFound(kubeErr(404))).toBe(true);
    expect(isConflict(kubeErr(409))).toBe(true);
  });

  it('backoff doubles, is capped, and jitters within [d/2, d]', () => {
    const p = retryPolicy({ baseDelayMs: 25, maxDelayMs: 1000 });
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, p, () => 1))).toEqual([50, 100, 200, 400]);
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, p, () => 0))).toEqual([25, 50, 100, 200]);
    expect(backoffDelay(10, p, () => 1)).toBe(1000);
    expect(backoffDelay(10, p, () => 0)).toBe(500);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, p);
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(200);
    }
  });

  it('rejects nonsense policies with the field named', () => {
    expect(() => retryPolicy({ maxAttempts: 0 })).toThrow(/maxAttempts must be an integer ≥ 1/);
    expect(() => retryPolicy({ baseDelayMs: 100, maxDelayMs: 10 })).toThrow(/baseDelayMs ≤ maxDelayMs/);
  });
});

describe('chooseVersion', () => {
  const istio = { name: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], preferred: 'v1' };
  const req = {
    group: 'networking.istio.io',
    supported: ['v1', 'v1beta1', 'v1alpha3'],
    hint: 'is Istio installed?',
  };

  it('takes the wanted version if served, else the preferred one, else the first supported', () => {
    expect(chooseVersion(istio, { ...req, wanted: 'v1beta1' })).toBe('v1beta1');
    expect(chooseVersion(istio, req)).toBe('v1');
    expect(chooseVersion({ ...istio, preferred: 'v1beta1' }, req)).toBe('v1beta1');
    expect(chooseVersion({ ...istio, versions: ['v2', 'v1alpha3'], preferred: 'v2' }, req)).toBe('v1alpha3');
    const security = { name: 'security.istio.io', versions: ['v1beta1'], preferred: 'v1beta1' };
    expect(chooseVersion(security, { group: 'security.istio.io', supported: ['v1', 'v1beta1'] })).toBe(
      'v1beta1',
    );
  });

  it('explains what is served when nothing fits', () => {
    expect(() => chooseVersion(undefined, req)).toThrow(
      'the cluster does not serve networking.istio.io: is Istio installed?',
    );
    expect(() =>
      chooseVersion(
        { ...istio, versions: ['v1alpha3'] },
        { ...req, wanted: 'v1', wantedField: 'spec.virtualService.apiVersion' },
      ),
    ).toThrow('the cluster serves networking.istio.io v1alpha3, not v1 (spec.virtualService.apiVersion)');
    expect(() => chooseVersion({ ...istio, versions: ['v2'], preferred: 'v2' }, req)).toThrow(
      ApiVersionError,
    );
  });
});

describe('guardedPatch', () => {
  type Obj = { rv: number; weight: number };
  const OPS: JsonPatchOp[] = [{ op: 'replace', path: '/weight', value: 5 }];

  function fake(failures: unknown[], start: Obj = { rv: 1, weight: 0 }) {
    const log: string[] = [];
    let obj = start;
    return {
      log,
      spec: {
        what: 'set weight 5',
        policy: retryPolicy({ maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 40 }),
        random: () => 1,
        wait: async (ms: number) => void log.push(`wait ${ms}`),
        read: async () => (log.push(`read ${obj.rv}`), obj),
        decide: (o: Obj) => (o.weight === 5 ? null : OPS),
        beforeWrite: async () => void log.push('fence'),
        write: async () => {
          log.push('write');
          const f = failures.shift();
          if (f) throw f;
          obj = { rv: obj.rv + 1, weight: 5 };
          return obj;
        },
      },
    };
  }

  it('re-reads, fences and backs off between attempts until the write goes through', async () => {
    const f = fake([kubeErr(409), kubeErr(503)]);
    const r = await guardedPatch(f.spec);
    expect(r).toEqual({ object: { rv: 2, weight: 5 }, wrote: true, attempts: 3 });
    expect(f.log).toEqual([
      'read 1',
      'fence',
      'write',
      'wait 20',
      'read 1',
      'fence',
      'write',
      'wait 40',
      'read 1',
      'fence',
      'write',
    ]);
  });

  it('writes nothing (and checks no fence) when the object is there already', async () => {
    const f = fake([], { rv: 7, weight: 5 });
    expect(await guardedPatch(f.spec)).toEqual({ object: { rv: 7, weight: 5 }, wrote: false, attempts: 1 });
    expect(f.log).toEqual(['read 7']);
  });

  it('gives up after maxAttempts naming what and the last error', async () => {
    const f = fake([kubeErr(500, 'a'), kubeErr(500, 'b'), kubeErr(500, 'c'), kubeErr(500, 'd')]);
    const e = await guardedPatch(f.spec).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RetriesExhaustedError);
    expect(e).toMatchObject({ attempts: 4, message: 'gave up: set weight 5 after 4 attempts: d' });
    expect(f.log.filter((l) => l === 'write')).toHaveLength(4);
  });

  it('a final error, a failing fence or an abort stops at once', async () => {
    const notFound = fake([kubeErr(404)]);
    await expect(guardedPatch(notFound.spec)).rejects.toMatchObject({ code: 404 });
    expect(notFound.log).toEqual(['read 1', 'fence', 'write']);

    const fenced = fake([]);
    const lost = new Error('lease lost');
    await expect(guardedPatch({ ...fenced.spec, beforeWrite: () => Promise.reject(lost) })).rejects.toBe(
      lost,
    );
    expect(fenced.log).toEqual(['read 1']);

    const ac = new AbortController();
    const aborted = fake([kubeErr(409)]);
    const spec = { ...aborted.spec, signal: ac.signal, wait: async () => ac.abort() };
    await expect(guardedPatch(spec)).rejects.toMatchObject({ name: 'AbortError' });
    expect(aborted.log).toEqual(['read 1', 'fence', 'write']);
  });
});

describe('KubeCalls.run', () => {
  const never = () => new Promise<never>(() => {});

  it('sends with a signal set on the request context by middleware', async () => {
    let seen: AbortSignal | undefined;
    await new KubeCalls().run('get', 'x', async (o) => {
      const ctx = new k8s.RequestContext('http://127.0.0.1/x', k8s.HttpMethod.GET);
      await o.middleware![0]!.pre(ctx).toPromise();
      seen = ctx.getSignal();
    });
    expect(seen).toBeInstanceOf(AbortSignal);
    const s = new AbortController().signal;
    const ctx = new k8s.RequestContext('http://127.0.0.1/x', k8s.HttpMethod.GET);
    await signalOptions(s).middleware![0]!.pre(ctx).toPromise();
    expect(ctx.getSignal()).toBe(s);
  });

  it('ends a call at its deadline with a Timeout error, aborting the request signal', async () => {
    let signal: AbortSignal | undefined;
    const calls: unknown[] = [];
    const c = new KubeCalls({ callTimeoutMs: 50, onCall: (i) => calls.push(i) });
    const e = await c
      .run('get', 'virtualservices/shop/pcs', (o) => {
        const ctx = new k8s.RequestContext('http://127.0.0.1/x', k8s.HttpMethod.GET);
        void o
          .middleware![0]!.pre(ctx)
          .toPromise()
          .then(() => (signal = ctx.getSignal()));
        return never();
      })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 0, reason: 'Timeout' });
    expect((e as Error).message).toBe(
      'get virtualservices/shop/pcs: no answer within 0.05 s (callTimeoutMs 50)',
    );
    expect(signal?.aborted).toBe(true);
    expect(calls).toEqual([expect.objectContaining({ verb: 'get', ok: false, code: 0 })]);
  });

  it("rethrows the caller's abort reason, and sends nothing when already aborted", async () => {
    const ac = new AbortController();
    const p = new KubeCalls().run('patch', 'x', never, ac.signal);
    ac.abort(new Error('shutting down'));
    await expect(p).rejects.toThrow('shutting down');
    let sent = false;
    await expect(new KubeCalls().run('get', 'x', async () => void (sent = true), ac.signal)).rejects.toThrow(
      'shutting down',
    );
    expect(sent).toBe(false);
  });

  it('rejects a callTimeoutMs that is not a positive number', () => {
    expect(() => new KubeCalls({ callTimeoutMs: 0 })).toThrow(/callTimeoutMs must be a positive number/);
  });
});

describe('CheckList', () => {
  it('shows a fix only on failed checks, reports not-found with its own fix, marks unavailability transient, and rethrows aborts', () => {
    const ac = new AbortController();
    const c = new CheckList(ac.signal);
    c.add('a', true, 'fine', 'never shown');
    c.failedRead('b', kubeErr(404), 'Deployment shop/pcs', 'deploy it');
    c.failedRead('c', kubeErr(500, 'get x: boom'), 'Deployment shop/pcs', 'deploy it');
    expect(c.checks).toEqual([
      { id: 'a', ok: true, message: 'fine' },
      { id: 'b', ok: false, message: 'Deployment shop/pcs not found', fix: 'deploy it' },
      // A 500 says the API was unavailable, not that something is wrong: preflight waits it out.
      { id: 'c', ok: false, message: 'get x: boom', transient: true },
    ]);
    expect(c.ok).toBe(false);
    ac.abort();
    expect(() => c.failed('d', new Error('x'))).toThrow();
    expect(new CheckList().ok).toBe(false);
  });
});
