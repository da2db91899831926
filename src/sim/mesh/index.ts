/** The mesh traffic simulator: public surface. */
export { startMeshSim } from './sim.js';
export type * from './types.js';
export { ISTIO_DURATION_BUCKETS } from './metrics-exposition.js';
export { createLatencySampler, mulberry32 } from './latency.js';
export { DEFAULT_BEHAVIOR, subsetScenarioBackends } from './fixtures.js';
