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

/** One finished method call, as metrics see it (issue 5: calls and their duration by method and status). */
export interface MethodCallObservation {
  /** The method's BrowseName. */
  method: string;
  /** The StatusCode's name: "Good", "BadUserAccessDenied", … */
  status: string;
  seconds: number;
}

export type MethodCallObserver = (observation: MethodCallObservation) => void;

/** Observers by address space: several servers in one process (tests) each count their own calls. */
const methodCallObservers = new WeakMap<object, MethodCallObserver>();

/**
 * Reports every call of a method bound with makeMethodHandler in this address space (Directory,
 * CertificateManager, trust-list files, admin object). Returns the function that stops it.
 */
export function observeMethodCalls(addressSpace: object, observer: MethodCallObserver): () => void {
  methodCallObservers.set(addressSpace, observer);
  return () => {
    if (methodCallObservers.get(addressSpace) === observer) methodCallObservers.delete(addressSpace);
  };
}

function reportMethodCall(context: ISessionContext, method: string, status: string, startedNs: bigint): void {
  const addressSpace = (context.object as { addressSpace?: object } | undefined)?.addressSpace;
  const observer = addressSpace ? methodCallObservers.get(addressSpace) : undefined;
  if (!observer) return;
  try {
    observer({ method, status, seconds: Number(process.hrtime.bigint() - startedNs) / 1e9 });
  } catch {
    // metrics never break a call
  }
}

export function makeMethodHandler(opts: HandlerOptions): MethodFunctorA {
  const { method, security, body, log } = opts;
  // node-opcua requires exactly two declared parameters for an async handler.
  return async function (inputArguments: Variant[], context: ISessionContext): Promise<MethodResult> {
    const started = process.hrtime.bigint();
    const call: CallContext = { context, method, userName: safeUserName(context) };
    try {
      checkSecurityMode(context, security);
      const out = (await body(inputArguments ?? [], call)) ?? [];
      reportMethodCall(context, method, "Good", started);
      return { statusCode: StatusCodes.Good, outputArguments: out };
    } catch (err) {
      if (err instanceof GdsError) {
        const known = (StatusCodes as unknown as Record<string, typeof StatusCodes.Good>)[err.statusName];
        const statusCode = known ?? StatusCodes.BadInternalError;
        log.info({ method, user: call.userName, status: err.statusName, reason: err.message }, "method refused");
        reportMethodCall(context, method, known ? err.statusName : "BadInternalError", started);
        return { statusCode, statusText: err.message };
      }
      log.error({ method, user: call.userName, err }, "method failed");
      reportMethodCall(context, method, "BadInternalError", started);
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
