/**
 * API client commands: meshshift submit|list|status|promote|pause|resume|abort --server URL.
 * The token comes from --token-file or $MESHSHIFT_TOKEN (never from a flag, so it stays out of shell history).
 */
import type { MigrationView } from '../engine/view.js';
import type { HistoryEntry } from '../engine/history.js';
import { COMMAND_WORDS, isTerminalPhase, type CommandWord } from '../engine/vocabulary.js';
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatFieldError, type FieldError } from '../plan/errors.js';
import { bar, bold, dim, green, red, yellow } from '../term/style.js';
import { planOfText } from './submit-plan.js';

export interface ClientOptions {
  server: string;
  tokenFile?: string;
  output?: 'text' | 'json';
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** A history entry as the API answers it (the service parsed it into the engine's union). */
type HistoryItem = HistoryEntry;

/** What the API answers for a migration: the engine's one view. */
type MigrationJson = MigrationView;

function token(o: ClientOptions): string | undefined {
  if (o.tokenFile) {
    const t = readFileSync(o.tokenFile, 'utf8').trim().split(/\r?\n/)[0]?.trim();
    if (!t) throw new Error(`${o.tokenFile} is empty: put the API token on its first line`);
    return t.includes(':') && !t.startsWith('Bearer') ? t.slice(t.indexOf(':') + 1) : t;
  }
  return process.env.MESHSHIFT_TOKEN || undefined;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Attempts of a POST that got no answer or a 503 (Redis unreachable): the same Idempotency-Key each time. */
export const POST_ATTEMPTS = 4;
const RETRY_BASE_MS = 500;

async function send(base: string, path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(`${base}${path}`, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new Error(`cannot reach ${base}: ${cause ?? (err as Error).message} (check --server)`);
  }
}

/**
 * One API call. A POST (submission or command) carries an Idempotency-Key and is retried with the same key when
 * the server could not be reached or answered 503 (the service fails fast while Redis is away), so a retry can
 * never submit twice or queue a second ABORT; other answers are final.
 */
export async function api<T>(
  o: ClientOptions,
  method: 'GET' | 'POST',
  path: string,
  body?: { text: string; type: string; source?: string },
  retry: { attempts?: number; baseMs?: number } = {},
): Promise<T> {
  const base = o.server.replace(/\/+$/, '');
  const t = token(o);
  const init: RequestInit = {
    method,
    headers: {
      ...(t ? { authorization: `Bearer ${t}` } : {}),
      ...(body ? { 'content-type': body.type } : {}),
      ...(method === 'POST' ? { 'idempotency-key': randomUUID() } : {}),
    },
    ...(body ? { body: body.text } : {}),
  };
  const attempts = method === 'POST' ? (retry.attempts ?? POST_ATTEMPTS) : 1;
  let res: Response | undefined;
  for (let i = 1; ; i++) {
    try {
      res = await send(base, path, init);
      if (res.status !== 503 || i >= attempts) break;
    } catch (err) {
      if (i >= attempts) throw err;
    }
    await sleep((retry.baseMs ?? RETRY_BASE_MS) * 2 ** (i - 1));
  }
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  if (!res.ok) {
    const b = json as { error?: string; message?: string; errors?: FieldError[] } | undefined;
    const details = b?.errors
      ?.map((e) => `  ${formatFieldError(body?.source ?? 'request body', e)}`)
      .join('\n');
    const hint = res.status === 401 ? ' (set MESHSHIFT_TOKEN or pass --token-file)' : '';
    // With field errors, the message repeats them: show each once.
    const headline = details ? (b?.error ?? res.statusText) : (b?.message ?? res.statusText);
    throw new ApiError(`${res.status} ${headline}${hint}${details ? `\n${details}` : ''}`, res.status, json);
  }
  return json as T;
}

function phaseText(m: MigrationJson): string {
  const p =
    m.phase === 'completed'
      ? green(m.phase)
      : isTerminalPhase(m.phase) // finished any other way: rolled back, aborted, failed
        ? red(m.phase)
        : ['paused', 'awaitingApproval', 'pending'].includes(m.phase)
          ? yellow(m.phase)
          : bold(m.phase);
  return `${p} ${bar(m.weight)} ${String(m.weight).padStart(3)} % target${m.reason ? dim(` — ${m.reason}`) : ''}`;
}

export function renderHistory(h: HistoryItem): string {
  const t = dim(new Date(h.at).toISOString().slice(11, 19));
  switch (h.type) {
    case 'submitted':
      return `${t} submitted by ${h.by}: steps ${h.steps.join(' → ')} %`;
    case 'weight':
      return h.rollback
        ? `${t} ${red('⟲ rolled back')} to 0 % target`
        : h.reason
          ? `${t} ${yellow('↩ stepped back')} to ${h.weight} % target: ${h.reason}`
          : `${t} ${bold('→')} ${bar(h.weight)} ${String(h.weight).padStart(3)} % target${h.wrote ? '' : dim(' (already set)')}`;
    case 'verdict':
      return `${t}   ${h.outcome === 'pass' ? green('✓ pass') : h.outcome === 'fail' ? red('✗ FAIL') : yellow('? inconclusive')} at ${h.weight} %: ${h.summary}`;
    case 'phase':
      return `${t} ${String(h.from)} → ${bold(h.phase)}${h.reason ? `: ${h.reason}` : ''}`;
    case 'command':
      return `${t} command ${h.command} by ${String(h.by)}: ${h.accepted ? 'accepted' : red(`refused — ${h.refused ?? h.reason ?? ''}`)}`;
    case 'takeover':
      return `${t} ${yellow('worker takeover')}: ${h.text}`;
    case 'waiting':
      return `${t} ${yellow('waiting')}: ${h.reason}`;
    case 'preflight':
      return `${t} preflight ${h.ok ? green('passed') : red('FAILED')}${h.initialWeight > 0 ? yellow(` — ${h.initialWeight} % already on the target (inherited): judged before it grows`) : ''}`;
    case 'rollbackRetry':
      return `${t} ${red(`ROLLBACK WRITE FAILED (attempt ${h.attempt})`)}: ${h.error} — retrying`;
    case 'writeRetry':
      return `${t} ${yellow(`write of ${h.weight} % failed (attempt ${h.attempt})`)}: ${h.error} — holding at ${h.held} %, retrying`;
    case 'schedule':
      return `${t} schedule: ${h.text}`;
    case 'unreadable':
      return `${t} unreadable: ${h.error}`;
    default:
      return `${t} ${h.type}`;
  }
}

/** Prints a migration's history and follows it until it finishes. Returns the exit code (0 completed, 2 rolled back). */
export async function follow(o: ClientOptions, id: string, io: Io, pollMs = 1000): Promise<number> {
  let after: string | undefined;
  for (;;) {
    const { items, next } = await api<{ items: HistoryItem[]; next?: string }>(
      o,
      'GET',
      `/v1/migrations/${encodeURIComponent(id)}/history${after ? `?after=${encodeURIComponent(after)}` : ''}`,
    );
    for (const h of items) io.out(o.output === 'json' ? JSON.stringify(h) : renderHistory(h));
    if (items.length) after = items.at(-1)!.id;
    if (next) continue; // a full page: read on before looking at the phase
    const { migration } = await api<{ migration: MigrationJson }>(
      o,
      'GET',
      `/v1/migrations/${encodeURIComponent(id)}`,
    );
    if (isTerminalPhase(migration.phase)) {
      if (o.output !== 'json') io.out(`${migration.id}: ${phaseText(migration)}`);
      return migration.phase === 'completed' ? 0 : migration.phase === 'failed' ? 1 : 2;
    }
    await sleep(pollMs);
  }
}

/** What every client command shares: its output, the server options, and the exit code its action sets. */
interface ClientKit {
  io: Io;
  withServer: (c: Command) => Command;
  run: <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;
}

function clientKit(setCode: (code: number) => void): ClientKit {
  const io: Io = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) };
  const withServer = (c: Command) =>
    c
      .requiredOption(
        '--server <url>',
        'meshshift API base URL [MESHSHIFT_SERVER]',
        process.env.MESHSHIFT_SERVER,
      )
      .option('--token-file <file>', 'file with the API token (default: $MESHSHIFT_TOKEN)')
      .option('--output <format>', 'text or json', process.stdout.isTTY ? 'text' : 'json');
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      try {
        setCode(await fn(...args));
      } catch (err) {
        io.err(`error: ${(err as Error).message}`);
        setCode(1);
      }
    };
  return { io, withServer, run };
}

export function registerClientCommands(program: Command, setCode: (code: number) => void): void {
  const kit = clientKit(setCode);
  registerSubmit(program, kit);
  registerList(program, kit);
  registerStatus(program, kit);
  registerCommandWords(program, kit);
}

function registerSubmit(program: Command, { io, withServer, run }: ClientKit): void {
  withServer(
    program
      .command('submit')
      .description('submit a MigrationPlan to the service')
      .argument('<plan>', 'YAML or JSON file'),
  )
    .option('-w, --watch', 'follow the migration until it finishes')
    .action(
      run(async (file: string, o: ClientOptions & { watch?: boolean }) => {
        const text = readFileSync(file, 'utf8');
        const local = planOfText(text, file);
        if (local.refusal) {
          io.err(local.refusal);
          return 1;
        }
        if (local.note) io.err(local.note);
        const m = await api<MigrationJson>(o, 'POST', '/v1/migrations', {
          text,
          source: file,
          type: /\.json$/i.test(file) ? 'application/json' : 'application/yaml',
        });
        io.out(
          o.output === 'json'
            ? JSON.stringify(m)
            : `submitted ${bold(m.id)} (${m.namespace}): ${phaseText(m)}`,
        );
        return o.watch ? follow(o, m.id, io) : 0;
      }),
    );
}

function registerList(program: Command, { io, withServer, run }: ClientKit): void {
  withServer(program.command('list').description('list migrations, newest first'))
    .option('--limit <n>', 'how many', '50')
    .action(
      run(async (o: ClientOptions & { limit: string }) => {
        const { items } = await api<{ items: MigrationJson[] }>(
          o,
          'GET',
          `/v1/migrations?limit=${Number(o.limit)}`,
        );
        if (o.output === 'json') io.out(JSON.stringify(items));
        else if (!items.length) io.out('no migrations');
        else for (const m of items) io.out(`${m.id.padEnd(40)} ${m.namespace.padEnd(16)} ${phaseText(m)}`);
        return 0;
      }),
    );
}

function registerStatus(program: Command, { io, withServer, run }: ClientKit): void {
  withServer(
    program
      .command('status')
      .description('show a migration (state, weight, last verdicts); -w follows it live')
      .argument('<id>'),
  )
    .option('-w, --watch', 'follow live until it finishes; exit 0 completed, 2 rolled back/aborted, 1 failed')
    .action(
      run(async (id: string, o: ClientOptions & { watch?: boolean }) => {
        if (o.watch) return follow(o, id, io);
        const r = await api<{ migration: MigrationJson; lastVerdicts: HistoryItem[] }>(
          o,
          'GET',
          `/v1/migrations/${encodeURIComponent(id)}`,
        );
        if (o.output === 'json') io.out(JSON.stringify(r));
        else {
          const m = r.migration;
          io.out(`${bold(m.id)} (${m.namespace}) created by ${m.createdBy}`);
          io.out(`  ${phaseText(m)}`);
          io.out(
            `  steps ${m.steps.join(' → ')} %${m.nextWakeAt ? dim(`; next action ${m.nextWakeAt}`) : ''}`,
          );
          for (const v of r.lastVerdicts) io.out(`  ${renderHistory(v)}`);
        }
        return 0;
      }),
    );
}

/** promote / pause / resume / abort: one command each, queued through the API. */
function registerCommandWords(program: Command, { io, withServer, run }: ClientKit): void {
  const help: Record<CommandWord, string> = {
    promote: 'approve the next step',
    pause: 'hold the current weight (still guarded)',
    resume: 'continue a paused migration',
    abort: 'roll back to 100 % VM',
  };
  for (const verb of COMMAND_WORDS) {
    const what = help[verb];
    withServer(program.command(verb).description(what).argument('<id>'))
      .option('--reason <text>', 'recorded in the history')
      .action(
        run(async (id: string, o: ClientOptions & { reason?: string }) => {
          const r = await api<{ queued: boolean; phase: string }>(
            o,
            'POST',
            `/v1/migrations/${encodeURIComponent(id)}/${verb}`,
            { text: JSON.stringify(o.reason ? { reason: o.reason } : {}), type: 'application/json' },
          );
          io.out(o.output === 'json' ? JSON.stringify(r) : `${verb} queued for ${id} (was ${r.phase})`);
          return 0;
        }),
      );
  }
}
