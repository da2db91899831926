/** One Server-Sent Events stream on a hijacked fastify reply; cleans up on the client's `close`. */
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseStream {
  send(event: string, data: unknown): void;
  onClose(fn: () => void): void;
  closed(): boolean;
}

/** Bytes a slow client may have queued before it is dropped (it reconnects and gets a fresh snapshot). */
const MAX_BUFFERED = 1 << 20;

export function openSse(req: FastifyRequest, reply: FastifyReply, keepAliveMs = 15_000): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  const closers: Array<() => void> = [];
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearInterval(ping);
    for (const fn of closers.splice(0)) fn();
  };
  const ping = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
  ping.unref();
  req.raw.on('close', finish);
  res.on('close', finish);
  res.on('error', finish);
  return {
    send(event, data) {
      if (done) return;
      if (res.writableLength > MAX_BUFFERED) {
        res.destroy();
        return;
      }
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    onClose(fn) {
      if (done) fn();
      else closers.push(fn);
    },
    closed: () => done,
  };
}
