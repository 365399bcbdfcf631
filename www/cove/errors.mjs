// Cove's one error type. Every failure the snippet reports, on the page or from
// its Web Worker, is a CoveError with a stable `code` (the list is in
// cove.d.mts, `CoveErrorCode`), so a shop's code can branch on it.

export class CoveError extends Error {
  /**
   * @param {string} code stable, machine-readable (e.g. "bundle_fetch")
   * @param {string} message for people: what failed and, where it helps, what to do
   * @param {{ cause?: unknown, status?: number, url?: string }} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "CoveError";
    this.code = code;
    if (details.status !== undefined) this.status = details.status;
    if (details.url !== undefined) this.url = details.url;
  }
}

/** A CoveError (the shorthand the snippet's modules use). */
export function coveError(code, message, details) {
  return new CoveError(code, message, details);
}

/**
 * `error` as a CoveError: kept when it is one (or carries a code, like the
 * engine's typed errors), else wrapped under `code`.
 */
export function asCoveError(error, code, context) {
  if (error instanceof CoveError) return error;
  const message = String(error?.message ?? error);
  if (typeof error?.code === "string") return new CoveError(error.code, message, { cause: error });
  return new CoveError(code, context ? `${context}: ${message}` : message, { cause: error });
}
