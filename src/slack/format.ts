/** Slack messages for migrations: the parent message, one threaded reply per history entry, status and list. */
import type { types } from '@slack/bolt';
import { routeLabel, type RouteName } from '../engine/route-label.js';
import { describePossible, type CommandWord } from '../engine/vocabulary.js';
import type { MigrationView } from '../engine/view.js';
import type { HistoryEntry, StoredRecord, VerdictRecord } from '../engine/history.js';
import type { SideSample } from '../gate/types.js';

export type Block = types.KnownBlock;
export interface SlackMessage {
  text: string;
  blocks?: Block[];
}

/** action_id prefix of meshshift's buttons; the value is the migration id. */
export const ACTION_PREFIX = 'meshshift:';
/** The command words a button can send (pause has no button). */
export type ButtonCommand = Exclude<CommandWord, 'pause'>;

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
/** `slack:U123` → a Slack mention; anything else as code. */
export function who(by: string | undefined): string {
  const s = by || 'someone';
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
  // NaN (no data) is stored as null by JSON: both read as n/a.
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  if (/error|rate|success/i.test(name)) return `${(v * 100).toFixed(v < 0.001 && v > 0 ? 3 : 2)} %`;
  if (/^p\d\d/.test(name) || /latency/i.test(name)) return `${v.toFixed(v < 10 ? 1 : 0)} ms`;
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

const OUTCOME: Record<string, string> = {
  pass: ':large_green_circle: pass',
  fail: ':red_circle: fail',
  inconclusive: ':large_yellow_circle: inconclusive',
  skipped: ':white_circle: skipped',
};

export function verdictText(e: VerdictRecord): string {
  const lines = [`*Verdict* ${OUTCOME[e.outcome] ?? e.outcome} at ${e.weight} % — ${esc(e.summary)}`];
  for (const c of e.checks) {
    const skipped = c.outcome === 'skipped' && c.observed === undefined;
    const observed = skipped ? 'skipped' : fmtCheckValue(c.name, c.observed);
    const limit = c.threshold !== undefined ? ` (limit ${fmtCheckValue(c.name, c.threshold)})` : '';
    lines.push(`• \`${esc(c.name)}\` ${OUTCOME[c.outcome]?.split(' ')[0] ?? ''} ${observed}${limit}`);
  }
  const sample = e.sample;
  if (sample) {
    const side = (s: SideSample) => `${Math.round(s.requests)} req / ${Math.round(s.errors)} err`;
    const win = sample.windowMs;
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
export function entryMessages(e: StoredRecord, ctx: EntryContext): SlackMessage[] {
  switch (e.type) {
    case 'preflight': {
      const bad = e.checks
        .filter((c) => !c.ok)
        .map((c) => `• ${esc(c.id)}: ${esc(c.message)}${c.fix ? ` — ${esc(c.fix)}` : ''}`);
      return [
        {
          text: `${e.ok ? ':white_check_mark: Preflight passed' : ':x: Preflight failed'} (starting weight ${e.initialWeight} %${e.initialWeight > 0 ? ', inherited: judged before it grows' : ''})${bad.length ? `\n${bad.join('\n')}` : ''}`,
        },
      ];
    }
    case 'weight': {
      delete ctx.shown;
      if (e.rollback === true)
        return [
          {
            text: `:rewind: *Rollback* of ${route(ctx.route)}: weight ${e.previous} % → ${e.weight} % on Kubernetes (all traffic back on the VMs)`,
          },
        ];
      if (e.reason)
        return [
          {
            text: `:leftwards_arrow_with_hook: *Step back* of ${route(ctx.route)}: weight ${e.previous} % → *${e.weight} %* on Kubernetes — ${e.reason}`,
          },
        ];
      return [
        {
          text: `:arrow_right: *Step* of ${route(ctx.route)}: weight ${e.previous} % → *${e.weight} %* on Kubernetes${e.wrote === false ? ' (already in place)' : ''}`,
        },
      ];
    }
    case 'verdict':
      return verdictMessages(e, ctx);
    case 'phase':
      return phaseMessages(e, ctx);
    case 'command': {
      const reason = e.reason;
      if (e.accepted) {
        delete ctx.shown;
        return [
          {
            text: `:point_right: ${who(e.by)} ${PAST[e.command] ?? e.command.toLowerCase()} the migration${reason ? ` (${esc(reason)})` : ''}`,
          },
        ];
      }
      return [
        {
          text: `:warning: ${e.command} from ${who(e.by)} was not applied: ${esc(e.refused || reason || 'refused')}`,
        },
      ];
    }
    case 'rollbackRetry':
      return [
        {
          text: `:rotating_light: *Rollback write failed* (attempt ${e.attempt}): ${esc(e.error || 'unknown error')}. Traffic is still on Kubernetes; meshshift keeps retrying (next at ${new Date(e.retryAt).toISOString()}). Check the Kubernetes API.`,
        },
      ];
    case 'writeRetry':
      return [
        {
          text: `:warning: *Weight write failed* (attempt ${e.attempt}): ${esc(e.error || 'unknown error')}. Holding at ${e.held} % (still guarded); the write of ${e.weight} % is tried again at ${new Date(e.retryAt).toISOString()}.`,
        },
      ];
    case 'takeover':
      return [{ text: `:recycle: ${esc(e.text || 'another worker took over')}` }];
    case 'waiting':
      return e.reason ? [{ text: `:hourglass: ${esc(e.reason)}` }] : [];
    default:
      return [];
  }
}

/** A verdict: news only (verdicts = "changes"); an inconclusive hold offers the buttons once. */
function verdictMessages(e: VerdictRecord, ctx: EntryContext): SlackMessage[] {
  const w = e.weight;
  const last = ctx.lastVerdict;
  const news = !last || last.weight !== w || last.outcome !== e.outcome || e.outcome !== 'pass';
  if (ctx.verdicts === 'changes' && !news) return [];
  const out: SlackMessage[] = [{ text: verdictText(e) }];
  // An inconclusive hold starts: offer the buttons once (not on every inconclusive analysis).
  if (e.outcome === 'inconclusive' && (!last || last.outcome !== 'inconclusive' || last.weight !== w))
    out.push(
      buttons(
        ctx.id,
        'hold',
        `:large_yellow_circle: Holding at ${w} %: not enough data to decide. Promote anyway, or abort?`,
      ),
    );
  return out;
}

/** A phase change: approval and pause prompts (once per weight), rollback and the outcome. */
function phaseMessages(e: Extract<StoredRecord, { type: 'phase' }>, ctx: EntryContext): SlackMessage[] {
  const w = e.weight;
  const why = e.reason ? `: ${esc(e.reason)}` : '';
  const shown = ctx.shown;
  switch (e.phase) {
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
      return [buttons(ctx.id, 'paused', `:double_vertical_bar: *Paused* at ${w} %${why}. Resume, or abort?`)];
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
      return [{ text: `:tada: *Completed*: ${route(ctx.route)} sends ${w} % of the traffic to Kubernetes.` }];
    case 'failed':
      return [{ text: `:x: *Failed*${why}` }];
    case 'shifting':
      if (e.from === 'awaitingApproval' && shown?.kind === 'approval') return []; // a guarding analysis
      if (e.from !== 'paused' && e.from !== 'awaitingApproval') return [];
      delete ctx.shown;
      return [{ text: `:arrow_forward: Shifting again at ${w} %` }];
    default:
      delete ctx.shown;
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
  if (last?.type === 'verdict') lines.push(verdictText(last));
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
