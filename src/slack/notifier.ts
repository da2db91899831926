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
import type { RedisMigrationStore } from '../store/store.js';
import { entryMessages, parentMessage, type EntryContext } from './format.js';

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
    const { store, client } = this.o;
    const lease = await store.slack.lease(id, this.o.lockTtlMs ?? 30_000);
    if (!lease) return; // another process is posting this migration
    const save = (fields: Record<string, string>) => store.slack.save(lease, id, fields);
    try {
      const rec = await store.get(id);
      if (!rec) return;
      const state = await store.slack.state(id);
      const channel = state.channel || rec.plan.notify?.slackChannel || this.o.defaultChannel;
      if (!channel) {
        await store.slack.markDone(id);
        return;
      }
      let ts = state.ts;
      let parentText = state.parent ?? '';
      if (!ts) {
        const parent = parentMessage(viewOf(rec));
        const res = await client.chat.postMessage({
          channel,
          text: parent.text,
          blocks: parent.blocks ?? [],
        });
        if (!res.ts) throw new Error('chat.postMessage returned no ts');
        ts = res.ts;
        // The channel id Slack answers with is stable (a #name may be renamed).
        await save({ channel: res.channel ?? channel, ts, parent: parent.text });
        parentText = parent.text;
      }
      const target = state.channel || channel;
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
      let part = Number(state.part ?? 0);
      for (const e of entries) {
        const msgs = entryMessages(e, ctx);
        for (let k = part; k < msgs.length; k++) {
          const m = msgs[k]!;
          await client.chat.postMessage({
            channel: target,
            thread_ts: ts,
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
      // The parent shows the state as of now (re-read: the worker may have committed meanwhile).
      const now = (await store.get(id)) ?? rec;
      const parent = parentMessage(viewOf(now));
      if (parent.text !== parentText) {
        await client.chat.update({ channel: target, ts, text: parent.text, blocks: parent.blocks ?? [] });
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
}
