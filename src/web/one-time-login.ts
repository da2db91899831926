/**
 * One-time dashboard logins (the playground prints one): a random code that signs one browser in as a named user
 * of the tokens file, once, within its lifetime. The code is not a token: it cannot call the API, it is gone after
 * its first use, and the page it lands on is served with `Referrer-Policy: no-referrer`.
 */
import { randomBytes } from 'node:crypto';
import { sameSecret } from './session.js';

interface Pending {
  user: string;
  expiresAt: number;
}

export class OneTimeLogins {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly ttlMs = 15 * 60_000) {}

  /** A new code for `user` (a name in the tokens file). */
  issue(user: string, now = Date.now()): string {
    const code = randomBytes(24).toString('base64url');
    this.pending.set(code, { user, expiresAt: now + this.ttlMs });
    return code;
  }

  /** The user the code signs in, once; undefined for an unknown, used or expired code. */
  redeem(code: string, now = Date.now()): string | undefined {
    for (const [k, p] of this.pending) {
      if (p.expiresAt <= now) this.pending.delete(k);
      else if (sameSecret(code, k)) {
        this.pending.delete(k);
        return p.user;
      }
    }
    return undefined;
  }
}
