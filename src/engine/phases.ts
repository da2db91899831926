/**
 * The phases a migration can be in, and which of them are final. Node-free and import-free: the dashboard's
 * browser bundle reads it too (engine/vocabulary.ts re-exports it for the server).
 */
export const PHASES = [
  'pending',
  'preflight',
  'shifting',
  'awaitingApproval',
  'paused',
  'rollingBack',
  'securing',
  'completed',
  'rolledBack',
  'aborted',
  'failed',
] as const;
export type Phase = (typeof PHASES)[number];

export const TERMINAL_PHASES: readonly Phase[] = ['completed', 'rolledBack', 'aborted', 'failed'];
export const isTerminalPhase = (p: string): boolean => (TERMINAL_PHASES as readonly string[]).includes(p);
