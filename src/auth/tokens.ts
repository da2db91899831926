/**
 * Bearer tokens from a file (a mounted Kubernetes Secret, typically). One token per line, optionally named:
 *   alice:3f9c…      (the name is recorded in the history as who sent a command)
 *   7d01…            (named token-<line>)
 *   carol:9a7e… viewer=*  operator=payments,team-*   (grants: the one access model, access.ts)
 * `slack=U012ABCDEF,U034…` gives the same grants to those Slack members (one model, one config for API, web, Slack).
 * A line without grants is an operator in every namespace (as every token was before roles existed).
 * Blank lines and lines starting with # are ignored. The file is re-read when it changes (secret rotation).
 * Tokens are compared in constant time and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { DEFAULT_GRANTS, parseGrants, type Grant, type Principal, type SlackPrincipals } from './access.js';

export interface TokenStore extends SlackPrincipals {
  /** The caller's name for a valid token, or undefined. */
  verify(token: string): string | undefined;
  /** The caller (name and grants) for a valid token, or undefined. */
  identify(token: string): Principal | undefined;
  /** The current grants of a named caller (sessions re-read them, so a removed token ends its sessions). */
  principal(name: string): Principal | undefined;
  count(): number;
}

interface TokenLine {
  name: string;
  hash: Buffer;
  grants: Grant[];
  slack: string[];
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function parseTokens(text: string, source: string): TokenLine[] {
  const out: TokenLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const [line = '', ...words] = raw.trim().split(/\s+/);
    if (!line || line.startsWith('#')) return;
    const slackWords = words.filter((w) => w.startsWith('slack='));
    const slack = slackWords.flatMap((w) => w.slice('slack='.length).split(',').filter(Boolean));
    const bad = slack.find((id) => !/^[UW][A-Z0-9]{2,}$/.test(id));
    if (bad) throw new Error(`${source}:${i + 1}: "${bad}" is not a Slack member id (like U012ABCDEF)`);
    const grantWords = words.filter((w) => !w.startsWith('slack='));
    const grants = grantWords.length ? parseGrants(grantWords) : [...DEFAULT_GRANTS];
    if (typeof grants === 'string') throw new Error(`${source}:${i + 1}: ${grants}`);
    const m = /^([A-Za-z0-9._@-]+):(\S+)$/.exec(line);
    const name = m ? m[1]! : `token-${i + 1}`;
    const token = m ? m[2]! : line;
    if (token.length < 16)
      throw new Error(
        `${source}:${i + 1}: token for ${name} is too short (use at least 16 random characters)`,
      );
    out.push({ name, hash: digest(token), grants, slack });
  });
  return out;
}

export class FileTokenStore implements TokenStore {
  private tokens: TokenLine[] = [];
  private mtime = -1;
  private checkedAt = 0;

  constructor(
    private readonly file: string,
    private readonly recheckMs = 5000,
  ) {
    this.reload(true);
    if (this.tokens.length === 0)
      throw new Error(`${file} has no tokens: add one line per client, e.g. "ci:$(openssl rand -hex 24)"`);
  }

  private reload(force = false) {
    const now = Date.now();
    if (!force && now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    let st;
    try {
      st = statSync(this.file);
    } catch (err) {
      if (force)
        throw new Error(
          `cannot read the API token file ${this.file}: ${(err as NodeJS.ErrnoException).code}`,
        );
      return; // keep the last good tokens while a secret is being swapped
    }
    if (!force && st.mtimeMs === this.mtime) return;
    this.mtime = st.mtimeMs;
    this.tokens = parseTokens(readFileSync(this.file, 'utf8'), this.file);
  }

  verify(token: string): string | undefined {
    return this.identify(token)?.name;
  }

  identify(token: string): Principal | undefined {
    this.reload();
    const h = digest(token);
    let hit: TokenLine | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.hash, h) && hit === undefined) hit = t;
    return hit ? { name: hit.name, grants: hit.grants, slack: hit.slack } : undefined;
  }

  bySlackUser(id: string): Principal | undefined {
    this.reload();
    const hit = this.tokens.find((t) => t.slack.includes(id));
    return hit ? { name: hit.name, grants: hit.grants, slack: hit.slack } : undefined;
  }

  principal(name: string): Principal | undefined {
    this.reload();
    const hit = this.tokens.find((t) => t.name === name);
    return hit ? { name: hit.name, grants: hit.grants } : undefined;
  }

  count(): number {
    return this.tokens.length;
  }
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1] : undefined;
}
