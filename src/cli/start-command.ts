import { parseArgs } from "node:util";
import { loadConfig, settingsInForce, START_FLAGS } from "../config.js";
import { ConfigError } from "../errors.js";
import { createLogger } from "../log.js";
import { CaImportError } from "../ca/ca-import.js";
import { CaLoadError } from "../ca/local-ca-backend.js";
import { StoreCorruptError } from "../store/store.js";
import { startGds } from "../server.js";
import { watchNpmWrapperShell } from "./npm-wrapper-shell.js";
import { startUsage } from "./start-usage.js";

/** `gds start --help`, generated from the settings (src/cli/start-usage.ts). */
export const START_USAGE = startUsage();

/** `gds start`: exit code 2 for bad settings; runs until SIGTERM/SIGINT, then exits 0; SIGHUP reopens audit.log. */
export async function startCommand(args: string[]): Promise<number> {
  let flags: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries([...START_FLAGS.map((f) => [f, { type: "string" as const }]), ["help", { type: "boolean" as const, short: "h" }]]);
    flags = parseArgs({ args, options, allowPositionals: false, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    process.stderr.write(`gds start: ${(err as Error).message}\n\n${START_USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(START_USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig({ env: process.env, flags: flags as Record<string, string | undefined>, cwd: process.cwd() });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gds start: bad setting ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const { settings, notDefault } = settingsInForce(config);
  log.info({ settings }, `settings in force${notDefault.length ? `; not default: ${notDefault.map((env) => `${env}=${settings[env]}`).join(", ")}` : ": all defaults"}`);
  // Signals are watched from the first moment: a SIGTERM that arrives while the server is still
  // starting stops it as soon as it is up, instead of killing the process half-way. Only the
  // first counts: Ctrl-C under `npm start` delivers SIGINT twice (from the terminal and from npm),
  // and a second one must not kill the process half-way through its shutdown.
  let signalled: string | undefined;
  let onSignal: (signal: string) => void = (signal) => (signalled = signal);
  let stopRequested = false;
  const requestStop = (reason: string) => {
    if (stopRequested) return;
    stopRequested = true;
    onSignal(reason);
  };
  process.on("SIGTERM", () => requestStop("SIGTERM"));
  process.on("SIGINT", () => requestStop("SIGINT"));
  // Under `npx gds start`, npm signals only its wrapper shell: that shell's end is the stop request.
  watchNpmWrapperShell(() => requestStop("npm wrapper shell ended (npm was told to stop)"));
  // SIGHUP: reopen <data dir>/audit.log (log rotation: logrotate moves it, then signals). One
  // that arrives while starting is done once the server is up.
  let started: Awaited<ReturnType<typeof startGds>> | undefined;
  let hupPending = false;
  const reopenAuditLog = (gds: Awaited<ReturnType<typeof startGds>>) => {
    gds.reopenAuditLog().then(
      (file) => log.info({ file }, "audit log reopened"),
      (err) => log.error({ err }, "audit log reopen failed; still appending to the file that was open"),
    );
  };
  process.on("SIGHUP", () => {
    if (started) reopenAuditLog(started);
    else hupPending = true;
  });

  let gds;
  try {
    gds = await startGds(config, { logger: log });
  } catch (err) {
    // Bad CA files (a key without its certificate, a mismatch, a refused GDS_CA_CERT_FILE import)
    // are configuration problems like a damaged database: one line, exit 2, nothing replaced.
    if (err instanceof ConfigError || err instanceof StoreCorruptError || err instanceof CaLoadError || err instanceof CaImportError) {
      log.fatal({ err: err.message }, `cannot start: ${err.message}`);
      process.stderr.write(`gds start: ${err.message}\n`);
      return 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES") {
      process.stderr.write(`gds start: bad setting GDS_PORT: cannot listen on port ${config.port}: ${(err as Error).message}\n`);
      return 2;
    }
    log.fatal({ err }, "cannot start");
    return 1;
  }
  const running = gds;
  started = gds;
  if (hupPending) reopenAuditLog(gds);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "shutting down");
      // Hard deadline: a stuck client must not keep us past 5 s.
      const timer = setTimeout(() => {
        log.error("shutdown took longer than 5 s; exiting");
        resolve(0);
      }, 4500);
      running.stop().then(
        () => {
          clearTimeout(timer);
          resolve(0);
        },
        (err) => {
          clearTimeout(timer);
          log.error({ err }, "error during shutdown");
          resolve(1);
        },
      );
    };
    if (signalled) stop(signalled);
    else onSignal = stop;
  });
}
