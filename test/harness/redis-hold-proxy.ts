/**
 * A TCP proxy on 127.0.0.1 in front of a Redis server that can make Redis receive ONE chosen command late: once
 * armed with a marker (e.g. a Lua script's SHA-1), the first client chunk that contains it — and everything that
 * client sends after it — is held for `holdMs`, then delivered in order. Replies flow back untouched. This puts a
 * Redis write pause exactly around one command (the create script of a submission), where CLIENT PAUSE WRITE
 * also stops the reads and checks that come before it.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RedisHoldProxy {
  /** redis://127.0.0.1:port */
  readonly url: string;
  /** Holds the next chunk containing `marker` (and what follows it on that connection) for `holdMs`. */
  arm(marker: string, holdMs: number): void;
  /** Resolves once the last held chunk has been delivered to Redis (at once if nothing is held). */
  released(): Promise<void>;
  /** How many holds have happened. */
  readonly holds: number;
  close(): Promise<void>;
}

export async function startRedisHoldProxy(upstreamPort: number): Promise<RedisHoldProxy> {
  let armed: { marker: string; holdMs: number } | undefined;
  let holds = 0;
  let lastRelease: Promise<void> = Promise.resolve();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(up);
    let heldUntil: Promise<void> | undefined;
    client.on('data', (chunk: Buffer) => {
      if (!heldUntil && armed && chunk.includes(armed.marker)) {
        const ms = armed.holdMs;
        armed = undefined;
        holds++;
        const hold = new Promise<void>((r) => setTimeout(r, ms));
        // Runs before the writes queued behind the hold (registered first), so order is kept.
        void hold.then(() => void (heldUntil === hold && (heldUntil = undefined)));
        heldUntil = hold;
        lastRelease = hold.then(() => undefined);
      }
      if (heldUntil) void heldUntil.then(() => up.destroyed || up.write(chunk));
      else up.write(chunk);
    });
    up.on('data', (chunk: Buffer) => client.destroyed || client.write(chunk));
    const end = () => {
      // a held chunk is still delivered after its hold, as a late packet would be
      void (heldUntil ?? Promise.resolve()).then(() => up.end());
      client.destroy();
    };
    client.on('close', end);
    client.on('error', end);
    up.on('close', () => client.destroy());
    up.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    arm: (marker, holdMs) => void (armed = { marker, holdMs }),
    released: () => lastRelease,
    get holds() {
      return holds;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
