/** The strict Kubernetes API test server: public surface. */
export { startKubeApiServer } from './server.js';
export type * from './types.js';
export { KubeStatusError, type KubeStatus, type StatusCause, type StatusDetails } from './status.js';
export { applyMergePatch } from './merge-patch.js';
export { JsonPatchError, applyJsonPatch } from './json-patch.js';
export { parseLabelSelector } from './selectors.js';
export { validateVirtualService } from './admission.js';
