/** From a plan to what the machine decides with: the time-scaled policy and the machine's config. */
import type { MachineConfig } from '../machine/types.js';
import { scalePolicy, type ResolvedPlan } from '../plan/load.js';
import type { PolicySpec } from '../plan/policy-schema.js';

export function machineConfig(policy: PolicySpec, plan: Pick<ResolvedPlan, 'mtls'>): MachineConfig {
  return {
    steps: policy.steps,
    stepDurationMs: policy.stepDuration,
    intervalMs: policy.analysis.interval,
    minPassesPerStep: policy.analysis.minPassesPerStep,
    inconclusiveLimit: policy.analysis.inconclusiveLimit,
    inconclusiveAction: policy.analysis.inconclusiveAction,
    approvals: policy.approvals.map((a) => a.atWeight),
    windowMs: policy.analysis.window,
    tightenMtls: plan.mtls?.tightenAfterCompletion ?? false,
    ...(policy.analysis.maxBake !== undefined ? { maxBakeMs: policy.analysis.maxBake } : {}),
    ...(policy.analysis.postPromotionWatch !== undefined
      ? { postPromotionWatchMs: policy.analysis.postPromotionWatch }
      : {}),
    ...(policy.analysis.holdWhileSuspect !== undefined
      ? { suspectHoldMs: policy.analysis.holdWhileSuspect }
      : {}),
    writeFailureGraceMs: policy.writeFailureGrace,
  };
}

/** The policy as a migration runs it (durations compressed by `timeScale` in demos and tests) and its config. */
export function runConfig(plan: ResolvedPlan, timeScale = 1): { policy: PolicySpec; config: MachineConfig } {
  const policy = scalePolicy(plan.policy, timeScale);
  return { policy, config: machineConfig(policy, plan) };
}
