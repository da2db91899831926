/** What the checks of an HTTPRoute plan's preflight share (gateway-preflight.ts, ambient-preflight.ts). */
import type { GatewayApi } from './gateway-api.js';
import type { At } from './istio-api.js';
import type { Ctx } from './istio-preflight.js';

export interface GatewayCtx extends Ctx {
  gateway: GatewayApi;
  /** The served gateway.networking.k8s.io version. */
  gatewayAt: At;
}
