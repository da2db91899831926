/**
 * The playground's fault switch: an annotation on the target Deployment, set with kubectl, makes the simulated
 * containers fail that share of requests ("a bad build"); removing it heals them.
 *
 *   kubectl annotate deployment NAME -n NS playground.meshshift.io/error-rate=0.3 --overwrite
 *   kubectl annotate deployment NAME -n NS playground.meshshift.io/error-rate-
 */
import type { KubeApiServer } from '../kube/index.js';
import type { MeshSim } from '../mesh/index.js';

export const FAULT_ANNOTATION = 'playground.meshshift.io/error-rate';

export interface FaultSwitchOptions {
  kube: KubeApiServer;
  sim: MeshSim;
  namespace: string;
  deployment: string;
  /** The containers' error rate without a fault. */
  baseErrorRate: number;
  /** Told each change: the error rate now in force, and whether it is a fault. */
  onChange: (errorRate: number, fault: boolean) => void;
  pollMs?: number;
}

/** The error rate an annotation value asks for; undefined when it is not a fraction in [0, 1]. */
export function faultRate(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : undefined;
}

/** Polls the Deployment's annotation and applies it to the simulated containers; returns the stop function. */
export function startFaultSwitch(o: FaultSwitchOptions): () => void {
  let current = o.baseErrorRate;
  const check = () => {
    const dep = o.kube.get({
      group: 'apps',
      plural: 'deployments',
      namespace: o.namespace,
      name: o.deployment,
    });
    const annotations = (dep?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
    const asked = faultRate(annotations?.[FAULT_ANNOTATION]);
    const next = asked ?? o.baseErrorRate;
    if (next === current) return;
    current = next;
    o.sim.setBehavior('k8s', { errorRate: next });
    o.onChange(next, asked !== undefined);
  };
  const timer = setInterval(check, o.pollMs ?? 250);
  timer.unref();
  return () => clearInterval(timer);
}
