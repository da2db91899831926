/**
 * Live updates for every open dashboard tab from ONE poll loop per server: at most once per `intervalMs` it reads
 * the migration list and, for each migration someone is watching, the history entries committed since the last
 * read (`history(id, {after})` on the store's stream). Changes fan out to subscribers. With no subscriber the
 * loop stops, so a closed tab costs nothing.
 */
import type { MigrationView } from '../engine/view.js';
import type { Logger } from '../log/logger.js';
import type { HistoryEntry } from '../store/store.js';

/** The service's read paths the hub uses (MigrationService satisfies it). */
export interface LiveSource {
  list(limit?: number, offset?: number): Promise<MigrationView[]>;
  history(id: string, after?: string): Promise<HistoryEntry[]>;
}

export type LiveEvent =
  { type: 'migration'; migration: MigrationView } | { type: 'history'; id: string; entries: HistoryEntry[] };

export type Listener = (e: LiveEvent) => void;

const LIST_LIMIT = 1000;

export class LiveHub {
  private readonly listSubs = new Set<Listener>();
  private readonly migSubs = new Map<string, Set<Listener>>();
  private readonly lastSeen = new Map<string, string>();
  private readonly cursors = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Poll rounds done (for tests and /metrics-style checks). */
  rounds = 0;

  constructor(
    private readonly source: LiveSource,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

  subscribers(): number {
    let n = this.listSubs.size;
    for (const s of this.migSubs.values()) n += s.size;
    return n;
  }

  /** Every change of any migration's summary. Returns the unsubscribe function. */
  watchList(l: Listener): () => void {
    this.listSubs.add(l);
    this.start();
    return () => {
      this.listSubs.delete(l);
      this.maybeStop();
    };
  }

  /**
   * New history entries of one migration, from the moment of the call (take the snapshot after subscribing; the
   * page drops entries it already has by id).
   */
  async watchMigration(id: string, l: Listener): Promise<() => void> {
    let set = this.migSubs.get(id);
    if (!set) this.migSubs.set(id, (set = new Set()));
    set.add(l);
    if (!this.cursors.has(id)) {
      const h = await this.source.history(id);
      if (!this.cursors.has(id)) this.cursors.set(id, h.at(-1)?.id ?? '0-0');
    }
    this.start();
    return () => {
      const s = this.migSubs.get(id);
      s?.delete(l);
      if (s && s.size === 0) {
        this.migSubs.delete(id);
        this.cursors.delete(id);
      }
      this.maybeStop();
    };
  }

  close(): void {
    this.listSubs.clear();
    this.migSubs.clear();
    this.maybeStop();
  }

  private start(): void {
    if (this.timer || this.running) return;
    this.timer = setTimeout(() => void this.round(), this.intervalMs);
    this.timer.unref();
  }

  private maybeStop(): void {
    if (this.subscribers() > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.lastSeen.clear();
  }

  private async round(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    try {
      await this.pollList();
      for (const id of [...this.migSubs.keys()]) await this.pollHistory(id);
      this.rounds++;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'dashboard live update failed; retrying');
    } finally {
      this.running = false;
      if (this.subscribers() > 0) this.start();
    }
  }

  private async pollList(): Promise<void> {
    if (this.listSubs.size === 0) return;
    const views = await this.source.list(LIST_LIMIT, 0);
    for (const v of views) {
      const key = `${v.seq}|${v.updatedAt}|${v.phase}|${v.weight}|${v.possible.join(',')}`;
      if (this.lastSeen.get(v.id) === key) continue;
      this.lastSeen.set(v.id, key);
      // Also on the first round after a start: a subscriber's snapshot may be older than this read (a change
      // between its snapshot and the round would otherwise be taken for the starting state and never sent).
      this.emit(this.listSubs, { type: 'migration', migration: v });
    }
  }

  private async pollHistory(id: string): Promise<void> {
    const subs = this.migSubs.get(id);
    const after = this.cursors.get(id);
    if (!subs || after === undefined) return;
    const entries = await this.source.history(id, after);
    if (!entries.length) return;
    this.cursors.set(id, entries.at(-1)!.id);
    this.emit(subs, { type: 'history', id, entries });
  }

  private emit(subs: Set<Listener>, e: LiveEvent): void {
    for (const l of [...subs]) {
      try {
        l(e);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'dashboard subscriber failed');
      }
    }
  }
}
