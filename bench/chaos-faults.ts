/**
 * The soak's seeded fault schedule: every kind once per round in a shuffled order (so a short soak meets each),
 * a random pause between faults, random durations. Worker kills are followed at once by a replacement worker.
 */
import type { ChaosWorld } from './chaos-world.js';

export type FaultKind =
  'kill9' | 'sigterm' | 'redis-restart' | 'kube-500' | 'kube-hang' | 'prometheus-outage';
export const FAULT_KINDS: FaultKind[] = [
  'kill9',
  'sigterm',
  'redis-restart',
  'kube-500',
  'kube-hang',
  'prometheus-outage',
];

export interface FaultLog {
  counts: Record<string, number>;
  windows: Array<{ kind: FaultKind; from: number; to: number }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Injects faults until `untilMs` (epoch ms); everything is healthy again when it returns. */
export async function injectFaults(
  w: ChaosWorld,
  rnd: () => number,
  untilMs: number,
  log: (s: string) => void,
): Promise<FaultLog> {
  const out: FaultLog = { counts: {}, windows: [] };
  let round: FaultKind[] = [];
  for (;;) {
    await sleep(4000 + rnd() * 8000);
    if (Date.now() >= untilMs) return out;
    if (round.length === 0) round = shuffled(FAULT_KINDS, rnd);
    const kind = round.shift()!;
    const from = Date.now();
    out.counts[kind] = (out.counts[kind] ?? 0) + 1;
    log(`fault ${kind}`);
    await inject(w, kind, rnd);
    out.windows.push({ kind, from, to: Date.now() });
  }
}

async function inject(w: ChaosWorld, kind: FaultKind, rnd: () => number): Promise<void> {
  const lasting = (min: number, max: number) => min + rnd() * (max - min);
  switch (kind) {
    case 'kill9':
    case 'sigterm': {
      const victim = w.workers.splice(Math.floor(rnd() * w.workers.length), 1)[0];
      if (kind === 'kill9') victim?.proc.proc.kill('SIGKILL');
      else void victim?.proc.stop();
      await w.replaceWorker();
      return;
    }
    case 'redis-restart':
      await w.redis.stop();
      await sleep(lasting(2000, 6000));
      await w.redis.start();
      return;
    case 'kube-500':
      w.apiFault = { kind: '500' };
      await sleep(lasting(5000, 15_000));
      w.apiFault = { kind: 'ok' };
      return;
    case 'kube-hang': {
      let release!: () => void;
      w.apiFault = { kind: 'hang', until: new Promise<void>((r) => (release = r)) };
      await sleep(lasting(5000, 20_000));
      w.apiFault = { kind: 'ok' };
      release();
      return;
    }
    case 'prometheus-outage':
      await w.prom.stop();
      await sleep(lasting(5000, 15_000));
      await w.prom.start();
      return;
  }
}

function shuffled<T>(xs: readonly T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
