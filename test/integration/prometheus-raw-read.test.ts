/**
 * Raw counter reads go through prometheus-query's own request() rather than instantQuery (which builds a Date and
 * two objects per sample). This pins what that relies on, against an HTTP server on loopback that answers like
 * Prometheus: the query and time sent, the answer read, headers, and errors that say what went wrong.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusProvider } from '../../src/gate/prometheus.js';
import { MetricsUnavailableError } from '../../src/gate/input/provider.js';

interface Seen {
  url: URL;
  headers: http.IncomingHttpHeaders;
}

describe('raw counter reads through prometheus-query', () => {
  const seen: Seen[] = [];
  let answer: { status: number; body: unknown } = { status: 200, body: {} };
  let server: http.Server;
  let url = '';

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: new URL(req.url ?? '/', 'http://127.0.0.1'), headers: req.headers });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the range query at the instant asked, uncompressed, and reads the matrix', async () => {
    answer = {
      status: 200,
      body: {
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [
            {
              metric: { __name__: 'istio_requests_total', response_code: '200', pod: 'web-1' },
              values: [
                [1767600000.5, '10'],
                [1767600001.5, '12'],
              ],
            },
          ],
        },
      },
    };
    const p = new PrometheusProvider({ url, headers: { Authorization: 'Bearer t0ken' } });
    const series = await p.rawSeries({ destination_workload: 'web' }, 'destination', 30_000, 1767600002_000);
    expect(series).toEqual([
      {
        labels: { __name__: 'istio_requests_total', response_code: '200', pod: 'web-1' },
        tv: [1767600000500, 10, 1767600001500, 12],
      },
    ]);
    const req = seen.at(-1)!;
    expect(req.url.pathname).toBe('/api/v1/query');
    expect(req.url.searchParams.get('time')).toBe('1767600002');
    expect(req.url.searchParams.get('query')).toContain('destination_workload="web"');
    expect(req.url.searchParams.get('query')).toContain('[30s]');
    expect(req.headers['accept-encoding']).toBe('identity');
    expect(req.headers.authorization).toBe('Bearer t0ken');
    expect(p.queries).toBe(1);
  });

  it("turns Prometheus' error answer into an error that carries its message", async () => {
    answer = {
      status: 400,
      body: { status: 'error', errorType: 'bad_data', error: 'parse error at char 12: unexpected "}"' },
    };
    const p = new PrometheusProvider({ url });
    const err = await p.rawSeries({ app: 'web' }, 'destination', 30_000, 1767600002_000).catch((e) => e);
    expect(err).toBeInstanceOf(MetricsUnavailableError);
    expect((err as Error).message).toContain('parse error at char 12');
    expect((err as MetricsUnavailableError).kind).toBe('http_error');
  });

  it('refuses an answer that is not a matrix', async () => {
    answer = { status: 200, body: { status: 'success', data: { resultType: 'vector', result: [] } } };
    const p = new PrometheusProvider({ url });
    await expect(p.rawSeries({ app: 'web' }, 'destination', 30_000)).rejects.toThrow(
      'expected a matrix, got vector',
    );
  });

  it('says so when nothing answers', async () => {
    const p = new PrometheusProvider({ url: 'http://127.0.0.1:1', timeoutMs: 2000 });
    const err = await p.rawSeries({ app: 'web' }, 'destination', 30_000).catch((e) => e);
    expect(err).toBeInstanceOf(MetricsUnavailableError);
    expect((err as MetricsUnavailableError).kind).toBe('network_error');
  });
});
