/**
 * Slack request signing (v0): `X-Slack-Signature: v0=<hex HMAC-SHA256(signingSecret, "v0:" + timestamp + ":" + rawBody)>`
 * with `X-Slack-Request-Timestamp` in epoch seconds. Verified on the raw bytes, before anything is parsed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's own limit: a request whose timestamp is further than this from now is refused (replay protection). */
export const MAX_SKEW_SECONDS = 5 * 60;

export type VerifyResult = { ok: true; signature: string; timestamp: number } | { ok: false; reason: string };

export function signSlackRequest(
  secret: string,
  timestamp: number | string,
  rawBody: string | Buffer,
): string {
  const mac = createHmac('sha256', secret);
  mac.update(`v0:${timestamp}:`);
  mac.update(rawBody);
  return `v0=${mac.digest('hex')}`;
}

export function verifySlackSignature(args: {
  secret: string;
  rawBody: Buffer;
  signature: string | undefined;
  timestamp: string | undefined;
  nowMs?: number;
}): VerifyResult {
  const { signature, timestamp } = args;
  if (!signature || !timestamp)
    return { ok: false, reason: 'missing X-Slack-Signature or X-Slack-Request-Timestamp' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed X-Slack-Request-Timestamp' };
  const ts = Number(timestamp);
  const now = Math.floor((args.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - ts) > MAX_SKEW_SECONDS)
    return {
      ok: false,
      reason: `stale request: timestamp is ${now - ts} s from now (limit ${MAX_SKEW_SECONDS} s)`,
    };
  if (!/^v0=[0-9a-f]{64}$/.test(signature)) return { ok: false, reason: 'malformed X-Slack-Signature' };
  const expected = Buffer.from(signSlackRequest(args.secret, timestamp, args.rawBody));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, reason: 'signature mismatch' };
  return { ok: true, signature, timestamp: ts };
}
