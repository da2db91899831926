/** `meshshift serve` flags of the MigrationPlan controller (each with an environment variable; flags win). */
import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../plan/duration.js';
import type { ControllerOptions } from './controller.js';

const env = process.env;
const duration = (what: string) => (v: string) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError(`${what}: expected a duration such as "15s" or "500ms"`);
  return ms;
};

export interface ControllerFlags {
  watchNamespaces?: string;
  leaseNamespace: string;
  leaseName: string;
  leaseDuration: number;
  statusEvery: number;
  resync: number;
}

export function addControllerOptions(cmd: Command): Command {
  return cmd
    .option(
      '--watch-namespaces <list>',
      'controller: comma-separated namespaces to watch for MigrationPlans; default all [MESHSHIFT_WATCH_NAMESPACES]',
      env.MESHSHIFT_WATCH_NAMESPACES,
    )
    .option(
      '--lease-namespace <ns>',
      'controller: namespace of the leader-election Lease [POD_NAMESPACE]',
      env.POD_NAMESPACE ?? 'meshshift',
    )
    .option('--lease-name <name>', 'controller: name of the leader-election Lease', 'meshshift-controller')
    .option(
      '--lease-duration <duration>',
      'controller: lease duration = takeover delay after the leader dies [MESHSHIFT_LEASE_DURATION]',
      duration('--lease-duration'),
      parseDuration(env.MESHSHIFT_LEASE_DURATION ?? '15s'),
    )
    .option(
      '--status-every <duration>',
      'controller: how often running migrations are mirrored into .status',
      duration('--status-every'),
      parseDuration('1s'),
    )
    .option(
      '--resync <duration>',
      'controller: full relist period',
      duration('--resync'),
      parseDuration('5m'),
    );
}

/** Splits the controller flags off the serve flags into `controller` options. */
export function controllerOptionsFrom<T extends ControllerFlags>(
  flags: T,
): Omit<T, keyof ControllerFlags> & { controller: ControllerOptions } {
  const { watchNamespaces, leaseNamespace, leaseName, leaseDuration, statusEvery, resync, ...rest } = flags;
  return {
    ...rest,
    controller: {
      namespaces: (watchNamespaces ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      leaseNamespace,
      leaseName,
      leaseDurationMs: leaseDuration,
      statusEveryMs: statusEvery,
      resyncMs: resync,
    },
  };
}
