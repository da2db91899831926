/** What a running migration reports: the engine's events (the CLI prints them, `--output json` emits one per line). */
export type { EngineEvent as RunnerEvent } from '../engine/history.js';
