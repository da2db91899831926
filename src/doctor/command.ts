/** `meshshift doctor`: checks the environment (cluster, RBAC, Prometheus, Redis, Slack); exit 1 on any ✗. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_DOCTOR_TIMEOUT_MS, type DoctorOptions } from './types.js';

/** What commander parses: the doctor's options, the deadline as `--timeout`, and the output format. */
type DoctorFlags = Omit<DoctorOptions, 'timeoutMs'> & { timeout: number; output: 'text' | 'json' };

function milliseconds(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected milliseconds, e.g. 5000');
  return n;
}

export function registerDoctorCommand(program: Command, setCode: (code: number) => void): void {
  const env = process.env;
  program
    .command('doctor')
    .description(
      'check the environment meshshift needs (cluster, Istio APIs, RBAC, Prometheus, Redis, Slack); exit 1 on any ✗',
    )
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option(
      '--namespace <ns>',
      'check the permissions in this namespace (a RoleBinding) instead of cluster-wide',
    )
    .option(
      '--prometheus <url>',
      'Prometheus base URL [MESHSHIFT_PROMETHEUS_URL]',
      env.MESHSHIFT_PROMETHEUS_URL,
    )
    .option(
      '--redis <url>',
      'Redis URL, for `meshshift serve` [MESHSHIFT_REDIS_URL]',
      env.MESHSHIFT_REDIS_URL,
    )
    .option('--slack-token <token>', 'Slack bot token [SLACK_BOT_TOKEN, SLACK_BOT_TOKEN_FILE]')
    .option('--slack-api-url <url>', 'Slack Web API base URL [SLACK_API_URL]', env.SLACK_API_URL)
    .addOption(
      new Option('--timeout <ms>', 'deadline of each network call')
        .argParser(milliseconds)
        .default(DEFAULT_DOCTOR_TIMEOUT_MS),
    )
    .addOption(new Option('--output <format>').choices(['text', 'json']).default('text'))
    .action(async (o: DoctorFlags) => {
      // Loaded on demand: the Redis and Slack clients are only needed here.
      const { runDoctor, slackTokenFrom } = await import('./doctor.js');
      const { renderJson, renderText } = await import('./render.js');
      let slackToken: string | undefined;
      try {
        slackToken = slackTokenFrom(o.slackToken, env);
      } catch (err) {
        process.stderr.write(`cannot read SLACK_BOT_TOKEN_FILE: ${(err as Error).message}\n`);
        setCode(1);
        return;
      }
      const results = await runDoctor({
        ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
        ...(o.context ? { context: o.context } : {}),
        ...(o.namespace ? { namespace: o.namespace } : {}),
        ...(o.prometheus ? { prometheus: o.prometheus } : {}),
        ...(o.redis ? { redis: o.redis } : {}),
        ...(slackToken ? { slackToken } : {}),
        ...(o.slackApiUrl ? { slackApiUrl: o.slackApiUrl } : {}),
        timeoutMs: o.timeout,
      });
      process.stdout.write(`${o.output === 'json' ? renderJson(results) : renderText(results)}\n`);
      setCode(results.every((r) => r.ok) ? 0 : 1);
    });
}
