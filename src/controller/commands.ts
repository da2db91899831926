/**
 * Operator commands from kubectl, without the meshshift CLI:
 *   kubectl annotate mp/NAME meshshift.io/command=promote [meshshift.io/command-reason="…"] --overwrite
 * (promote, pause, resume or abort). The controller consumes the annotation (sends the command through the
 * service, which refuses what the migration cannot accept now) and clears it; who asked comes from the
 * object's managedFields (the field manager that set the annotation, e.g. kubectl-annotate).
 */
import { COMMAND_WORDS, commandOf, type CommandType } from '../engine/vocabulary.js';
import type { ManagedFieldsEntry, MigrationPlanObject } from './types.js';

export const COMMAND_ANNOTATION = 'meshshift.io/command';
export const REASON_ANNOTATION = 'meshshift.io/command-reason';

export type ParsedCommand =
  | { ok: true; type: CommandType; reason?: string; by: string; raw: string }
  | { ok: false; raw: string; message: string };

/** The manager that last set the command annotation, from server-side field tracking. */
export function requesterOf(managed: readonly ManagedFieldsEntry[] | undefined): string | undefined {
  let best: ManagedFieldsEntry | undefined;
  for (const m of managed ?? []) {
    const meta = m.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined;
    const ann = meta?.['f:annotations'] as Record<string, unknown> | undefined;
    if (!ann || !(`f:${COMMAND_ANNOTATION}` in ann)) continue;
    if (!best || String(m.time ?? '') >= String(best.time ?? '')) best = m;
  }
  return best?.manager;
}

/** The command an object's annotations ask for, or undefined when there is none. */
export function commandRequestOf(obj: MigrationPlanObject): ParsedCommand | undefined {
  const raw = obj.metadata.annotations?.[COMMAND_ANNOTATION];
  if (raw === undefined) return undefined;
  const type = commandOf(raw.trim().toLowerCase());
  if (!type) {
    return {
      ok: false,
      raw,
      message: `annotation ${COMMAND_ANNOTATION}=${JSON.stringify(raw)} is not a command: use one of ${COMMAND_WORDS.join(', ')}`,
    };
  }
  const reason = obj.metadata.annotations?.[REASON_ANNOTATION];
  return {
    ok: true,
    type,
    ...(reason ? { reason } : {}),
    by: `kubernetes:${requesterOf(obj.metadata.managedFields) ?? 'unknown'}`,
    raw,
  };
}

/** The merge patch that clears the command annotations, guarded by the resourceVersion the command was read at. */
export function clearCommandPatch(obj: MigrationPlanObject): Record<string, unknown> {
  return {
    metadata: {
      resourceVersion: obj.metadata.resourceVersion,
      annotations: { [COMMAND_ANNOTATION]: null, [REASON_ANNOTATION]: null },
    },
  };
}
