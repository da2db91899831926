/**
 * The migration's vocabulary, derived from the machine itself: phases, what is terminal, busy or guarding
 * (xstate tags), which commands are possible now (`snapshot.can`), why a migration is where it is, and when it next
 * needs a TICK. The API's 409 text, Slack's buttons, the CLI, the OpenAPI enum and the dashboard read it here.
 */
import { createActor, type SnapshotFrom } from 'xstate';
import { migrationMachine, type MigrationMachine } from '../machine/migration.js';
import { WRITE_FAILURE_GRACE_MS } from '../machine/context.js';
import type { Phase } from './phases.js';
import { COMMANDS, type CommandType, type MachineConfig, type MigrationContext } from '../machine/types.js';

export { PHASES, TERMINAL_PHASES, isTerminalPhase, type Phase } from './phases.js';
export { COMMANDS, type CommandType };

/** A command as people type it: `promote`, `pause`, `resume`, `abort`. */
export type CommandWord = Lowercase<CommandType>;
export const commandWord = (c: CommandType): CommandWord => c.toLowerCase() as CommandWord;
/** The command words, in the order of COMMANDS. */
export const COMMAND_WORDS = COMMANDS.map(commandWord) as [CommandWord, ...CommandWord[]];

/**
 * The command a lowercase word names ('promote' → 'PROMOTE'), undefined for anything else. Every interface that
 * takes a command word (HTTP API, CLI, Slack, dashboard, the controller's annotation) reads it here.
 */
export const isCommandWord = (word: string): word is CommandWord => commandOf(word) !== undefined;
export function commandOf(word: CommandWord): CommandType;
export function commandOf(word: string): CommandType | undefined;
export function commandOf(word: string): CommandType | undefined {
  return COMMANDS.find((c) => commandWord(c) === word);
}

export type MigrationSnapshot = SnapshotFrom<MigrationMachine>;

/** A flat name for the machine's state, for humans and APIs. */
export function phaseOf(snapshot: { value: unknown }): Phase {
  const v = snapshot.value;
  if (typeof v === 'string') return v as Phase;
  const [top, sub] = Object.entries(v as Record<string, unknown>)[0] ?? ['pending', undefined];
  if (top === 'shifting' && sub && typeof sub === 'object' && 'awaitingApproval' in sub)
    return 'awaitingApproval';
  return top as Phase;
}

/** An invoked effect (preflight, weight write, analysis, rollback, mTLS tightening) is running. */
export const isBusy = (s: MigrationSnapshot): boolean => s.status === 'active' && s.hasTag('busy');
export const isTerminal = (s: MigrationSnapshot): boolean => s.status === 'done' || s.hasTag('terminal');

/** The commands the machine accepts in this state, in a stable order. */
export function possibleCommands(s: MigrationSnapshot): CommandType[] {
  if (s.status !== 'active') return [];
  return COMMANDS.filter((type) => s.can({ type, at: s.context.now }));
}

export function describePossible(possible: readonly CommandType[]): string {
  return possible.length
    ? `possible now: ${possible.map((c) => c.toLowerCase()).join(', ')}`
    : 'the migration has finished';
}

/** Why the migration is where it is (paused, rolling back, finished badly), or undefined. */
export function reasonOf(s: MigrationSnapshot): string | undefined {
  const phase = phaseOf(s);
  const c = s.context;
  if (phase === 'paused') return c.pauseReason;
  if (phase === 'rollingBack') {
    const r = c.rollback;
    if (!r) return undefined;
    return r.lastError
      ? `${r.reason} — rollback write failed ${r.attempts}× (${r.lastError}); retrying`
      : r.reason;
  }
  if (phase === 'rolledBack' || phase === 'aborted') return c.rollback?.reason;
  if (phase === 'failed') return c.error;
  if (phase === 'shifting' && c.writeHold)
    return `holding at ${c.weight} %: the write of ${c.writeHold.weight} % failed ${c.writeHold.attempts}× (${c.writeHold.lastError ?? 'unknown error'}); retrying at ${new Date(c.writeHold.retryAt).toISOString()}, pausing if it still fails ${Math.round((c.config.writeFailureGraceMs ?? WRITE_FAILURE_GRACE_MS) / 60_000)} min after the first failure`;
  if (phase === 'preflight' && c.preflightRetry?.lastError)
    return `preflight failed ${c.preflightRetry.attempts}× (${c.preflightRetry.lastError}); trying again`;
  return undefined;
}

/** When the driver should next send TICK (epoch ms), or undefined when no time-based progress is pending. */
export function nextWakeAt(s: MigrationSnapshot): number | undefined {
  if (isBusy(s) || isTerminal(s)) return undefined; // an effect is running: its result moves us on
  const c: MigrationContext = s.context;
  const phase = phaseOf(s);
  if (phase === 'rollingBack') return c.rollback?.retryAt ?? c.now;
  if (phase === 'securing') return c.securing?.retryAt ?? c.now;
  if (phase === 'preflight') return c.preflightRetry?.retryAt ?? c.now;
  if (phase !== 'shifting' && phase !== 'awaitingApproval' && phase !== 'paused') return undefined;
  // A held write: its retry (which also checks the grace) or the next analysis, whichever comes first.
  const retry = phase === 'shifting' ? c.writeHold?.retryAt : undefined;
  if (c.weight <= 0) return retry; // nothing routed to the target yet: nothing to analyse
  const analysis = (c.lastAnalysisAt ?? c.now) + c.config.intervalMs;
  return retry !== undefined ? Math.min(retry, analysis) : analysis;
}

/** A persisted snapshot, restored for reading (no effect starts). */
export function inspect(persisted: unknown, config: MachineConfig): MigrationSnapshot {
  return createActor(migrationMachine, {
    snapshot: persisted as never,
    input: { config, now: 0 },
  }).getSnapshot();
}

/** The persisted snapshot of a migration that has not started yet. */
export function initialSnapshot(config: MachineConfig, now: number): unknown {
  return createActor(migrationMachine, { input: { config, now } }).getPersistedSnapshot();
}
