/** `/meshshift list | status <id> | promote <id> | pause <id> | resume <id> | abort <id> [reason]`. */
import type { Logger } from '../log/logger.js';
import type { CommandType } from '../machine/types.js';
import { CommandRefusedError, NotFoundError, type MigrationService } from '../service/service.js';
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
  if (v !== 'status' && v !== 'promote' && v !== 'pause' && v !== 'resume' && v !== 'abort')
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

const TYPE: Record<SlackAction, CommandType> = {
  promote: 'PROMOTE',
  pause: 'PAUSE',
  resume: 'RESUME',
  abort: 'ABORT',
};

/** Authorizes and queues one command; the history records it with `by = slack:<user id>`. */
export async function act(
  deps: CommandDeps,
  user: string,
  id: string,
  action: SlackAction,
  reason?: string,
): Promise<ActResult> {
  let view;
  try {
    view = (await deps.service.get(id)).migration;
  } catch (err) {
    if (err instanceof NotFoundError)
      return {
        ok: false,
        text: `:grey_question: No migration with id \`${id}\`. \`/meshshift list\` shows the recent ones.`,
      };
    throw err;
  }
  const decision = await deps.authorizer.decide(user, view.namespace, action);
  if (!decision.ok) {
    deps.logger.warn(
      { migration: id, user, action, namespace: view.namespace },
      'slack command refused: not authorized',
    );
    return { ok: false, text: decision.message };
  }
  try {
    const r = await deps.service.command(id, TYPE[action], `slack:${user}`, reason);
    deps.logger.info({ migration: id, user, action, via: decision.via }, 'slack command queued');
    return {
      ok: true,
      phase: r.phase,
      text: `:white_check_mark: ${action} queued for \`${id}\` (was ${phaseLabel(r.phase)} at ${view.weight} %).`,
    };
  } catch (err) {
    if (err instanceof CommandRefusedError)
      return {
        ok: false,
        text: `:warning: \`${id}\` is ${phaseLabel(err.phase)}: ${err.message}.`,
      };
    if (err instanceof NotFoundError)
      return {
        ok: false,
        text: `:grey_question: No migration with id \`${id}\`. \`/meshshift list\` shows the recent ones.`,
      };
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
        const { migration, lastVerdicts } = await deps.service.get(c.id);
        return statusMessage(migration, lastVerdicts);
      } catch (err) {
        if (err instanceof NotFoundError)
          return `:grey_question: No migration with id \`${c.id}\`. \`/meshshift list\` shows the recent ones.`;
        throw err;
      }
    case 'act':
      return (await act(deps, user, c.id, c.action, c.reason)).text;
  }
}
