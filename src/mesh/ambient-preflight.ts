/**
 * The data plane checks of preflight: a plan's `dataPlane` must be the namespace's, and in ambient a waypoint must
 * serve the Service (only a waypoint applies L7 routes and reports L7 metrics, with reporter="waypoint").
 */
import type { GatewayCtx } from './gateway-ctx.js';

export const DATAPLANE_LABEL = 'istio.io/dataplane-mode';
export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';
export const WAYPOINT_CLASS = 'istio-waypoint';

export async function checkAmbient(c: GatewayCtx): Promise<void> {
  const { plan, checks } = c;
  let nsLabels: Record<string, string>;
  let svcLabels: Record<string, string>;
  const service = plan.host.split('.')[0]!;
  try {
    const [ns, svc] = await Promise.all([
      c.gateway.readNamespace(c.at),
      c.gateway.readService(c.at, service),
    ]);
    nsLabels = ns.metadata?.labels ?? {};
    svcLabels = svc.metadata?.labels ?? {};
  } catch (err) {
    return checks.failedRead(
      'data-plane',
      err,
      `Namespace ${plan.namespace} or Service ${service}`,
      `create Service ${service} (the one clients call), or fix spec.host`,
    );
  }
  const ambient = nsLabels[DATAPLANE_LABEL] === 'ambient';
  if (plan.dataPlane === 'sidecar') {
    return checks.add(
      'data-plane',
      !ambient,
      ambient
        ? `namespace ${plan.namespace} is enrolled in ambient (${DATAPLANE_LABEL}=ambient) but the plan says sidecar: the gate would look for destination-sidecar metrics that do not exist`
        : `sidecar data plane (namespace ${plan.namespace} is not enrolled in ambient)`,
      'set spec.dataPlane: ambient',
    );
  }
  checks.add(
    'ambient-enrolment',
    ambient,
    ambient
      ? `namespace ${plan.namespace} is enrolled in ambient (${DATAPLANE_LABEL}=ambient)`
      : `namespace ${plan.namespace} is not enrolled in ambient (label ${DATAPLANE_LABEL} is ${nsLabels[DATAPLANE_LABEL] ?? 'unset'})`,
    `kubectl label namespace ${plan.namespace} ${DATAPLANE_LABEL}=ambient, or set spec.dataPlane: sidecar`,
  );
  await checkWaypoint(c, svcLabels[USE_WAYPOINT_LABEL] ?? nsLabels[USE_WAYPOINT_LABEL], service);
}

async function checkWaypoint(c: GatewayCtx, waypoint: string | undefined, service: string): Promise<void> {
  const { plan, checks } = c;
  const fix = `istioctl waypoint apply -n ${plan.namespace} --enroll-namespace (or label Service ${service} ${USE_WAYPOINT_LABEL}=<waypoint>)`;
  if (!waypoint || waypoint === 'none')
    return checks.add(
      'waypoint',
      false,
      `neither Service ${service} nor namespace ${plan.namespace} uses a waypoint (${USE_WAYPOINT_LABEL}): in ambient, ztunnel alone applies no HTTPRoute and reports no L7 metrics`,
      fix,
    );
  try {
    const gw = await c.gateway.getGateway(c.gatewayAt, waypoint);
    const cls = gw.spec?.gatewayClassName;
    checks.add(
      'waypoint',
      cls === WAYPOINT_CLASS,
      cls === WAYPOINT_CLASS
        ? `Service ${service} uses waypoint ${waypoint} (L7 metrics with reporter="waypoint")`
        : `${USE_WAYPOINT_LABEL}=${waypoint} names Gateway ${waypoint} of class ${cls ?? 'unset'}, not ${WAYPOINT_CLASS}`,
      fix,
    );
  } catch (err) {
    checks.failedRead('waypoint', err, `waypoint Gateway ${plan.namespace}/${waypoint}`, fix);
  }
}
