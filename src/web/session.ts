/**
 * Dashboard sessions: a login exchanges an API token (sent once, in a POST body) for a random session id kept in
 * an HttpOnly, SameSite=Strict cookie scoped to /ui. The token itself is never stored, echoed or logged. Each
 * session carries a CSRF token the page sends back in a header on every state-changing request.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'meshshift_session';

export interface Session {
  id: string;
  /** The principal's name (grants are re-read from the tokens file on every request). */
  user: string;
  csrf: string;
  expiresAt: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly ttlMs = 8 * 3600_000,
    private readonly max = 10_000,
  ) {}

  create(user: string, now = Date.now()): Session {
    this.sweep(now);
    if (this.sessions.size >= this.max) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    const s: Session = {
      id: randomBytes(32).toString('base64url'),
      user,
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: now + this.ttlMs,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string | undefined, now = Date.now()): Session | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= now) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  size(): number {
    return this.sessions.size;
  }

  private sweep(now: number): void {
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }
}

/** The value of one cookie from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function sessionCookie(id: string, opts: { maxAgeS: number; secure: boolean }): string {
  return [
    `${SESSION_COOKIE}=${id}`,
    'Path=/ui',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${opts.maxAgeS}`,
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

export function sameSecret(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
