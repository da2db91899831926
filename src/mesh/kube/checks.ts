/** Building a preflight report: one check per line, with the fix shown only where a check failed. */
import type { PreflightCheck } from '../types.js';
import { isNotFound, isRetryable } from './errors.js';

export class CheckList {
  readonly checks: PreflightCheck[] = [];

  /** An abort of `signal` is not a failed check: it propagates out of `failed` / `failedRead`. */
  constructor(private readonly signal?: AbortSignal) {}

  add(id: string, ok: boolean, message: string, fix?: string): void {
    this.checks.push({ id, ok, message, ...(fix && !ok ? { fix } : {}) });
  }

  /** A check that could not run: the error's message, and its own fix when it carries one. */
  failed(id: string, err: unknown, fix?: string): void {
    this.signal?.throwIfAborted();
    this.add(id, false, (err as Error).message, fix ?? (err as { fix?: string }).fix);
    if (isRetryable(err)) this.checks[this.checks.length - 1]!.transient = true;
  }

  /** A failed read of `what`: "<what> not found" with its fix; anything else reports the API's error. */
  failedRead(id: string, err: unknown, what: string, notFoundFix: string): void {
    if (isNotFound(err)) this.add(id, false, `${what} not found`, notFoundFix);
    else this.failed(id, err);
  }

  get ok(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.ok);
  }
}
