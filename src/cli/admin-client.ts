import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  LogLevel,
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  setLogLevel,
  StatusCodes,
  UserTokenType,
  Variant,
  type ClientSession,
} from "node-opcua";
import { ADMIN_METHODS, ADMIN_NAMESPACE_URI, ADMIN_OBJECT_ID } from "../admin/admin-model.js";
import { adminArgumentVariant } from "../admin/admin-variant.js";
import { CliError, errorMessage, ExitCode } from "./cli-error.js";
import { checkServerPin } from "./server-pins.js";

/** Calls one admin method by its name in ADMIN_METHODS; returns the output argument values. */
export type AdminCall = (method: string, inputs: unknown[]) => Promise<unknown[]>;

export interface AdminSessionOptions {
  endpoint: string;
  user: string;
  password: string;
  /** The CLI's own certificate store; default {@link defaultCliPkiDir}. */
  pkiDir?: string;
  /** Upper bound for connect + session activation; default 10 s. */
  connectTimeoutMs?: number;
}

/** `$XDG_CONFIG_HOME/opcua-gds/cli-pki`, else `~/.config/opcua-gds/cli-pki`. */
export function defaultCliPkiDir(env: NodeJS.ProcessEnv): string {
  const configHome = env.XDG_CONFIG_HOME || path.join(os.homedir(), ".config");
  return path.join(configHome, "opcua-gds", "cli-pki");
}

/** RequestHeader.returnDiagnostics: operation-level SymbolicId + LocalizedText (the server's message). */
const RETURN_DIAGNOSTICS = 0x20 | 0x40;

const ACCESS_DENIED = new Set(["BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid"]);

/**
 * The CliError for a Bad StatusCode returned by the server. `serverText` is the server's message
 * (operation-level diagnostics); `subject` is what the call was about (an id or name), used when
 * the server sent no message of its own.
 */
export function errorForStatus(statusName: string, serverText: string | null | undefined, subject?: string): CliError {
  const standardText = (StatusCodes as unknown as Record<string, { description?: string } | undefined>)[statusName]?.description;
  const ownText = serverText && serverText !== standardText ? serverText : undefined;
  const detail = ownText ?? subject ?? standardText ?? statusName;
  if (ACCESS_DENIED.has(statusName)) return new CliError(`access denied: ${detail}`, ExitCode.AccessDenied);
  if (statusName === "BadNotFound") return new CliError(`not found: ${detail}`, ExitCode.NotFound);
  if (statusName === "BadEntryExists") return new CliError(`already exists: ${detail}`, ExitCode.AlreadyExists);
  return new CliError(`${statusName}: ${ownText ?? standardText ?? subject ?? "failed"}`, ExitCode.Failure);
}

/** The StatusCode name carried by a node-opcua client error (ServiceFault or message text), if any. */
export function statusNameOfError(err: unknown): string | undefined {
  const fault = (err as { response?: { responseHeader?: { serviceResult?: { name?: string } } } })?.response;
  const name = fault?.responseHeader?.serviceResult?.name;
  if (name && name.startsWith("Bad")) return name;
  const match = /\b(Bad[A-Za-z]+)\b/.exec(errorMessage(err));
  return match?.[1];
}

function reasonOf(err: unknown): string {
  const message = errorMessage(err);
  return message.replace(/\s+/g, " ").trim() || "unknown error";
}

/** node-opcua logs warnings and errors to the console; a CLI must not. NODEOPCUA_LOG_LEVEL still wins. */
function quietNodeOpcua(env: NodeJS.ProcessEnv): void {
  if (!env.NODEOPCUA_LOG_LEVEL) setLogLevel(LogLevel.Emergency);
}


/** Why a TCP connection to the endpoint's host and port fails, or undefined when it succeeds. */
export async function probeTcp(endpoint: string, timeoutMs = 3000): Promise<string | undefined> {
  let host: string;
  let port: number;
  try {
    const url = new URL(endpoint);
    host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    port = url.port ? Number(url.port) : 4840;
  } catch {
    return "invalid endpoint URL";
  }
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (reason: string | undefined) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer from ${host}:${port} within ${timeoutMs / 1000} s`));
    socket.once("connect", () => done(undefined));
    socket.once("error", (err: NodeJS.ErrnoException) => {
      switch (err.code) {
        case "ECONNREFUSED":
          return done(`connection refused by ${host}:${port} (is the server running?)`);
        case "ENOTFOUND":
        case "EAI_AGAIN":
          return done(`unknown host ${host}`);
        case "EHOSTUNREACH":
        case "ENETUNREACH":
          return done(`host ${host} is unreachable`);
        default:
          return done(`${err.code ?? "error"}: ${err.message}`);
      }
    });
  });
}

async function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function makeCall(session: ClientSession, ns: number): AdminCall {
  const objectId = new NodeId(NodeId.NodeIdType.NUMERIC, ADMIN_OBJECT_ID, ns);
  return async (methodName, inputs) => {
    const method = ADMIN_METHODS.find((m) => m.name === methodName);
    if (!method) throw new CliError(`internal error: unknown admin method ${methodName}`, ExitCode.Failure);
    if (inputs.length !== method.inputs.length) {
      throw new CliError(`internal error: ${methodName} takes ${method.inputs.length} arguments, got ${inputs.length}`, ExitCode.Failure);
    }
    let inputArguments: Variant[];
    try {
      inputArguments = method.inputs.map((a, i) => adminArgumentVariant(a.type, inputs[i], a.name));
    } catch (err) {
      throw new CliError(`internal error: ${(err as Error).message}`, ExitCode.Failure);
    }
    const subject = typeof inputs[0] === "string" ? inputs[0] : undefined;
    let answer;
    try {
      answer = await session.callWithDiagnostics(
        [{ objectId, methodId: new NodeId(NodeId.NodeIdType.NUMERIC, method.id, ns), inputArguments }],
        RETURN_DIAGNOSTICS,
      );
    } catch (err) {
      const name = statusNameOfError(err);
      throw name ? errorForStatus(name, reasonOf(err), subject) : new CliError(`${methodName} failed: ${reasonOf(err)}`, ExitCode.Failure);
    }
    const result = answer.results[0];
    if (!result) throw new CliError(`${methodName}: the server returned no result`, ExitCode.Failure);
    if (result.statusCode.isNotGood()) {
      throw errorForStatus(result.statusCode.name, answer.diagnosticStrings[0]?.localizedText, subject);
    }
    return (result.outputArguments ?? []).map((v) => v.value as unknown);
  };
}

/**
 * Opens a SignAndEncrypt (Basic256Sha256) session as a user, hands `fn` a function that calls the
 * admin methods by name, and always closes the session and the connection, also when `fn` throws.
 * Failures become CliError with the exit codes of cli-error.ts.
 *
 * The CLI trusts a server's certificate on first contact with that endpoint and refuses a
 * different one later (server-pins.ts); the server must trust the CLI's certificate, created on
 * first use.
 */
export async function withAdminSession<T>(opts: AdminSessionOptions, fn: (call: AdminCall) => Promise<T>): Promise<T> {
  quietNodeOpcua(process.env);
  const hostname = os.hostname();
  const pkiDir = opts.pkiDir ?? defaultCliPkiDir(process.env);
  const clientCertificateManager = new OPCUACertificateManager({
    rootFolder: pkiDir,
    automaticallyAcceptUnknownCertificate: true,
  });
  const client = OPCUAClient.create({
    applicationName: "opcua-gds CLI",
    applicationUri: `urn:${hostname}:opcua-gds:cli`,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    keepSessionAlive: false,
    connectionStrategy: { maxRetry: 1, initialDelay: 200, maxDelay: 500 },
    clientCertificateManager,
  });
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  let session: ClientSession | undefined;
  try {
    try {
      await withDeadline(client.connect(opts.endpoint), timeoutMs, () => new Error(`no answer within ${timeoutMs / 1000} s`));
    } catch (err) {
      // node-opcua's message hides the socket error; a plain TCP probe tells refused from unknown host
      let reason = (await probeTcp(opts.endpoint)) ?? reasonOf(err);
      if (/BadSecurityChecksFailed|BadCertificateUntrusted/.test(reason)) {
        reason += `; the server may not trust the CLI's certificate ${path.join(pkiDir, "own", "certs", "client_certificate.pem")} (move it from the server's rejected folder to its trusted folder)`;
      }
      throw new CliError(`cannot connect to ${opts.endpoint}: ${reason}`, ExitCode.CannotConnect);
    }
    // The password goes out in ActivateSession: only to the server we know.
    const serverCertificate = client.serverCertificate;
    const serverDer = Array.isArray(serverCertificate) ? serverCertificate[0] : serverCertificate;
    if (!serverDer) throw new CliError(`cannot connect to ${opts.endpoint}: the server presented no certificate`, ExitCode.CannotConnect);
    checkServerPin(pkiDir, opts.endpoint, Buffer.from(serverDer), (line) => process.stderr.write(line));
    try {
      session = await withDeadline(
        client.createSession({ type: UserTokenType.UserName, userName: opts.user, password: opts.password }),
        timeoutMs,
        () => new Error(`no session within ${timeoutMs / 1000} s`),
      );
    } catch (err) {
      const name = statusNameOfError(err);
      if (name && ACCESS_DENIED.has(name)) {
        throw new CliError(`access denied: user ${opts.user} was rejected by ${opts.endpoint} (${name})`, ExitCode.AccessDenied);
      }
      throw new CliError(`cannot open a session on ${opts.endpoint}: ${reasonOf(err)}`, ExitCode.CannotConnect);
    }
    const namespaces = await session.readNamespaceArray();
    const ns = namespaces.indexOf(ADMIN_NAMESPACE_URI);
    if (ns < 0) {
      throw new CliError(`${opts.endpoint} has no admin namespace (${ADMIN_NAMESPACE_URI}); is it an opcua-gds server?`, ExitCode.Failure);
    }
    return await fn(makeCall(session, ns));
  } finally {
    if (session) await session.close().catch(() => undefined);
    await client.disconnect().catch(() => undefined);
  }
}
