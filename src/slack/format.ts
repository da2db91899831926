/** Slack messages for migrations: the parent message, one threaded reply per history entry, status and list. */
import type { types } from '@slack/bolt';
import { routeLabel, type RouteName } from '../engine/route-label.js';
import { describePossible } from '../engine/vocabulary.js';
import type { MigrationView } from '../engine/view.js';
import type { HistoryEntry } from '../store/store.js';

export type Block = types.KnownBlock;
export interface SlackMessage {
  text: string;
  blocks?: Block[];
}

/** action_id prefix of meshshift's buttons; the value is the migration id. */
export const ACTION_PREFIX = 'meshshift:';
export type ButtonCommand = 'promote' | 'resume' | 'abort';

const PHASE: Record<string, string> = {
  pending: ':hourglass_flowing_sand: pending',
  preflight: ':mag: preflight',
  shifting: ':arrows_counterclockwise: shifting',
  awaitingApproval: ':raised_hand: waiting for approval',
  paused: ':double_vertical_bar: paused',
  rollingBack: ':rewind: rolling back',
  securing: ':lock: securing (mTLS)',
  completed: ':white_check_mark: completed',
  rolledBack: ':leftwards_arrow_with_hook: rolled back',
  aborted: ':octagonal_sign: aborted',
  failed: ':x: failed',
};
export const phaseLabel = (p: string): string => PHASE[p] ?? p;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
/** `slack:U123` → a Slack mention; anything else as code. */
export function who(by: unknown): string {
  const s = str(by) ?? 'someone';
  const m = /^slack:([UW][A-Z0-9]+)$/.exec(s);
  return m ? `<@${m[1]}>` : `\`${esc(s)}\``;
}

function bar(weight: number): string {
  const filled = Math.round(weight / 10);
  return `${'█'.repeat(filled)}${'░'.repeat(10 - filled)}`;
}

/** The route a migration shifts, for a message: `HTTPRoute shop/productcatalogservice`. */
const route = (r: RouteName): string => esc(routeLabel(r));

export function parentMessage(m: MigrationView): SlackMessage {
  const head = `*meshshift* · \`${esc(m.id)}\` · ${esc(m.name)} on ${route(m.route)}`;
  const state = `${phaseLabel(m.phase)} · *${m.weight} %* on Kubernetes ${bar(m.weight)}`;
  const lines = [
    head,
    state,
    `steps ${m.steps.join(' → ')} · policy \`${esc(m.policy)}\` · submitted by ${who(m.createdBy)}`,
    ...(m.reason ? [`_${esc(m.reason)}_`] : []),
  ];
  return {
    text: `meshshift ${m.id}: ${m.phase} at ${m.weight} %${m.reason ? ` (${m.reason})` : ''}`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }],
  };
}

function fmtCheckValue(name: string, v: number | undefined): string {
  if (v === undefined) return 'n/a';
  if (/error|rate|success/i.test(name)) return `${(v * 100).toFixed(v < 0.001 && v > 0 ? 3 : 2)} %`;
  if (/^p\d\d/.test(name) || /latency/i.test(name)) return `${v.toFixed(v < 10 ? 1 : 0)} ms`;
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

interface CheckLike {
  name?: unknown;
  outcome?: unknown;
  observed?: unknown;
  threshold?: unknown;
  message?: unknown;
}
interface SideLike {
  requests?: unknown;
  errors?: unknown;
}

const OUTCOME: Record<string, string> = {
  pass: ':large_green_circle: pass',
  fail: ':red_circle: fail',
  inconclusive: ':large_yellow_circle: inconclusive',
  skipped: ':white_circle: skipped',
};

export function verdictText(e: HistoryEntry): string {
  const outcome = str(e.outcome) ?? 'unknown';
  const checks = Array.isArray(e.checks) ? (e.checks as CheckLike[]) : [];
  const lines = [
    `*Verdict* ${OUTCOME[outcome] ?? outcome} at ${num(e.weight) ?? '?'} % — ${esc(str(e.summary) ?? '')}`,
  ];
  for (const c of checks) {
    const name = str(c.name) ?? '?';
    const skipped = str(c.outcome) === 'skipped' && num(c.observed) === undefined;
    const observed = skipped
      ? `skipped${str(c.message) ? ` (${esc(str(c.message)!)})` : ''}`
      : fmtCheckValue(name, num(c.observed));
    const limit = num(c.threshold) !== undefined ? ` (limit ${fmtCheckValue(name, num(c.threshold))})` : '';
    lines.push(
      `• \`${esc(name)}\` ${OUTCOME[str(c.outcome) ?? '']?.split(' ')[0] ?? ''} ${observed}${limit}`,
    );
  }
  const sample = e.sample as { source?: SideLike; target?: SideLike; windowMs?: unknown } | undefined;
  if (sample?.source && sample.target) {
    const side = (s: SideLike) =>
      `${Math.round(num(s.requests) ?? 0)} req / ${Math.round(num(s.errors) ?? 0)} err`;
    const win = num(sample.windowMs);
    lines.push(
      `requests${win ? ` over ${Math.round(win / 1000)} s` : ''}: VMs ${side(sample.source)} · Kubernetes ${side(sample.target)}`,
    );
  }
  return lines.join('\n');
}

export function buttons(id: string, kind: 'approval' | 'paused' | 'hold', prompt: string): SlackMessage {
  const first: ButtonCommand = kind === 'paused' ? 'resume' : 'promote';
  return {
    text: prompt,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: prompt } },
      {
        type: 'actions',
        block_id: `meshshift-actions`,
        elements: [
          {
            type: 'button',
            action_id: `${ACTION_PREFIX}${first}`,
            text: { type: 'plain_text', text: first === 'promote' ? 'Promote' : 'Resume' },
            style: 'primary',
            value: id,
          },
          {
            type: 'button',
            action_id: `${ACTION_PREFIX}abort`,
            text: { type: 'plain_text', text: 'Abort' },
            style: 'danger',
            value: id,
            confirm: {
              title: { type: 'plain_text', text: 'Abort the migration?' },
              text: { type: 'mrkdwn', text: `All traffic of \`${esc(id)}\` goes back to the VMs.` },
              confirm: { type: 'plain_text', text: 'Abort' },
              deny: { type: 'plain_text', text: 'Cancel' },
            },
          },
        ],
      },
    ],
  };
}

/** The buttons message after someone clicked: the buttons are replaced by who did what. */
export function actedMessage(prompt: string, line: string): SlackMessage {
  return {
    text: `${prompt}\n${line}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: prompt } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: line }] },
    ],
  };
}

const PAST: Record<string, string> = {
  PROMOTE: 'promoted',
  PAUSE: 'paused',
  RESUME: 'resumed',
  ABORT: 'aborted',
};

export interface EntryContext {
  id: string;
  /** The route the migration shifts (named in steps, rollbacks and the outcome). */
  route: RouteName;
  /** Weight of the last verdict posted and its outcome (verdicts = "changes" posts only news). */
  lastVerdict?: { weight: number; outcome: string };
  verdicts: 'all' | 'changes';
  /**
   * Buttons already offered and still current. While a migration waits at an approval gate the machine briefly
   * leaves the gate for each guarding analysis (awaitingApproval → shifting → awaitingApproval); those flips
   * are not news. Cleared by an accepted command or a new weight. Mutated by entryMessages.
   */
  shown?: { kind: 'approval' | 'paused'; weight: number };
}

/** Threaded replies for one history entry (often none). */
export function entryMessages(e: HistoryEntry, ctx: EntryContext): SlackMessage[] {
  const reason = str(e.reason);
  switch (e.type) {
    case 'submitted':
      return [];
    case 'preflight': {
      const ok = e.ok === true;
      const checks = Array.isArray(e.checks)
        ? (e.checks as Array<{ id?: unknown; ok?: unknown; message?: unknown; fix?: unknown }>)
        : [];
      // PreflightCheck (src/mesh/types.ts) names a check by `id`.
      const bad = checks
        .filter((c) => c.ok === false)
        .map(
          (c) =>
            `• ${esc(str(c.id) ?? '?')}: ${esc(str(c.message) ?? '')}${str(c.fix) ? ` — ${esc(str(c.fix)!)}` : ''}`,
        );
      return [
        {
          text: `${ok ? ':white_check_mark: Preflight passed' : ':x: Preflight failed'} (starting weight ${num(e.initialWeight) ?? 0} %${(num(e.initialWeight) ?? 0) > 0 ? ', inherited: judged before it grows' : ''})${bad.length ? `\n${bad.join('\n')}` : ''}`,
        },
      ];
    }
    case 'weight': {
      const w = num(e.weight) ?? 0;
      delete ctx.shown;
      const prev = num(e.previous) ?? 0;
      if (e.rollback === true)
        return [
          {
            text: `:rewind: *Rollback* of ${route(ctx.route)}: weight ${prev} % → ${w} % on Kubernetes (all traffic back on the VMs)`,
          },
        ];
      return [
        {
          text: `:arrow_right: *Step* of ${route(ctx.route)}: weight ${prev} % → *${w} %* on Kubernetes${e.wrote === false ? ' (already in place)' : ''}`,
        },
      ];
    }
    case 'verdict': {
      const outcome = str(e.outcome) ?? '';
      const w = num(e.weight) ?? 0;
      const last = ctx.lastVerdict;
      const news = !last || last.weight !== w || last.outcome !== outcome || outcome !== 'pass';
      if (ctx.verdicts === 'changes' && !news) return [];
      const out: SlackMessage[] = [{ text: verdictText(e) }];
      // An inconclusive hold starts: offer the buttons once (not on every inconclusive analysis).
      if (outcome === 'inconclusive' && (!last || last.outcome !== 'inconclusive' || last.weight !== w))
        out.push(
          buttons(
            ctx.id,
            'hold',
            `:large_yellow_circle: Holding at ${w} %: not enough data to decide. Promote anyway, or abort?`,
          ),
        );
      return out;
    }
    case 'phase': {
      const phase = str(e.phase) ?? '?';
      const w = num(e.weight) ?? 0;
      const why = reason ? `: ${esc(reason)}` : '';
      const shown = ctx.shown;
      switch (phase) {
        case 'awaitingApproval':
          if (shown?.kind === 'approval' && shown.weight === w) return [];
          ctx.shown = { kind: 'approval', weight: w };
          return [
            buttons(
              ctx.id,
              'approval',
              `:raised_hand: *Approval needed* at ${w} % for \`${esc(ctx.id)}\`. Promote to the next step, or abort?`,
            ),
          ];
        case 'paused':
          if (shown?.kind === 'paused' && shown.weight === w) return [];
          ctx.shown = { kind: 'paused', weight: w };
          return [
            buttons(ctx.id, 'paused', `:double_vertical_bar: *Paused* at ${w} %${why}. Resume, or abort?`),
          ];
        case 'rollingBack':
          return [{ text: `:rewind: *Rolling back* from ${w} %${why}` }];
        case 'rolledBack':
          return [
            {
              text: `:leftwards_arrow_with_hook: *Rolled back*${why}. ${route(ctx.route)} sends all traffic to the VMs.`,
            },
          ];
        case 'aborted':
          return [
            { text: `:octagonal_sign: *Aborted*${why}. ${route(ctx.route)} sends all traffic to the VMs.` },
          ];
        case 'completed':
          return [
            { text: `:tada: *Completed*: ${route(ctx.route)} sends ${w} % of the traffic to Kubernetes.` },
          ];
        case 'failed':
          return [{ text: `:x: *Failed*${why}` }];
        case 'shifting':
          if (str(e.from) === 'awaitingApproval' && shown?.kind === 'approval') return []; // a guarding analysis
          if (str(e.from) !== 'paused' && str(e.from) !== 'awaitingApproval') return [];
          delete ctx.shown;
          return [{ text: `:arrow_forward: Shifting again at ${w} %` }];
        default:
          delete ctx.shown;
          return [];
      }
    }
    case 'command': {
      const cmd = str(e.command) ?? '?';
      if (e.accepted === true) delete ctx.shown;
      if (e.accepted === true)
        return [
          {
            text: `:point_right: ${who(e.by)} ${PAST[cmd] ?? cmd.toLowerCase()} the migration${reason ? ` (${esc(reason)})` : ''}`,
          },
        ];
      return [
        {
          text: `:warning: ${cmd} from ${who(e.by)} was not applied: ${esc(str(e.refused) ?? reason ?? 'refused')}`,
        },
      ];
    }
    case 'rollbackRetry':
      return [
        {
          text: `:rotating_light: *Rollback write failed* (attempt ${num(e.attempt) ?? '?'}): ${esc(str(e.error) ?? 'unknown error')}. Traffic is still on Kubernetes; meshshift keeps retrying (next at ${new Date(num(e.retryAt) ?? 0).toISOString()}). Check the Kubernetes API.`,
        },
      ];
    case 'writeRetry':
      return [
        {
          text: `:warning: *Weight write failed* (attempt ${num(e.attempt) ?? '?'}): ${esc(str(e.error) ?? 'unknown error')}. Holding at ${num(e.held) ?? '?'} % (still guarded); the write of ${num(e.weight) ?? '?'} % is tried again at ${new Date(num(e.retryAt) ?? 0).toISOString()}.`,
        },
      ];
    case 'takeover':
      return [{ text: `:recycle: ${esc(str(e.text) ?? 'another worker took over')}` }];
    case 'waiting':
      return reason ? [{ text: `:hourglass: ${esc(reason)}` }] : [];
    default:
      return [];
  }
}

export function statusMessage(m: MigrationView, verdicts: HistoryEntry[]): string {
  const lines = [
    `*\`${esc(m.id)}\`* · ${esc(m.name)} on ${route(m.route)} — ${phaseLabel(m.phase)} · *${m.weight} %* on Kubernetes`,
    `steps ${m.steps.join(' → ')} · policy \`${esc(m.policy)}\` · updated ${m.updatedAt}`,
    ...(m.reason ? [`reason: _${esc(m.reason)}_`] : []),
  ];
  const last = verdicts.at(-1);
  if (last) lines.push(verdictText(last));
  lines.push(`_${describePossible(m.possible)}_`);
  return lines.join('\n');
}

export function listMessage(items: MigrationView[]): string {
  if (!items.length) return 'No migrations yet.';
  return [
    `*${items.length} most recent migration${items.length === 1 ? '' : 's'}:*`,
    ...items.map((m) => `• \`${esc(m.id)}\` ${route(m.route)} — ${phaseLabel(m.phase)} at ${m.weight} %`),
  ].join('\n');
}
