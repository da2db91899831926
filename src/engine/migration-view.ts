/**
 * The one view of a migration that every interface shows (HTTP API, CLI, Slack, dashboard). Types only, and
 * Node-free: the dashboard's browser bundle imports it (src/web/client), so it imports nothing that needs Node.
 */
import type { Verdict } from '../gate/types.js';
import type { CommandType } from '../machine/types.js';
import type { PlanSpec } from '../plan/schema.js';
import type { RouteName } from './route-label.js';

export interface MigrationView {
  id: string;
  name: string;
  namespace: string;
  /** The route it shifts: HTTPRoute or VirtualService, namespace and name (`routeLabel` says it for people). */
  route: RouteName;
  phase: string;
  weight: number;
  steps: number[];
  policy: string;
  reason?: string;
  /** Commands the migration accepts right now (PROMOTE, PAUSE, RESUME, ABORT). */
  possible: CommandType[];
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  nextWakeAt?: string;
  schedule?: NonNullable<PlanSpec['schedule']>;
  heldByWindow: boolean;
  seq: number;
  /** The last analysis' verdict, with its checks and numbers. */
  lastVerdict?: Verdict;
  /**
   * Steps reached: the 1-based step being applied or held (0 before the first), kept through a rollback or an
   * abort, so a migration rolled back from 5 % of [1, 5, …] reads "2/6 (rolled back)".
   */
  stepsReached?: number;
}
