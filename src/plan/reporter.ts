/**
 * Which Istio `reporter` the gate's queries read, from the plan's data plane: decided once, when the plan is
 * resolved (load.ts), so every gate query (src/gate/input/promql.ts) takes it from the resolved policy.
 */

/** Istio's `reporter` label values of L7 metrics. */
export type Reporter = 'destination' | 'source' | 'waypoint';

/**
 * THE place where the data plane picks the reporter every gate query uses. Sidecar: the policy's choice
 * (`destination`, the server side, by default). Ambient: only the waypoint proxy sees L7 (ztunnel is L4), so
 * `waypoint`, whatever the policy says. A sidecar plan cannot read `waypoint` series (there are none): refused.
 */
export function reporterFor(dataPlane: 'sidecar' | 'ambient', configured: Reporter): Reporter {
  if (dataPlane === 'ambient') return 'waypoint';
  if (configured === 'waypoint')
    throw new Error(
      "the policy reads analysis.reporter waypoint, but the plan's data plane is sidecar: set spec.dataPlane: ambient, or use reporter destination",
    );
  return configured;
}
