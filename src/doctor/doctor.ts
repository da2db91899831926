/** Runs every check (Kubernetes, Prometheus, Redis, Slack side by side) and returns their results in a stable order. */
import { readFileSync } from 'node:fs';
import { checkIstioApis } from './istio-apis.js';
import { checkCluster, loadKube } from './kube-cluster.js';
import { checkIstioMetrics, checkPrometheus } from './prometheus.js';
import { checkRbac } from './rbac.js';
import { checkRedis } from './redis.js';
import { checkSlack } from './slack.js';
import type { CheckResult, DoctorOptions } from './types.js';

const skipped = (id: string, message: string): CheckResult => ({ id, ok: true, skipped: true, message });

async function kubeChecks(o: DoctorOptions): Promise<CheckResult[]> {
  const t = loadKube(o);
  if ('id' in t) return [t];
  const cluster = await checkCluster(t);
  if (!cluster.ok) return [cluster];
  const [apis, rbac] = await Promise.all([checkIstioApis(t), checkRbac(t, o.namespace)]);
  return [cluster, ...apis, rbac];
}

async function prometheusChecks(o: DoctorOptions): Promise<CheckResult[]> {
  if (!o.prometheus)
    return [
      {
        id: 'prometheus',
        ok: false,
        message: 'no Prometheus URL given',
        fix: 'pass --prometheus <url> or set MESHSHIFT_PROMETHEUS_URL: every step is judged on its Istio metrics',
      },
    ];
  const up = await checkPrometheus(o.prometheus, o.timeoutMs);
  return up.ok ? [up, ...(await checkIstioMetrics(o.prometheus, o.timeoutMs))] : [up];
}

export async function runDoctor(o: DoctorOptions): Promise<CheckResult[]> {
  const groups = await Promise.all([
    kubeChecks(o),
    prometheusChecks(o),
    o.redis
      ? checkRedis(o.redis, o.timeoutMs)
      : [skipped('redis', 'not configured (only `meshshift serve` needs Redis): pass --redis to check it')],
    o.slackToken
      ? checkSlack(o.slackToken, o.timeoutMs, o.slackApiUrl).then((r) => [r])
      : [skipped('slack', 'not configured (no --slack-token, SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_FILE)')],
  ]);
  return groups.flat();
}

/** The Slack token from the option, else SLACK_BOT_TOKEN, else the file SLACK_BOT_TOKEN_FILE names. */
export function slackTokenFrom(option: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (option) return option;
  if (env.SLACK_BOT_TOKEN) return env.SLACK_BOT_TOKEN;
  if (env.SLACK_BOT_TOKEN_FILE) return readFileSync(env.SLACK_BOT_TOKEN_FILE, 'utf8').trim();
  return undefined;
}
