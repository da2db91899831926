/**
 * Posts each migration's history to its Slack channel (`spec.notify.slackChannel`, or a default channel):
 * one parent message per migration, every step / verdict / rollback / completion as a threaded reply, and the
 * parent edited to show the current state and weight.
 *
 * Durable and shared: the parent's ts and a cursor into the history stream live in Redis (the store's
 * `slack` part: channel, ts, cursor, part, parent, lv). Any number of processes may run a notifier: a
 * migration is handled by one at a time (a Lease on it), and every cursor write is fenced by that lease, so
 * an entry is posted once. (A crash between a post and its cursor write
 * re-posts that one reply: at-least-once, never silently lost.) Finished and fully posted migrations go to
 * `{p}:slack:done` and are not looked at again.
 */
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../log/logger.js';
import { isTerminalPhase } from '../engine/vocabulary.js';
import { routeNameOf } from '../engine/route-label.js';
import { viewOf } from '../engine/view.js';
import { LostLeaseError } from '../store/lease.js';
import type { HistoryEntry, MigrationRecord, RedisMigrationStore } from '../store/store.js';
import { entryMessages, parentMessage, type EntryContext } from './format.js';

type Save = (fields: Record<string, string>) => Promise<void>;

/** Where a migration's messages go: the channel, the parent message's ts and the parent's text as last posted. */
interface Thread {
  channel: string;
  ts: string;
  parentText: string;
}

export interface NotifierOptions {
  store: RedisMigrationStore;
  client: WebClient;
  logger: Logger;
  /** How often to look for new history (default 2 s). */
  intervalMs?: number;
  /** Per-migration lock; longer than one pass over a migration's new entries (default 30 s). */
  lockTtlMs?: number;
  /** For plans without `spec.notify.slackChannel`; without either, the migration is not posted. */
  defaultChannel?: string;
  /** 'changes' (default): a passing verdict only when the weight changed; fails and inconclusives always. */
  verdicts?: 'all' | 'changes';
  /** History entries read per migration and pass. */
  batch?: number;
}

export class SlackNotifier {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  private readonly backoff = new Map<string, number>();

  constructor(private readonly o: NotifierOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.running = this.pass()
        .catch((err: unknown) =>
          this.o.logger.warn({ err: (err as Error).message }, 'slack notifier pass failed'),
        )
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.o.intervalMs ?? 2000);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One sweep over every migration that still has something to post. */
  async pass(): Promise<void> {
    const { store } = this.o;
    const ids = await store.ids();
    if (!ids.length) return;
    const done = await store.slack.done(ids);
    const now = Date.now();
    for (const [i, id] of ids.entries()) {
      if (done[i] || (this.backoff.get(id) ?? 0) > now) continue;
      try {
        await this.migration(id);
        this.backoff.delete(id);
      } catch (err) {
        if (err instanceof LostLeaseError) continue;
        const wait = 30_000;
        this.backoff.set(id, Date.now() + wait);
        this.o.logger.warn(
          { migration: id, err: (err as Error).message, retryInMs: wait },
          'slack notification failed',
        );
      }
    }
  }

  private async migration(id: string): Promise<void> {
    const { store } = this.o;
    const lease = await store.slack.lease(id, this.o.lockTtlMs ?? 30_000);
    if (!lease) return; // another process is posting this migration
    const save: Save = (fields) => store.slack.save(lease, id, fields);
    try {
      const rec = await store.get(id);
      if (!rec) return;
      const state = await store.slack.state(id);
      const channel = state.channel || rec.plan.notify?.slackChannel || this.o.defaultChannel;
      if (!channel) {
        await store.slack.markDone(id);
        return;
      }
      const thread = await this.thread(rec, state, channel, save);
      const ctx: EntryContext = {
        id,
        route: routeNameOf(rec.plan),
        verdicts: this.o.verdicts ?? 'changes',
        ...(state.lv ? { lastVerdict: JSON.parse(state.lv) as { weight: number; outcome: string } } : {}),
        ...(state.sh && state.sh !== 'null'
          ? { shown: JSON.parse(state.sh) as NonNullable<EntryContext['shown']> }
          : {}),
      };
      const batch = this.o.batch ?? 100;
      const entries = await store.history(id, {
        ...(state.cursor ? { after: state.cursor } : {}),
        count: batch,
      });
      await this.postEntries(entries, Number(state.part ?? 0), thread, ctx, save);
      // The parent shows the state as of now (re-read: the worker may have committed meanwhile).
      const now = (await store.get(id)) ?? rec;
      const parent = parentMessage(viewOf(now));
      if (parent.text !== thread.parentText) {
        await this.o.client.chat.update({
          channel: thread.channel,
          ts: thread.ts,
          text: parent.text,
          blocks: parent.blocks ?? [],
        });
        await save({ parent: parent.text });
      }
      if (entries.length < batch && isTerminalPhase(now.phase)) {
        const more = await store.history(id, {
          after: entries.at(-1)?.id ?? state.cursor ?? '0-0',
          count: 1,
        });
        if (!more.length) await store.slack.markDone(id);
      }
    } finally {
      await lease.release().catch(() => undefined);
    }
  }

  /** The migration's thread: its parent message, posted now if it has none yet. */
  private async thread(
    rec: MigrationRecord,
    state: Record<string, string>,
    channel: string,
    save: Save,
  ): Promise<Thread> {
    if (state.ts) return { channel: state.channel || channel, ts: state.ts, parentText: state.parent ?? '' };
    const parent = parentMessage(viewOf(rec));
    const res = await this.o.client.chat.postMessage({
      channel,
      text: parent.text,
      blocks: parent.blocks ?? [],
    });
    if (!res.ts) throw new Error('chat.postMessage returned no ts');
    // The channel id Slack answers with is stable (a #name may be renamed).
    await save({ channel: res.channel ?? channel, ts: res.ts, parent: parent.text });
    return { channel: state.channel || channel, ts: res.ts, parentText: parent.text };
  }

  /**
   * Posts each entry's messages into the thread, saving the cursor after each entry (and the part within an entry
   * that takes several messages), so a crash or a lost lease never posts a message twice or skips one.
   */
  private async postEntries(
    entries: readonly HistoryEntry[],
    firstPart: number,
    thread: Thread,
    ctx: EntryContext,
    save: Save,
  ): Promise<void> {
    let part = firstPart;
    for (const e of entries) {
      const msgs = entryMessages(e, ctx);
      for (let k = part; k < msgs.length; k++) {
        const m = msgs[k]!;
        await this.o.client.chat.postMessage({
          channel: thread.channel,
          thread_ts: thread.ts,
          text: m.text,
          ...(m.blocks ? { blocks: m.blocks } : {}),
          unfurl_links: false,
        });
        if (k + 1 < msgs.length) await save({ part: String(k + 1) });
      }
      part = 0;
      const fields: Record<string, string> = {
        cursor: e.id,
        part: '0',
        sh: JSON.stringify(ctx.shown ?? null),
      };
      if (e.type === 'verdict') {
        ctx.lastVerdict = { weight: e.weight, outcome: e.outcome };
        fields.lv = JSON.stringify(ctx.lastVerdict);
      }
      await save(fields);
    }
  }
}
