/** The mesh traffic simulator: public surface. */
export { startMeshSim } from './sim.js';
export type * from './types.js';
export { ISTIO_DURATION_BUCKETS } from './metrics-exposition.js';
export { createLatencySampler } from './latency.js';
export { mulberry32 } from '../random.js';
export { DEFAULT_BEHAVIOR, subsetScenarioBackends } from './fixtures.js';
