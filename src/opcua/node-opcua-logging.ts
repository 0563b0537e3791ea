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
 * source line as node-opcua itself does.
 */
export function routeNodeOpcuaLogs(log: Logger): void {
  const counts = new Map<string, number>();
  const make = (level: "error" | "warn" | "debug") => (ctx?: unknown, ...args: unknown[]) => {
    const c = ctx as Context | undefined;
    const source = c && typeof c === "object" && "filename" in c ? `${c.filename}:${c.callerline}` : "node-opcua";
    const n = (counts.get(source) ?? 0) + 1;
    counts.set(source, n);
    if (n > MAX_PER_SOURCE) return;
    let msg = format(...(args as [unknown, ...unknown[]]));
    if (msg.length > MAX_MESSAGE) msg = `${msg.slice(0, MAX_MESSAGE)}… (truncated)`;
    log[level]({ source: `node-opcua/${source}` }, msg);
  };
  setErrorLogger(make("error"));
  setWarningLogger(make("warn"));
  setDebugLogger(make("debug"));
  setTraceLogger(make("debug"));
}
