/**
 * Domain errors carry the name of the OPC UA StatusCode the spec gives for the failure
 * (e.g. "BadInvalidArgument") and a human message. Domain code never imports node-opcua's
 * server layer; src/opcua/ turns the name into the method's StatusCode.
 */
export type GdsStatusName =
  | "BadInvalidArgument"
  | "BadNotFound"
  | "BadEntryExists"
  | "BadWriteNotSupported"
  | "BadUserAccessDenied"
  | "BadSecurityModeInsufficient"
  | "BadNothingToDo"
  | "BadRequestNotAllowed"
  | "BadCertificateUriInvalid"
  | "BadConfigurationError"
  | "BadInternalError"
  | "BadInvalidState"
  | "BadNotSupported"
  | "BadTooManyOperations"
  | "BadOutOfRange"
  | "BadNotImplemented"
  | "BadCertificateInvalid"
  | "BadNotWritable"
  | "BadNotReadable"
  | "BadTransactionPending"
  | "BadEncodingLimitsExceeded"
  | "BadDecodingError"
  | "BadCertificateChainIncomplete";

export class GdsError extends Error {
  constructor(
    readonly statusName: GdsStatusName,
    message: string,
  ) {
    super(message);
    this.name = "GdsError";
  }
}

/** Start-up configuration problems: one clear line, exit code 2. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = "ConfigError";
  }
}
