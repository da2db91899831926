/** One preflight check's result. Type only and import-free: history entries carry it to every renderer. */
export interface PreflightCheck {
  id: string;
  ok: boolean;
  message: string;
  /** What to do about it, when not ok. */
  fix?: string;
  /** The check could not run (API or Prometheus unavailable, 5xx, timeout): waited out, however long it takes. */
  transient?: boolean;
  /**
   * Nothing was found wrong, but the evidence is not there yet (Prometheus has seen no traffic so far): tried a few
   * more times before it ends the migration.
   */
  awaiting?: boolean;
}
