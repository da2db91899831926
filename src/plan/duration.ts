/**
 * Durations in plans and policies are written the way Kubernetes and Prometheus users write them:
 * "500ms", "30s", "1m", "1m30s", "2h". We keep them as milliseconds internally.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m || text.trim() === '') return undefined;
  const [, h, min, s, ms] = m;
  return (
    Number(h ?? 0) * UNIT_MS.h! +
    Number(min ?? 0) * UNIT_MS.m! +
    Number(s ?? 0) * UNIT_MS.s! +
    Number(ms ?? 0)
  );
}

/** Formats milliseconds compactly ("1m30s", "250ms") for messages and PromQL range selectors. */
export function formatDuration(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  if (whole === 0) return '0s';
  if (whole % 1000 !== 0) return `${whole}ms`;
  let rest = whole / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
