import { parseArgs } from "node:util";
import { loadConfig, START_FLAGS } from "../config.js";
import { ConfigError } from "../errors.js";
import { createLogger } from "../log.js";
import { CaImportError } from "../ca/ca-import.js";
import { CaLoadError } from "../ca/local-ca-backend.js";
import { StoreCorruptError } from "../store/store.js";
import { startGds } from "../server.js";

export const START_USAGE = `Usage: gds start [options]

Runs the GDS server in the foreground. Every option is also an env var and a key in
<data dir>/gds.config.json; env vars win over flags, flags over the file.
SIGTERM/SIGINT stop it; SIGHUP reopens <data dir>/audit.log (log rotation, pid in gds.lock).

  --port N                          GDS_PORT (4840)
  --hostname NAME                   GDS_HOSTNAME (this machine's host name)
  --data-dir DIR                    GDS_DATA_DIR (./pki)
  --admin-password PW               GDS_ADMIN_PASSWORD (random, printed once, on the first start)
  --log-level LEVEL                 GDS_LOG_LEVEL (info)
  --accept-unknown-certificates B   GDS_ACCEPT_UNKNOWN_CERTIFICATES (true): admit client certificates
                                    nobody trusted, per connection (never added to the trust store)
  --max-seen-client-certificates N  GDS_MAX_SEEN_CLIENT_CERTIFICATES (1000): unknown client
                                    certificates listed in <data dir>/server-pki/seen
  --http-port N                     GDS_HTTP_PORT (4841): GET /metrics and /healthz; 0 = off
  --http-host ADDR                  GDS_HTTP_HOST (127.0.0.1)
  --bind-address ADDR               GDS_BIND_ADDRESS (all interfaces): address the opc.tcp listener binds
  --max-sessions N                  GDS_MAX_SESSIONS (200): sessions of the whole server
  --reserved-authenticated-sessions N
                                    GDS_RESERVED_AUTHENTICATED_SESSIONS (20): kept for user/X509 logons
  --max-channels-per-address N      GDS_MAX_CHANNELS_PER_ADDRESS (100): connections per client IP
  --max-anonymous-sessions-per-address N
                                    GDS_MAX_ANONYMOUS_SESSIONS_PER_ADDRESS (16)
  --max-pending-sessions-per-address N
                                    GDS_MAX_PENDING_SESSIONS_PER_ADDRESS (64): not yet activated
  --session-activation-timeout DUR  GDS_SESSION_ACTIVATION_TIMEOUT (15s)
  --anonymous-session-timeout DUR   GDS_ANONYMOUS_SESSION_TIMEOUT (5m): idle anonymous sessions close
  --push-interval DUR               GDS_PUSH_INTERVAL (1h): how often push management looks for work
  --push-concurrency N              GDS_PUSH_CONCURRENCY (4): push cycles at once
  --push-timeout DUR                GDS_PUSH_TIMEOUT (30s): per call to a push-managed device
  --cert-organization NAME          GDS_CERT_ORGANIZATION (none): O= of every issued certificate
  --max-certificates-per-day N      GDS_MAX_CERTIFICATES_PER_DAY (20): per application and group
  --max-records-per-query N         GDS_MAX_RECORDS_PER_QUERY (1000): records per QueryApplications/
                                    QueryServers call (MaxRecordsToReturn 0 or larger gets this)
  --query-budget-ms N               GDS_QUERY_BUDGET_MS (100): directory scan ms per second per
                                    session (anonymous ones of one address: 4x); 0 = unlimited
`;

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
  // Signals are watched from the first moment: a SIGTERM that arrives while the server is still
  // starting stops it as soon as it is up, instead of killing the process half-way.
  let signalled: string | undefined;
  let onSignal: (signal: string) => void = (signal) => (signalled = signal);
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));
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
