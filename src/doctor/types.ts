/** What every doctor check returns, and the connection settings the checks share. */
export interface CheckResult {
  /** Stable identifier, e.g. `kube.cluster`, `prometheus.istio-metrics`. */
  id: string;
  ok: boolean;
  message: string;
  /** What to do about it (set when `ok` is false). */
  fix?: string;
  /** Not configured, so not checked (counts as ok). */
  skipped?: boolean;
}

export interface DoctorOptions {
  kubeconfig?: string;
  context?: string;
  /** Ask about permissions in this namespace (a RoleBinding) instead of cluster-wide. */
  namespace?: string;
  prometheus?: string;
  redis?: string;
  slackToken?: string;
  /** Slack Web API base URL, default https://slack.com/api/ (tests point it at a fake). */
  slackApiUrl?: string;
  /** Deadline of each network call, ms. */
  timeoutMs: number;
}

export const DEFAULT_DOCTOR_TIMEOUT_MS = 5_000;

export const errorText = (err: unknown): string => {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code && !err.message.includes(cause.code) ? `${err.message} (${cause.code})` : err.message;
  }
  const o = err as { message?: string } | undefined;
  return o?.message ?? String(err);
};
