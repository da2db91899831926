/** The live hub: one poll loop per server, fan-out to every subscriber, nothing left running after the last leaves. */
import { describe, expect, it } from 'vitest';
import type { MigrationView } from '../../src/engine/view.js';
import { silentLogger } from '../../src/log/logger.js';
import type { HistoryEntry } from '../../src/store/store.js';
import { LiveHub, type LiveEvent, type LiveSource } from '../../src/web/live.js';

function source() {
  const views: MigrationView[] = [];
  const history: HistoryEntry[] = [];
  const calls = { list: 0, history: 0 };
  const src: LiveSource = {
    list: async () => {
      calls.list++;
      return views.map((v) => ({ ...v }));
    },
    history: async (_id, after) => {
      calls.history++;
      if (!after) return [...history];
      const [a, b] = after.split('-').map(Number) as [number, number];
      return history.filter((e) => {
        const [x, y] = e.id.split('-').map(Number) as [number, number];
        return x > a || (x === a && y > b);
      });
    },
  };
  return { views, history, calls, src };
}

const view = (id: string, seq: number, weight: number) =>
  ({
    id,
    name: id,
    namespace: 'ns',
    phase: 'shifting',
    weight,
    steps: [1, 100],
    policy: 'p',
    possible: ['PAUSE'],
    createdAt: '',
    createdBy: 'a',
    updatedAt: String(seq),
    heldByWindow: false,
    seq,
  }) as MigrationView;
const entry = (n: number): HistoryEntry => ({
  id: `${n}-0`,
  type: 'weight',
  at: n,
  seq: n,
  weight: n,
  previous: 0,
  wrote: true,
  attempts: 1,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LiveHub', () => {
  it('fans one poll out to many tabs, sends the state once then only changes and new entries, and stops when the last tab closes', async () => {
    const s = source();
    s.views.push(view('m1', 1, 1));
    s.history.push(entry(1));
    const hub = new LiveHub(s.src, silentLogger, 30);
    const got: LiveEvent[][] = [[], [], []];
    const offs = [0, 1].map((i) => hub.watchList((e) => got[i]!.push(e)));
    const offM = await hub.watchMigration('m1', (e) => got[2]!.push(e));
    await sleep(100); // the first round sends each migration once (a tab's snapshot may be older), then nothing
    for (const i of [0, 1])
      expect(got[i]!.map((e) => e.type === 'migration' && e.migration.weight)).toEqual([1]);
    got[0]!.length = 0;
    got[1]!.length = 0;
    s.views[0] = view('m1', 2, 5);
    s.history.push(entry(2), entry(3));
    await sleep(100);
    for (const i of [0, 1])
      expect(got[i]!.map((e) => e.type === 'migration' && e.migration.weight)).toEqual([5]);
    expect(got[2]!.flatMap((e) => (e.type === 'history' ? e.entries.map((x) => x.id) : []))).toEqual([
      '2-0',
      '3-0',
    ]);
    const rounds = hub.rounds;
    const listCalls = s.calls.list;
    expect(listCalls).toBeLessThanOrEqual(rounds + 1); // one list read per round, not per tab
    offs.forEach((off) => off());
    offM();
    expect(hub.subscribers()).toBe(0);
    await sleep(150);
    expect(s.calls.list).toBeLessThanOrEqual(listCalls + 1);
    const after = s.calls.list;
    await sleep(150);
    expect(s.calls.list).toBe(after); // nothing runs with no subscriber
  });

  it('a change between a tab’s snapshot and the next round reaches the tab (the hub had just restarted)', async () => {
    const s = source();
    s.views.push(view('m1', 1, 1));
    const hub = new LiveHub(s.src, silentLogger, 30);
    const got: LiveEvent[] = [];
    const off = hub.watchList((e) => got.push(e)); // the tab then reads its snapshot: weight 1
    s.views[0] = { ...view('m1', 2, 0), phase: 'aborted' }; // aborted before the hub's first round
    await sleep(100);
    expect(got.map((e) => e.type === 'migration' && e.migration.phase)).toEqual(['aborted']);
    off();
  });
});
