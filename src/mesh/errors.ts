/**
 * Errors the mesh layer owns. Callers in other layers match them by class or by `name` (the machine routes a
 * failed weight write by `name === 'DriftError'`), so they live here, below their users.
 */

/** Thrown by setWeight when the cluster's weights are not the ones meshshift last wrote. */
export class DriftError extends Error {
  constructor(
    message: string,
    readonly found: number,
    readonly expected: number,
  ) {
    super(message);
    this.name = 'DriftError';
  }
}

/** The PeerAuthentication cannot be (or must not be) tightened; `fix` says what to change. */
export class MtlsError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'MtlsError';
  }
}
