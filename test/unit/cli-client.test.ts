import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { api, ApiError } from '../../src/cli/client.js';

/** A loopback HTTP server answering with the given statuses in turn, recording each request's headers. */
async function scripted(
  statuses: number[],
): Promise<{ url: string; seen: IncomingHttpHeaders[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    const status = statuses[Math.min(seen.length - 1, statuses.length - 1)]!;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status < 300 ? { id: 'm1' } : { error: 'e', message: `answer ${status}` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

const body = { text: '{}', type: 'application/json' };

describe('API client', () => {
  it('retries a POST that got a 503 with the same Idempotency-Key, and returns the answer that came', async () => {
    const s = await scripted([503, 503, 201]);
    server = s.server;
    const r = await api<{ id: string }>({ server: s.url }, 'POST', '/v1/migrations', body, { baseMs: 5 });
    expect(r).toEqual({ id: 'm1' });
    expect(s.seen).toHaveLength(3);
    const keys = s.seen.map((h) => h['idempotency-key']);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(1);
  });

  it('gives up after its attempts and says what the server answered', async () => {
    const s = await scripted([503]);
    server = s.server;
    await expect(
      api({ server: s.url }, 'POST', '/v1/migrations/m1/commands', body, { attempts: 3, baseMs: 5 }),
    ).rejects.toThrow(/503 answer 503/);
    expect(s.seen).toHaveLength(3);
  });

  it('does not retry a refusal, and a GET carries no key and is not retried', async () => {
    const s = await scripted([422, 503]);
    server = s.server;
    const err = await api({ server: s.url }, 'POST', '/v1/migrations', body, { baseMs: 5 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect(s.seen).toHaveLength(1);
    await expect(api({ server: s.url }, 'GET', '/v1/migrations')).rejects.toThrow(/503/);
    expect(s.seen).toHaveLength(2);
    expect(s.seen[1]!['idempotency-key']).toBeUndefined();
  });

  it('a new invocation is a new key (two separate commands are two commands)', async () => {
    const s = await scripted([200]);
    server = s.server;
    await api({ server: s.url }, 'POST', '/v1/migrations/m1/commands', body);
    await api({ server: s.url }, 'POST', '/v1/migrations/m1/commands', body);
    expect(s.seen[0]!['idempotency-key']).not.toBe(s.seen[1]!['idempotency-key']);
  });

  it('retries an unreachable server, then names it', async () => {
    const s = await scripted([200]);
    const url = s.url;
    s.server.close();
    await expect(
      api({ server: url }, 'POST', '/v1/migrations', body, { attempts: 2, baseMs: 5 }),
    ).rejects.toThrow(/cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(check --server\)/);
  });
});
