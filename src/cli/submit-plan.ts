/**
 * What `meshshift submit` says about a file before sending it: which document the service will take when the file
 * holds several, or why it refuses a file with several MigrationPlans. Everything else (each field, the policy
 * name) is judged by the service, which has the policies.
 */
import { checkDocuments, describeDocuments } from '../plan/documents.js';
import { ValidationError } from '../plan/errors.js';

export function planOfText(text: string, file: string): { note?: string; refusal?: string } {
  let docs;
  try {
    docs = checkDocuments(text, file);
  } catch (err) {
    if (err instanceof ValidationError) return {}; // the service names the problem in its 422
    throw err;
  }
  const plans = docs.filter((d) => d.kind === 'MigrationPlan');
  if (plans.length > 1) {
    return {
      refusal: `${file} holds ${plans.length} MigrationPlans (${describeDocuments(plans)}): submit takes one; put each in its own file. Nothing was submitted.`,
    };
  }
  const plan = plans[0];
  if (docs.length > 1 && plan) {
    return {
      note: `${file}: submitting MigrationPlan ${plan.name ?? '(unnamed)'} (document ${plan.index} of ${docs.length}; the service checks the other documents too)`,
    };
  }
  return {};
}
