/**
 * @deprecated The runner reports the engine's events: import `EngineEvent` from src/engine/history.ts. This alias
 * stays only while bench/decisions/run-one.ts still imports it.
 */
export type { EngineEvent as RunnerEvent } from '../engine/history.js';
