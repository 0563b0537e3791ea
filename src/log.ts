import pino, { type Logger } from "pino";

export type { Logger };

/**
 * pino JSON on stdout; human-readable (pino-pretty) when stdout is a terminal.
 * Secrets never go into log fields: keys, passwords and CSRs are redacted by path as a second
 * line of defence.
 */
export function createLogger(level: string, opts: { pretty?: boolean; destination?: pino.DestinationStream } = {}): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  const base: pino.LoggerOptions = {
    level,
    base: { name: "opcua-gds" },
    redact: { paths: ["password", "*.password", "privateKey", "*.privateKey", "csr", "*.csr"], censor: "[redacted]" },
  };
  if (opts.destination) return pino(base, opts.destination);
  if (pretty) {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:standard" } } });
  }
  return pino(base, pino.destination({ dest: 1, sync: true }));
}
