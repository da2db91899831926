/** `/meshshift list | status <id> | promote <id> | pause <id> | resume <id> | abort <id> [reason]`. */
import type { Logger } from '../log/logger.js';
import { commandOf, isCommandWord } from '../engine/vocabulary.js';
import {
  CommandRefusedError,
  ForbiddenError,
  NotFoundError,
  type MigrationService,
} from '../service/service.js';
import type { SlackAction, SlackAuthorizer } from './auth.js';
import { listMessage, phaseLabel, statusMessage } from './format.js';

export const USAGE = [
  '*Usage:* `/meshshift list` · `/meshshift status <id>` · `/meshshift promote <id>` · `/meshshift pause <id> [reason]`',
  '· `/meshshift resume <id>` · `/meshshift abort <id> [reason]`',
].join(' ');

export type ParsedCommand =
  | { kind: 'list' }
  | { kind: 'status'; id: string }
  | { kind: 'act'; action: SlackAction; id: string; reason?: string }
  | { kind: 'help'; error?: string };

const ID = /^[a-z0-9][a-z0-9.-]{0,252}$/;

export function parseCommand(text: string): ParsedCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [verb, id, ...rest] = words;
  if (!verb || verb === 'help') return { kind: 'help' };
  const v = verb.toLowerCase();
  if (v === 'list')
    return words.length === 1 ? { kind: 'list' } : { kind: 'help', error: '`list` takes no arguments.' };
  if (v !== 'status' && !isCommandWord(v))
    return { kind: 'help', error: `Unknown command \`${verb.slice(0, 40)}\`.` };
  if (!id) return { kind: 'help', error: `\`${v}\` needs a migration id (\`/meshshift list\` shows them).` };
  if (!ID.test(id)) return { kind: 'help', error: `\`${id.slice(0, 80)}\` is not a migration id.` };
  if (v === 'status')
    return rest.length
      ? { kind: 'help', error: '`status` takes only a migration id.' }
      : { kind: 'status', id };
  const reason = rest.join(' ').slice(0, 500);
  if (reason && v !== 'abort' && v !== 'pause')
    return { kind: 'help', error: `\`${v}\` takes only a migration id (a reason is for pause and abort).` };
  return { kind: 'act', action: v, id, ...(reason ? { reason } : {}) };
}

export interface CommandDeps {
  service: MigrationService;
  authorizer: SlackAuthorizer;
  logger: Logger;
}

export type ActResult = { ok: true; text: string; phase: string } | { ok: false; text: string };

const notFound = (id: string) =>
  `:grey_question: No migration with id \`${id}\`. \`/meshshift list\` shows the recent ones.`;

/** Authorizes and queues one command (`service.commandAs`); the history records it with `by = slack:<user id>`. */
export async function act(
  deps: CommandDeps,
  user: string,
  id: string,
  action: SlackAction,
  reason?: string,
): Promise<ActResult> {
  let via = '';
  const principal = {
    by: `slack:${user}`,
    authorize: async (namespace: string) => {
      const decision = await deps.authorizer.decide(user, namespace, action);
      if (decision.ok) {
        via = decision.via;
        return undefined;
      }
      deps.logger.warn({ migration: id, user, action, namespace }, 'slack command refused: not authorized');
      return decision.message;
    },
  };
  try {
    const r = await deps.service.commandAs(principal, id, {
      type: commandOf(action),
      ...(reason ? { reason } : {}),
    });
    deps.logger.info({ migration: id, user, action, via }, 'slack command queued');
    return {
      ok: true,
      phase: r.answer.phase,
      text: `:white_check_mark: ${action} queued for \`${id}\` (was ${phaseLabel(r.answer.phase)} at ${r.weight} %).`,
    };
  } catch (err) {
    if (err instanceof ForbiddenError) return { ok: false, text: err.message };
    if (err instanceof CommandRefusedError)
      return {
        ok: false,
        text: `:warning: \`${id}\` is ${phaseLabel(err.phase)}: ${err.message}.`,
      };
    if (err instanceof NotFoundError) return { ok: false, text: notFound(id) };
    throw err;
  }
}

/** The ephemeral answer to one slash command. */
export async function runCommand(deps: CommandDeps, user: string, text: string): Promise<string> {
  const c = parseCommand(text);
  switch (c.kind) {
    case 'help':
      return c.error ? `:warning: ${c.error}\n${USAGE}` : USAGE;
    case 'list':
      return listMessage(await deps.service.list(15));
    case 'status':
      try {
        // One history entry is enough: status shows the migration and its last verdicts (read apart).
        const { migration, lastVerdicts } = await deps.service.get(c.id, { limit: 1 });
        return statusMessage(migration, lastVerdicts);
      } catch (err) {
        if (err instanceof NotFoundError) return notFound(c.id);
        throw err;
      }
    case 'act':
      return (await act(deps, user, c.id, c.action, c.reason)).text;
  }
}
