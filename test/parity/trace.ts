/**
 * What one driver did with one scripted migration, and the pure rules that compare two such traces.
 * Live traffic makes the numbers inside reasons differ between two runs (error counts, percentages, ports in
 * error messages); the kind of a reason, the check it names and the weight it happened at must not.
 */

export type Driver = 'run' | 'serve';

export interface PhaseStep {
  phase: string;
  reason?: string;
}

export interface CommandStep {
  command: string;
  by?: string;
  accepted: boolean;
  /** Why it was refused, as the driver told the operator. */
  refused?: string;
}

export interface Trace {
  driver: Driver;
  /** Phase changes in order, without the initial `pending`. */
  phases: PhaseStep[];
  commands: CommandStep[];
  /** Target weights of the successful VirtualService PATCHes the API server applied, in order. */
  writes: number[];
  /** Weights the driver reports writing (a rollback reports 0), in order. */
  reported: number[];
  /** The phase the migration ended in ('timeout' when it did not end in time). */
  final: string;
  /** The reason the driver gives for the final phase. */
  finalReason?: string;
  /** spec.mtls.mode of the plan's PeerAuthentication at the end, when the lane has one. */
  mtlsMode?: string;
  /** `meshshift run` exit code (run driver only). */
  exitCode?: number;
  /** Last lines of the driver's logs, for failure messages. */
  logTail: string;
}

/** Replaces every number (integers, decimals, ports, durations) by '#'. */
export function normalizeNumbers(text: string): string {
  return text.replace(/\d+(?:\.\d+)?/g, '#');
}

/**
 * The kind of a phase reason, with the check name and the weight where the reason carries them:
 * `regression error-rate at 10 %`, `inconclusive at 10 %`, `paused by alice`, `drift`… Free text (an operator's
 * abort reason) is its own kind, numbers normalised.
 */
export function reasonKind(reason: string | undefined): string {
  if (reason === undefined) return '-';
  let m = /^([\w.-]+) failed (?:.*? )?at (\d+) %:/.exec(reason);
  if (m) return `regression ${m[1]} at ${m[2]} %`;
  m = /^\d+ inconclusive analys(?:es|is windows) in a row at (\d+) %/.exec(reason);
  if (m) return `inconclusive at ${m[1]} %`;
  if (/^\d+ inconclusive analys(?:es|is windows) in a row:/.test(reason)) return 'inconclusive (rollback)';
  m = /^paused by (\S+?)(?::|$)/.exec(reason);
  if (m) return `paused by ${m[1]}`;
  if (reason.startsWith('drift:')) return 'drift';
  if (reason.startsWith('could not set weight')) return 'write error';
  if (reason.startsWith('ROLLBACK FAILED')) return 'rollback failed';
  return `text: ${normalizeNumbers(reason)}`;
}

/** `phase (reason kind)` per phase change: what must be identical across drivers. */
export function phaseKinds(t: Pick<Trace, 'phases'>): string[] {
  return t.phases.map((p) => (p.reason === undefined ? p.phase : `${p.phase} (${reasonKind(p.reason)})`));
}

/** `phase: reason` with numbers normalised: the full wording, which should not drift either. */
export function phaseTexts(t: Pick<Trace, 'phases'>): string[] {
  return t.phases.map((p) =>
    p.reason === undefined ? p.phase : `${p.phase}: ${normalizeNumbers(p.reason)}`,
  );
}

export function commandKinds(t: Pick<Trace, 'commands'>): string[] {
  return t.commands.map(
    (c) =>
      `${c.command} by ${c.by ?? '?'} ${c.accepted ? 'accepted' : `refused${c.refused ? ` (${normalizeNumbers(c.refused)})` : ''}`}`,
  );
}

/** One line per aspect in which two traces differ (empty when they agree), for the report and failure messages. */
export function differences(a: Trace, b: Trace): string[] {
  const out: string[] = [];
  const cmp = (what: string, x: unknown, y: unknown) => {
    if (JSON.stringify(x) !== JSON.stringify(y))
      out.push(`${what}: ${a.driver} ${JSON.stringify(x)} vs ${b.driver} ${JSON.stringify(y)}`);
  };
  cmp('final phase', a.final, b.final);
  cmp('weight writes', a.writes, b.writes);
  cmp('reported weights', a.reported, b.reported);
  cmp('final reason', reasonKind(a.finalReason), reasonKind(b.finalReason));
  cmp('phases', phaseKinds(a), phaseKinds(b));
  cmp('reason texts', phaseTexts(a), phaseTexts(b));
  cmp('commands', commandKinds(a), commandKinds(b));
  if (a.mtlsMode !== undefined || b.mtlsMode !== undefined)
    cmp('PeerAuthentication mode', a.mtlsMode, b.mtlsMode);
  return out;
}
