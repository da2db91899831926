/**
 * Bolt listeners: the slash command and the Promote / Resume / Abort buttons. Both acknowledge within Slack's
 * 3-second window: quick answers ride on the ack, slow ones follow through response_url (commands) or the
 * Web API (buttons).
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { SlackAction } from './auth.js';
import { act, runCommand, type CommandDeps } from './commands.js';
import { ACTION_PREFIX, actedMessage } from './format.js';

export interface ListenerDeps extends CommandDeps {
  client: WebClient;
  /** How long a slash command may work before the ack goes out with "working on it" (default 2 s). */
  ackBudgetMs?: number;
}

const PAST: Record<SlackAction, string> = {
  promote: 'promoted',
  pause: 'paused',
  resume: 'resumed',
  abort: 'aborted',
};

const sleep = (ms: number) => new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref());

export function registerListeners(bolt: App, deps: ListenerDeps): void {
  bolt.command(/^\/.+/, async ({ command, ack, respond }) => {
    const work = runCommand(deps, command.user_id, command.text ?? '').then(
      (text) => ({ text }),
      (err: unknown) => {
        deps.logger.error({ err: (err as Error).message, text: command.text }, 'slack command failed');
        return { text: `:x: meshshift could not do that: ${(err as Error).message}` };
      },
    );
    // A budget of 0 always acks at once and answers through response_url (no race with a fast answer).
    const budget = deps.ackBudgetMs ?? 2000;
    const quick = budget > 0 ? await Promise.race([work, sleep(budget)]) : undefined;
    if (quick) {
      await ack({ response_type: 'ephemeral', text: quick.text });
      return;
    }
    await ack({ response_type: 'ephemeral', text: ':hourglass_flowing_sand: working on it…' });
    const late = await work;
    await respond({ response_type: 'ephemeral', replace_original: true, text: late.text });
  });

  bolt.action<BlockAction<ButtonAction>>(
    new RegExp(`^${ACTION_PREFIX}(promote|resume|abort)$`),
    async ({ ack, body, action }) => {
      await ack();
      const command = action.action_id.slice(ACTION_PREFIX.length) as SlackAction;
      const id = action.value ?? '';
      const user = body.user.id;
      const channel = body.channel?.id ?? body.container?.channel_id;
      const message = body.message;
      const threadTs = typeof message?.thread_ts === 'string' ? message.thread_ts : undefined;
      let result;
      try {
        result = await act(deps, user, id, command);
      } catch (err) {
        deps.logger.error({ err: (err as Error).message, migration: id, command }, 'slack button failed');
        result = { ok: false as const, text: `:x: meshshift could not do that: ${(err as Error).message}` };
      }
      if (!channel) return;
      if (!result.ok) {
        await deps.client.chat
          .postEphemeral({ channel, user, text: result.text, ...(threadTs ? { thread_ts: threadTs } : {}) })
          .catch((err: unknown) =>
            deps.logger.warn({ err: (err as Error).message }, 'slack postEphemeral failed'),
          );
        return;
      }
      if (!message?.ts) return;
      const first = (message.blocks as Array<{ type?: string; text?: { text?: string } }> | undefined)?.[0];
      const prompt =
        first?.type === 'section' && first.text?.text ? first.text.text : String(message.text ?? '');
      const when = new Date().toISOString().slice(11, 16);
      const updated = actedMessage(
        prompt,
        `:white_check_mark: <@${user}> ${PAST[command]} \`${id}\` at ${when} UTC`,
      );
      await deps.client.chat
        .update({ channel, ts: message.ts, text: updated.text, blocks: updated.blocks ?? [] })
        .catch((err: unknown) =>
          deps.logger.warn({ err: (err as Error).message }, 'slack chat.update failed'),
        );
    },
  );
}
