/**
 * The demo's story: a migration told in one line per step (weight, how long it was held, analyses passed and
 * inconclusive ones summed up by reason, the last numbers for both sides), every failed verdict in full, each kind
 * of inconclusive analysis explained once, the injected fault and the rollback highlighted, and a final summary.
 * Pure: events in, lines out. `--verbose` keeps the per-analysis lines as well.
 */
import type { SideSample, Verdict } from '../../gate/types.js';
import type { EngineEvent } from '../../engine/history.js';

/** The runner's events plus what the demo itself does to the simulated mesh. */
export type StoryEvent = EngineEvent | { type: 'fault'; at: number; description: string };

/** How text is highlighted: colour on a terminal, identity elsewhere (the markers are plain text either way). */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

export const PLAIN: Style = {
  bold: (s) => s,
  dim: (s) => s,
  red: (s) => s,
  green: (s) => s,
  yellow: (s) => s,
};

export interface StoryOptions {
  verbose?: boolean;
  style?: Style;
  /** Renders one analysis for --verbose (defaults to a one-line summary). */
  analysisLine?: (e: Extract<EngineEvent, { type: 'verdict' }>) => string | undefined;
}

interface StepState {
  weight: number;
  since: number;
  passed: number;
  inconclusive: number;
  failed: number;
  /** Inconclusive analyses of this step by reason (`inconclusiveReason`), in the order first seen. */
  inconclusiveBy: Record<string, number>;
  last?: Verdict;
  /** Summary of the last failed verdict printed in this step (repeats are counted, not reprinted). */
  lastFail?: string;
}

export interface StoryState {
  steps: number[];
  step?: StepState;
  /** Step weights the migration reached (in order). */
  reached: number[];
  /** Reasons of inconclusive analyses already explained (each is explained once per migration). */
  explained: string[];
}

export const initialStory = (): StoryState => ({ steps: [], reached: [], explained: [] });

const newStep = (weight: number, since: number): StepState => ({
  weight,
  since,
  passed: 0,
  inconclusive: 0,
  failed: 0,
  inconclusiveBy: {},
});

/** Why analyses come out inconclusive, in a few words, and what that means for the step. */
const REASONS = {
  'metrics unavailable': 'the metrics could not be read: the step holds until they can',
  'too little traffic': 'too few requests reached the target to judge it: the step holds',
  'no data': 'a query returned no number: the step holds',
  'waiting for evidence':
    'the numbers are not yet enough to tell pass from fail: the step holds until they are',
} as const;

export type InconclusiveReason = keyof typeof REASONS;

/** The reason of an inconclusive verdict, from its inconclusive checks. */
export function inconclusiveReason(v: Verdict): InconclusiveReason {
  const messages = v.checks.filter((c) => c.outcome === 'inconclusive').map((c) => c.message);
  const any = (re: RegExp) =>
    messages.some((m) => re.test(m)) || (messages.length === 0 && re.test(v.summary));
  if (any(/^metrics unavailable/)) return 'metrics unavailable';
  if (any(/no requests reached the target|only \d+ requests|samples, need|not judged/))
    return 'too little traffic';
  if (any(/no histogram data|returned no number/)) return 'no data';
  return 'waiting for evidence';
}

const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const count = (n: number): string => Math.round(n).toLocaleString('en-US');

function side(label: string, s: SideSample): string {
  const p99 = s.latencyMs.p99;
  const lat = p99 !== undefined && Number.isFinite(p99) ? `, p99 ${Math.round(p99)} ms` : '';
  if (!(s.requests > 0)) return `${label} no traffic`;
  return `${label} ${pct(s.errors / s.requests)} errors${lat} (${count(s.requests)} req)`;
}

/** "last: target 0.00 % errors, p99 94 ms (233 req) | source …" from a verdict's raw sample. */
export function lastNumbers(v: Verdict | undefined): string {
  if (!v) return 'no analysis yet';
  if (!v.sample) return `last: ${v.summary}`;
  return `last: ${side('target', v.sample.target)} | ${side('source', v.sample.source)}`;
}

function stepLine(st: StoryState, s: StepState, end: number, style: Style): string {
  const idx = st.steps.indexOf(s.weight);
  const n = idx >= 0 ? `step ${idx + 1}/${st.steps.length}` : 'step';
  const reasons = Object.entries(s.inconclusiveBy);
  const why = reasons.length === 1 ? reasons[0]![0] : reasons.map(([r, k]) => `${r} ×${k}`).join(', ');
  const tally = [
    `${s.passed} ${s.passed === 1 ? 'analysis' : 'analyses'} passed`,
    ...(s.inconclusive ? [style.yellow(`${s.inconclusive} inconclusive: ${why}`)] : []),
    ...(s.failed ? [style.red(`${s.failed} failed`)] : []),
  ].join(', ');
  return `  ${n.padEnd(10)} ${String(s.weight).padStart(3)} %  ${secs(end - s.since).padStart(6)}  ${tally}; ${style.dim(lastNumbers(s.last))}`;
}

function verdictLines(st: StoryState, s: StepState, v: Verdict, style: Style): string[] {
  if (v.outcome === 'pass') {
    s.passed++;
    return [];
  }
  if (v.outcome === 'inconclusive') {
    // Summed up per step by reason; each reason is explained once, with the first analysis that had it.
    s.inconclusive++;
    const reason = inconclusiveReason(v);
    s.inconclusiveBy[reason] = (s.inconclusiveBy[reason] ?? 0) + 1;
    if (st.explained.includes(reason)) return [];
    st.explained.push(reason);
    return [
      `      ${style.yellow(`? inconclusive: ${reason}`)} — ${REASONS[reason]} (at ${v.weight} %: ${v.summary})`,
    ];
  }
  s.failed++;
  // Every failed verdict in full; an identical repeat (same numbers) within the step is only counted.
  if (s.lastFail === v.summary) return [];
  s.lastFail = v.summary;
  const extra = v.checks
    .filter((c) => (c.outcome === 'fail' || c.outcome === 'inconclusive') && !v.summary.includes(c.message))
    .map((c) => `        ${c.name}: ${c.message}`);
  return [`      ${style.red('✗ FAIL')} at ${v.weight} %: ${v.summary}`, ...extra];
}

/** Closes the current step (if any) with its one line. */
function endStep(st: StoryState, at: number, style: Style): string[] {
  const s = st.step;
  if (!s) return [];
  st.step = undefined;
  return [stepLine(st, s, at, style)];
}

/** A verdict: the step's line as it stands, or (--verbose) every analysis on its own line. */
function verdictEvent(
  st: StoryState,
  e: Extract<StoryEvent, { type: 'verdict' }>,
  opts: StoryOptions,
  style: Style,
): string[] {
  const s = (st.step ??= newStep(e.verdict.weight, e.at));
  s.last = e.verdict;
  const lines = verdictLines(st, s, e.verdict, style);
  if (!opts.verbose) return lines;
  // --verbose: every analysis on its own line (a failed one keeps its extra check lines).
  const v = e.verdict;
  const line = opts.analysisLine?.(e) ?? `      ${v.outcome} at ${v.weight} %: ${v.summary}`;
  return [line, ...(v.outcome === 'fail' ? lines.slice(1) : [])];
}

/** A phase the story shows: a rollback (closing the step), a pause, an approval wait. */
function phaseEvent(st: StoryState, e: Extract<StoryEvent, { type: 'phase' }>, style: Style): string[] {
  if (e.phase === 'rollingBack')
    return [
      ...endStep(st, e.at, style),
      style.bold(style.red(`  ⟲ ROLLBACK at ${e.weight} %: ${e.reason ?? ''}`)),
    ];
  if (e.phase === 'paused') return [style.yellow(`  ⏸ paused at ${e.weight} %: ${e.reason ?? ''}`)];
  if (e.phase === 'awaitingApproval') return [style.yellow(`  ⏸ waiting for approval at ${e.weight} %`)];
  return [];
}

/** One event: the lines to print now. Mutates `st` (the story so far). */
export function storyStep(st: StoryState, e: StoryEvent, opts: StoryOptions = {}): string[] {
  const style = opts.style ?? PLAIN;
  switch (e.type) {
    case 'started':
      st.steps = e.steps;
      return [
        `  ${e.resumed ? 'resuming' : 'migration'} ${e.migration}, policy ${e.policy}: steps ${e.steps.join(' → ')} %`,
      ];
    case 'preflight': {
      if (e.ok) return [`  preflight passed (${e.checks.length} checks)`];
      return [
        `  ${style.red('preflight FAILED — no weight was changed')}`,
        ...e.checks
          .filter((c) => !c.ok)
          .map((c) => `      ✗ ${c.id}: ${c.message}${c.fix ? ` (fix: ${c.fix})` : ''}`),
      ];
    }
    case 'weight': {
      const lines = endStep(st, e.at, style);
      if (e.rollback)
        return [
          ...lines,
          `  weight back to 0 % target: 100 % on the source${e.wrote ? '' : ' (already there)'}`,
        ];
      st.reached.push(e.weight);
      st.step = newStep(e.weight, e.at);
      return lines;
    }
    case 'verdict':
      return verdictEvent(st, e, opts, style);
    case 'fault':
      return [style.bold(style.red(`  ⚡ FAULT INJECTED: ${e.description}`))];
    case 'phase':
      return phaseEvent(st, e, style);
    case 'rollbackRetry':
      return [
        style.bold(
          style.red(
            `  ⟲ ROLLBACK WRITE FAILED (attempt ${e.attempt}): ${e.error}; traffic is still on the target, retrying in ${secs(e.retryAt - e.at)}`,
          ),
        ),
      ];
    case 'writeRetry':
      return [
        style.yellow(
          `  ⏸ write of ${e.weight} % failed (attempt ${e.attempt}): ${e.error}; holding at ${e.held} %, retrying in ${secs(e.retryAt - e.at)}`,
        ),
      ];
    case 'mtls':
      return [`  mTLS: ${e.ok ? '' : style.red('FAILED ')}${e.message}`];
    case 'command':
      return [
        `  command ${e.command}${e.by ? ` by ${e.by}` : ''}: ${e.accepted ? 'accepted' : style.red(`refused — ${e.reason}`)}`,
      ];
    case 'finished': {
      const lines = endStep(st, e.at, style);
      const what =
        e.phase === 'completed'
          ? style.green('✔ completed: 100 % of traffic on the target')
          : e.phase === 'failed'
            ? style.red(`✘ failed: ${e.reason ?? ''}`)
            : style.red(`⟲ ${e.phase === 'aborted' ? 'aborted' : 'rolled back'}: 100 % on the source`);
      return [...lines, `  ${what} after ${secs(e.durationMs)}`];
    }
  }
}

/** A whole event list as lines (what the streaming demo prints, in one call). */
export function storyLines(events: readonly StoryEvent[], opts: StoryOptions = {}): string[] {
  const st = initialStory();
  return events.flatMap((e) => storyStep(st, e, opts));
}

export interface SideTotals {
  requests: number;
  errors: number;
}

export interface MigrationSummary {
  title: string;
  phase: string;
  reason?: string;
  durationMs: number;
  /** Step weights reached, in order, and the plan's steps. */
  reached: number[];
  steps: number[];
  /** What each side served during the whole run (the simulator's counters). */
  source: SideTotals;
  target: SideTotals;
  /** Time from the injected fault to the rollback, and failed requests the target served in between. */
  fault?: { description: string; detectMs?: number; failedRequests?: number };
}

const totals = (label: string, t: SideTotals): string =>
  `${label} ${count(t.requests)} requests, ${count(t.errors)} errors${t.requests > 0 ? ` (${pct(t.errors / t.requests)})` : ''}`;

/** The final summary of one migration (a few lines). */
export function summaryLines(m: MigrationSummary, style: Style = PLAIN): string[] {
  const outcome = m.phase === 'completed' ? style.green(m.phase) : style.red(m.phase);
  const reached = m.reached.length > 0 ? m.reached.join(' → ') : 'none';
  const lines = [
    `${style.bold(m.title)}: ${outcome} in ${secs(m.durationMs)}; steps reached ${reached} % (${m.reached.length}/${m.steps.length})`,
    `    ${totals('source', m.source)}; ${totals('target', m.target)}`,
  ];
  if (m.reason) lines.push(`    rollback reason: ${m.reason}`);
  if (m.fault) {
    const f = m.fault;
    const detect =
      f.detectMs !== undefined ? `rolled back ${secs(f.detectMs)} after the fault` : 'never rolled back';
    const failed =
      f.failedRequests !== undefined
        ? `; ${count(f.failedRequests)} failed requests reached the target meanwhile`
        : '';
    lines.push(`    fault: ${f.description}; ${detect}${failed}`);
  }
  return lines;
}
