/** The MigrationPlan custom resource as the controller reads it from the API server. */
import type { PlanStatus } from './status.js';

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  time?: string;
  fieldsV1?: Record<string, unknown>;
}

export interface MigrationPlanObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    managedFields?: ManagedFieldsEntry[];
  };
  spec?: unknown;
  status?: PlanStatus;
}
