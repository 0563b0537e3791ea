/**
 * An error the `gds` CLI reports as one line on stderr and turns into its exit code.
 *
 * Exit codes (a contract for scripts):
 *   0 success · 1 other failure (the server's StatusCode name is in the message) · 2 usage or
 *   configuration error · 3 cannot connect · 4 access denied · 5 not found · 6 already exists
 */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  CannotConnect: 3,
  AccessDenied: 4,
  NotFound: 5,
  AlreadyExists: 6,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** Usage text to print after the message (usage errors only). */
    readonly usage?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** The message of anything thrown (also Errors from another realm, e.g. under jest's vm modules). */
export function errorMessage(err: unknown): string {
  const message = (err as { message?: unknown } | null | undefined)?.message;
  return typeof message === "string" ? message : String(err);
}
