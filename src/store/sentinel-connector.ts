/**
 * ioredis's Sentinel connector with one defect fixed: a failover detector outliving its connection.
 *
 * With `failoverDetector: true` ioredis subscribes to every Sentinel's `+switch-master` once a connection is up and,
 * on that message, disconnects the connector so the client asks Sentinel for the new primary. That is what moves a
 * client off a primary that hangs (SIGSTOP, a frozen VM, a lost host) instead of closing its socket. But ioredis
 * 5.11 cleans a detector up only when the next connection makes a new one: when the primary is killed, the old
 * detector is still listening while the client reconnects, and if `+switch-master` arrives during that reconnect
 * it cancels it — ioredis then rejects the connect with "Connection is closed." and ends the client for good (every
 * command refused until a restart; seen in our Sentinel failover test: 20 or 38 of 40 clients ended in 2 of 3
 * tries). Fixed upstream in ioredis 6 (redis/ioredis#2198); here the detector made for a connection is cleaned up
 * when that connection's socket closes, so it can only ever cut the connection it watched.
 *
 * ioredis takes the class as the `Connector` option, which travels with the options into every client built from
 * them (BullMQ's own connections and `duplicate()` included).
 */
import type { Socket } from 'node:net';
import { SentinelConnector, type SentinelConnectionOptions } from 'ioredis';

interface DetectorInternals {
  stream?: Socket;
  failoverDetector: { cleanup(): void } | null;
  initFailoverDetector(): Promise<void>;
}

export class StreamBoundSentinelConnector extends SentinelConnector {
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions); // ioredis's ConnectorConstructor types the options as unknown
    const self = this as unknown as DetectorInternals;
    const init = self.initFailoverDetector.bind(this);
    // ioredis binds `this.initFailoverDetector` when the socket connects: an own property takes precedence.
    self.initFailoverDetector = async () => {
      const stream = self.stream;
      const started = init(); // runs synchronously up to its first await: the new detector is in place
      const detector = self.failoverDetector;
      if (stream && detector) {
        if (stream.destroyed) detector.cleanup();
        else stream.once('close', () => detector.cleanup());
      }
      await started;
    };
  }
}
