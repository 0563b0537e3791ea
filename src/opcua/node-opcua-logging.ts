import { format } from "node:util";
import { setDebugLogger, setErrorLogger, setTraceLogger, setWarningLogger } from "node-opcua-debug";
import type { Logger } from "../log.js";

interface Context {
  filename: string;
  callerline: number;
}

const MAX_PER_SOURCE = 100;
const MAX_MESSAGE = 2000;

/**
 * node-opcua prints its own diagnostics with console.log, which would break our JSON log lines on
 * stdout. Route them into pino instead, tagged with their source, truncated, and rate-limited per
 * source line as node-opcua itself does. Secrets are taken out first (see redactSecrets).
 */
export function routeNodeOpcuaLogs(log: Logger): void {
  const counts = new Map<string, number>();
  const make = (level: "error" | "warn" | "debug") => (ctx?: unknown, ...args: unknown[]) => {
    const c = ctx as Context | undefined;
    const source = c && typeof c === "object" && "filename" in c ? `${c.filename}:${c.callerline}` : "node-opcua";
    const n = (counts.get(source) ?? 0) + 1;
    counts.set(source, n);
    if (n > MAX_PER_SOURCE) return;
    let msg = redactSecrets(format(...(args as [unknown, ...unknown[]])));
    if (msg.length > MAX_MESSAGE) msg = `${msg.slice(0, MAX_MESSAGE)}… (truncated)`;
    log[level]({ source: `node-opcua/${source}` }, msg);
  };
  setErrorLogger(make("error"));
  setWarningLogger(make("warn"));
  setDebugLogger(make("debug"));
  setTraceLogger(make("debug"));
}

/** node-opcua's dump of a whole request or response object: `{ /*ActivateSessionRequest*\/` and its fields. */
const OBJECT_DUMP = /\{ \/\*(\w+)\*\/[\s\S]*/;
/** A ByteString NodeId: the form of every session's authentication token. */
const BYTESTRING_NODEID = /\b(ns=\d+;)?b=[A-Za-z0-9+/=_-]+/g;
/** A field or argument that names a secret, with what follows it on the line. */
const SECRET_FIELD = /\b(password|authenticationToken|userIdentityToken|userTokenSignature|tokenData|privateKey|secret)\b([^\n]*)/gi;

/**
 * node-opcua logs requests it cannot decode or process as full object dumps (with the session's
 * authentication token and, in ActivateSession, the user identity token with its password), and
 * some refusals with the authentication token itself. What reaches our log keeps the type of the
 * message and the reason, never those values.
 */
export function redactSecrets(message: string): string {
  return message
    .replace(OBJECT_DUMP, (_all, type: string) => `[${type} contents withheld: they may hold authentication tokens and passwords]`)
    .replace(BYTESTRING_NODEID, (_all, ns: string | undefined) => `${ns ?? ""}b=[redacted]`)
    .replace(SECRET_FIELD, (_all, field: string) => `${field} [redacted]`);
}
