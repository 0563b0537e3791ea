import type { ISessionContext, MethodFunctorA, MethodResult } from "node-opcua";
import { MessageSecurityMode, StatusCodes, type Variant } from "node-opcua";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * One place that turns a domain call into a CallMethodResult: security-mode gate, role gate,
 * GdsError → StatusCode + text (the client sees the text as operation-level diagnostics when it
 * asks for them, returnDiagnostics 0x40), and anything unexpected → BadInternalError, logged.
 */
export type SecurityRequirement = "sign" | "signAndEncrypt";

export interface CallContext {
  readonly context: ISessionContext;
  /** The method's BrowseName, for logs. */
  readonly method: string;
  /** The authenticated user name, or "anonymous". */
  readonly userName: string;
}

export type MethodBody = (args: Variant[], call: CallContext) => Promise<Variant[] | void>;

export interface HandlerOptions {
  method: string;
  security: SecurityRequirement;
  /** Throws GdsError("BadUserAccessDenied") when the caller may not call this (after decoding). */
  body: MethodBody;
  log: Logger;
}

export function securityModeOf(context: ISessionContext): MessageSecurityMode {
  return context.session?.channel?.securityMode ?? MessageSecurityMode.Invalid;
}

export function checkSecurityMode(context: ISessionContext, required: SecurityRequirement): void {
  const mode = securityModeOf(context);
  const ok = required === "sign" ? mode === MessageSecurityMode.Sign || mode === MessageSecurityMode.SignAndEncrypt : mode === MessageSecurityMode.SignAndEncrypt;
  if (!ok) {
    throw new GdsError(
      "BadSecurityModeInsufficient",
      `this method needs a ${required === "sign" ? "signed (Sign or SignAndEncrypt)" : "SignAndEncrypt"} secure channel; this one is ${MessageSecurityMode[mode]}`,
    );
  }
}

export function makeMethodHandler(opts: HandlerOptions): MethodFunctorA {
  const { method, security, body, log } = opts;
  // node-opcua requires exactly two declared parameters for an async handler.
  return async function (inputArguments: Variant[], context: ISessionContext): Promise<MethodResult> {
    const call: CallContext = { context, method, userName: safeUserName(context) };
    try {
      checkSecurityMode(context, security);
      const out = (await body(inputArguments ?? [], call)) ?? [];
      return { statusCode: StatusCodes.Good, outputArguments: out };
    } catch (err) {
      if (err instanceof GdsError) {
        const statusCode = (StatusCodes as unknown as Record<string, typeof StatusCodes.Good>)[err.statusName] ?? StatusCodes.BadInternalError;
        log.info({ method, user: call.userName, status: err.statusName, reason: err.message }, "method refused");
        return { statusCode, statusText: err.message };
      }
      log.error({ method, user: call.userName, err }, "method failed");
      return { statusCode: StatusCodes.BadInternalError, statusText: "internal error; see the server log" };
    }
  };
}

function safeUserName(context: ISessionContext): string {
  try {
    return context.getUserName() || "anonymous";
  } catch {
    return "anonymous";
  }
}
