import crypto from "node:crypto";
import { systemClock, type Clock } from "./clock.js";
import type { GdsConfig } from "./config.js";
import { acquireDataDirLock } from "./data-dir-lock.js";
import { DirectoryService } from "./directory/directory-service.js";
import { createLogger, type Logger } from "./log.js";
import { startGdsEndpoint } from "./opcua/gds-server.js";
import { LowdbStore } from "./store/lowdb-store.js";
import { ADMIN_ROLES } from "./users/roles.js";
import { UserService } from "./users/user-service.js";
import type { AuditLog } from "./audit/audit-log.types.js";
import type { CaBackend } from "./ca/ca-backend.js";
import { CertificateManagerService } from "./requests/certificate-manager-service.js";

export interface RunningGds {
  endpointUrl: string;
  port: number;
  directory: DirectoryService;
  users: UserService;
  /** Stops accepting connections, flushes the store, releases the data dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  clock?: Clock;
}

/** The composition root: store, services and the OPC UA endpoint, built from the config. */
export async function startGds(config: GdsConfig, options: StartOptions = {}): Promise<RunningGds> {
  const log = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const releaseLock = acquireDataDirLock(config.dataDir);
  let store: LowdbStore | undefined;
  try {
    store = new LowdbStore({ dir: config.dataDir });
    await store.open();
    const directory = new DirectoryService({ store, clock, counterResetTime: store.createdAt });
    await directory.init();
    const users = new UserService({ store, clock });
    await users.init();
    await ensureAdminUser(users, config, log);

    // TEMPORARY wiring while the CA backend and audit log are being written.
    const certificates = new CertificateManagerService({
      store,
      clock,
      ca: {} as CaBackend,
      directory,
      audit: {} as AuditLog,
      log,
      dataDir: config.dataDir,
      autoApprove: config.autoApprove,
      certLifetimeMs: config.certLifetimeMs,
      renewBeforeMs: config.renewBeforeMs,
      crlLifetimeMs: config.crlLifetimeMs,
    });
    const endpoint = await startGdsEndpoint({
      certificates,
      port: config.port,
      hostname: config.hostname,
      dataDir: config.dataDir,
      acceptUnknownCertificates: config.acceptUnknownCertificates,
      directory,
      users,
      log,
    });
    log.info({ endpointUrl: endpoint.endpointUrl, dataDir: config.dataDir, applications: directory.count() }, `listening on ${endpoint.endpointUrl}`);

    let stopping: Promise<void> | undefined;
    const openStore = store;
    return {
      endpointUrl: endpoint.endpointUrl,
      port: config.port,
      directory,
      users,
      stop() {
        stopping ??= (async () => {
          try {
            await endpoint.stop();
          } finally {
            await openStore.close();
            releaseLock();
            log.info("stopped");
          }
        })();
        return stopping;
      },
    };
  } catch (err) {
    await store?.close().catch(() => undefined);
    releaseLock();
    throw err;
  }
}

/** First start with no users: create `admin` with every admin role. */
async function ensureAdminUser(users: UserService, config: GdsConfig, log: Logger): Promise<void> {
  if (users.count() > 0) return;
  const generated = config.adminPassword === undefined;
  const password = config.adminPassword ?? crypto.randomBytes(18).toString("base64url");
  await users.add("admin", [...ADMIN_ROLES], password);
  if (generated) {
    // Printed once, on purpose: this is the only way an operator learns it.
    log.warn({ user: "admin", generatedPassword: password }, "created user admin with a generated password; it is shown only this once: store it, or set GDS_ADMIN_PASSWORD before the first start");
  } else {
    log.info({ user: "admin", roles: ADMIN_ROLES }, "created user admin with the password from GDS_ADMIN_PASSWORD");
  }
}
