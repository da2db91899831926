/** What a running migration reports: the CLI prints these, `--output json` emits one per line. */
import type { Phase } from '../machine/migration.js';
import type { Verdict } from '../gate/types.js';
import type { PreflightCheck } from '../mesh/types.js';

export type RunnerEvent =
  | { type: 'started'; at: number; migration: string; policy: string; steps: number[]; resumed: boolean }
  | { type: 'preflight'; at: number; ok: boolean; checks: PreflightCheck[]; initialWeight: number }
  | { type: 'phase'; at: number; phase: Phase; weight: number; reason?: string }
  | {
      type: 'weight';
      at: number;
      weight: number;
      previous: number;
      wrote: boolean;
      attempts: number;
      rollback?: boolean;
    }
  | { type: 'verdict'; at: number; verdict: Verdict }
  | { type: 'mtls'; at: number; ok: boolean; changed: boolean; message: string }
  | { type: 'command'; at: number; command: string; by?: string; accepted: boolean; reason?: string }
  | { type: 'finished'; at: number; phase: Phase; weight: number; reason?: string; durationMs: number };
