/** Are the Slack credentials valid? `auth.test` with the bot token. */
import { LogLevel, WebClient } from '@slack/web-api';
import { errorText, type CheckResult } from './types.js';

export async function checkSlack(token: string, timeoutMs: number, apiUrl?: string): Promise<CheckResult> {
  const id = 'slack';
  const client = new WebClient(token, {
    timeout: timeoutMs,
    retryConfig: { retries: 0 },
    // The result line reports the failure; the client's own warning would only repeat it on stderr.
    logLevel: LogLevel.ERROR,
    rejectRateLimitedCalls: true,
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
  });
  try {
    const r = await client.auth.test();
    return {
      id,
      ok: true,
      message: `auth.test: token of ${r.user ?? r.user_id ?? '?'} in workspace ${r.team ?? r.team_id ?? '?'}`,
    };
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error;
    const fix =
      code === 'invalid_auth' ||
      code === 'not_authed' ||
      code === 'token_revoked' ||
      code === 'account_inactive'
        ? 'the bot token is wrong or revoked: copy the Bot User OAuth Token (xoxb-…) of the installed app into SLACK_BOT_TOKEN'
        : 'check slack.com (or --slack-api-url) is reachable from here';
    return { id, ok: false, message: `auth.test failed: ${code ?? errorText(err)}`, fix };
  }
}
