/**
 * Who may change a migration from Slack. Reads (`list`, `status`) are open to everyone who can run the slash
 * command; promote / pause / resume / abort need a rule in the policy file (default: deny).
 *
 * Format (YAML, see docs/slack.md):
 *
 *   rules:
 *     - namespaces: [payments, "team-*"]   # exact names or globs ("*" matches any run of characters)
 *       actions: [promote, pause, resume, abort]
 *       users: [U012ABCDEF]                # Slack member ids
 *       groups: [S0123456789]              # Slack user group ids (members are read with usergroups.users.list)
 *
 * A request is allowed when one rule lists the migration's namespace, the action, and the user (directly or
 * through one of the groups). The file is re-read when it changes.
 */
import { readFileSync, statSync } from 'node:fs';
import type { WebClient } from '@slack/web-api';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { allows, globMatch, type SlackPrincipals } from '../auth/access.js';
import { COMMAND_WORDS, type CommandWord } from '../engine/vocabulary.js';

/** What a Slack user may be allowed to do: the command words (engine/vocabulary.ts). */
export const SLACK_ACTIONS = COMMAND_WORDS;
export type SlackAction = CommandWord;

const slackId = (what: string, prefix: RegExp) =>
  z.string().regex(prefix, {
    error: `${what} must be a Slack id such as ${what === 'user' ? 'U012ABCDEF' : 'S0123456789'}`,
  });

const ruleSchema = z.strictObject({
  namespaces: z.array(z.string().min(1)).min(1, { error: 'list at least one namespace (or "*")' }),
  actions: z
    .array(
      z.enum([...SLACK_ACTIONS, '*'], {
        error: 'actions are promote, pause, resume, abort or *',
      }),
    )
    .min(1),
  users: z.array(slackId('user', /^[UW][A-Z0-9]{2,}$/)).default([]),
  groups: z.array(slackId('group', /^S[A-Z0-9]{2,}$/)).default([]),
});

export const slackPolicySchema = z.strictObject({
  rules: z.array(ruleSchema).default([]),
});
export type SlackPolicy = z.infer<typeof slackPolicySchema>;

export function parseSlackPolicy(text: string, source = 'Slack authorization policy'): SlackPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new Error(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const r = slackPolicySchema.safeParse(doc);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${source} is invalid:\n${lines.join('\n')}`);
  }
  return r.data;
}

const glob = globMatch;

export type Decision = { ok: true; via: string } | { ok: false; message: string };

export interface SlackAuthorizerOptions {
  /** The policy itself, or a file to read it from (re-read when its mtime changes). */
  policy?: SlackPolicy;
  file?: string;
  /** Resolves user group members (usergroups.users.list); cached for `groupCacheMs`. */
  client?: WebClient;
  groupCacheMs?: number;
  /** The tokens file's principals: a Slack member listed there (`slack=U…`) has its operator grants here too. */
  principals?: SlackPrincipals;
}

export class SlackAuthorizer {
  private policy: SlackPolicy;
  private mtimeMs = 0;
  private readonly groups = new Map<string, { at: number; users: Set<string> }>();

  constructor(private readonly o: SlackAuthorizerOptions) {
    this.policy = o.policy ?? { rules: [] };
    if (o.file) this.reload(true);
  }

  private reload(force = false): void {
    const file = this.o.file;
    if (!file) return;
    const mtime = statSync(file).mtimeMs;
    if (!force && mtime === this.mtimeMs) return;
    this.policy = parseSlackPolicy(readFileSync(file, 'utf8'), file);
    this.mtimeMs = mtime;
  }

  private async members(group: string): Promise<Set<string>> {
    const hit = this.groups.get(group);
    const ttl = this.o.groupCacheMs ?? 60_000;
    if (hit && Date.now() - hit.at < ttl) return hit.users;
    if (!this.o.client) return new Set();
    const res = await this.o.client.usergroups.users.list({ usergroup: group });
    const users = new Set(res.users ?? []);
    this.groups.set(group, { at: Date.now(), users });
    return users;
  }

  /** May `user` run `action` on a migration in `namespace`? */
  async decide(user: string, namespace: string, action: SlackAction): Promise<Decision> {
    try {
      this.reload();
    } catch (err) {
      // Keep the last good policy; a broken edit must not open or close everything silently.
      void err;
    }
    const p = this.o.principals?.bySlackUser(user);
    if (p && allows(p, namespace, 'operate')) return { ok: true, via: `tokens file (${p.name})` };
    const rules = this.policy.rules.filter(
      (r) =>
        r.namespaces.some((n) => glob(n, namespace)) &&
        (r.actions.includes('*') || r.actions.includes(action)),
    );
    for (const r of rules) if (r.users.includes(user)) return { ok: true, via: `user ${user}` };
    const lookupErrors: string[] = [];
    for (const r of rules) {
      for (const g of r.groups) {
        try {
          if ((await this.members(g)).has(user)) return { ok: true, via: `group ${g}` };
        } catch (err) {
          lookupErrors.push(`${g}: ${(err as Error).message}`);
        }
      }
    }
    const who = [
      ...new Set(
        rules.flatMap((r) => [...r.users.map((u) => `<@${u}>`), ...r.groups.map((g) => `<!subteam^${g}>`)]),
      ),
    ];
    return {
      ok: false,
      message:
        `:no_entry: You are not allowed to ${action} migrations in namespace \`${namespace}\`. Nothing was changed.` +
        (who.length
          ? ` Allowed: ${who.join(', ')}.`
          : ' No one is allowed to do this from Slack (see the Slack authorization policy).') +
        (lookupErrors.length ? ` (Could not check user groups: ${lookupErrors.join('; ')}.)` : ''),
    };
  }
}
