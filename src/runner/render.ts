/**
 * A migration's progress for a terminal (`meshshift run`, `meshshift demo`): one line per engine event, or one JSON
 * line per event. No cursor tricks, so logs stay greppable.
 */
import type { Writable } from 'node:stream';
import type { EngineEvent } from '../engine/history.js';
import { preflightRetry, type PreflightCheck } from '../mesh/types.js';
import { bar, bold, dim, green, red, yellow } from '../term/style.js';

const time = (at: number) => new Date(at).toISOString().slice(11, 19);

/** One line for a preflight that is waited out (nothing found wrong): which dependency, and what happens next. */
export function preflightWaiting(checks: readonly PreflightCheck[]): string {
  const failed = checks.filter((c) => !c.ok);
  const what = failed.map((c) => `${c.id}: ${c.message}`).join('; ');
  return preflightRetry(checks) === 'wait'
    ? `${yellow('preflight waiting')} for ${failed
        .filter((c) => c.transient)
        .map((c) => c.id)
        .join(', ')} to answer (${what}); trying again until it does`
    : `${yellow('preflight waiting')} for evidence (${what}); trying a few more times`;
}

export function renderEvent(e: EngineEvent): string | undefined {
  const t = dim(time(e.at));
  switch (e.type) {
    case 'started':
      return `${t} ${bold(e.resumed ? 'resuming' : 'migration')} ${e.migration} with policy ${e.policy}: steps ${e.steps.join(' → ')} %`;
    case 'preflight':
      if (!e.ok && preflightRetry(e.checks) !== 'stop') return `${t} ${preflightWaiting(e.checks)}`;
      return [
        `${t} preflight ${e.ok ? green('passed') : red('FAILED — no weight was changed')}`,
        ...(e.ok && e.initialWeight > 0
          ? [
              `         ${yellow('!')} the route already sends ${e.initialWeight} % to the target (inherited): it is judged before any step grows it`,
            ]
          : []),
        ...e.checks.map(
          (c) =>
            `         ${c.ok ? green('✓') : red('✗')} ${c.id}: ${c.message}${c.fix ? dim(`\n             fix: ${c.fix}`) : ''}`,
        ),
      ].join('\n');
    case 'weight':
      if (e.rollback)
        return `${t} ${red('⟲ rolled back')}: ${bar(0)} 100 % source / 0 % target${e.wrote ? '' : ' (already there)'}`;
      if (e.reason)
        return `${t} ${yellow('↩ stepped back')}: ${bar(e.weight)} ${String(e.weight).padStart(3)} % target — ${e.reason}`;
      return `${t} ${bold('→')} ${bar(e.weight)} ${String(e.weight).padStart(3)} % target${e.wrote ? '' : dim(' (already set)')}${e.attempts > 1 ? dim(` after ${e.attempts} attempts`) : ''}`;
    case 'verdict': {
      const v = e.verdict;
      const mark =
        v.outcome === 'pass'
          ? green('✓ pass')
          : v.outcome === 'fail'
            ? red('✗ FAIL')
            : yellow('? inconclusive');
      return `${t}   ${mark} at ${v.weight} %: ${v.summary}`;
    }
    case 'phase':
      if (e.phase === 'shifting' || e.phase === 'preflight') return undefined;
      if (e.phase === 'paused') return `${t} ${yellow('⏸ paused')} at ${e.weight} %: ${e.reason ?? ''}`;
      if (e.phase === 'awaitingApproval')
        return `${t} ${yellow('⏸ waiting for approval')} at ${e.weight} % — type "promote" to continue, "abort" to roll back`;
      if (e.phase === 'rollingBack') return `${t} ${red('rolling back')}: ${e.reason ?? ''}`;
      return undefined;
    case 'rollbackRetry':
      return `${t} ${red(`ROLLBACK WRITE FAILED (attempt ${e.attempt})`)}: ${e.error} — traffic is still on the target; retrying at ${time(e.retryAt)}`;
    case 'writeRetry':
      return `${t} ${yellow(`write of ${e.weight} % failed (attempt ${e.attempt})`)}: ${e.error} — holding at ${e.held} %; retrying at ${time(e.retryAt)}`;
    case 'mtls':
      return `${t} ${e.ok ? green('🔒 mTLS') : red('mTLS step failed (traffic migration is complete)')}: ${e.message}`;
    case 'command':
      return `${t} command ${e.command}${e.by ? ` by ${e.by}` : ''}: ${e.accepted ? 'accepted' : red(`refused — ${e.reason}`)}`;
    case 'finished': {
      const what =
        e.phase === 'completed'
          ? green('✔ completed: 100 % of traffic on the target')
          : e.phase === 'failed'
            ? red(`✘ failed: ${e.reason ?? ''}`)
            : red(
                `⟲ ${e.phase === 'aborted' ? 'aborted' : 'rolled back'} — 100 % on the source. Reason: ${e.reason ?? ''}`,
              );
      return `${t} ${what} ${dim(`(${(e.durationMs / 1000).toFixed(1)} s)`)}`;
    }
  }
}

/**
 * Prints runner events as text or JSON lines. In text, a preflight that is waited out says so once: the same
 * failed checks on the next try print nothing more.
 */
export function eventPrinter(output: 'text' | 'json', stdout: Writable): (e: EngineEvent) => void {
  let waitingOn: string | undefined;
  return (e) => {
    if (output === 'json') return void stdout.write(`${JSON.stringify(e)}\n`);
    const waiting =
      e.type === 'preflight' && !e.ok
        ? JSON.stringify(e.checks.filter((c) => !c.ok).map((c) => [c.id, c.message]))
        : undefined;
    if (waiting !== undefined && waiting === waitingOn) return;
    waitingOn = waiting;
    const line = renderEvent(e);
    if (line) stdout.write(`${line}\n`);
  };
}
