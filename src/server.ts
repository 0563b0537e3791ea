import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { systemClock, type Clock } from "./clock.js";
import type { GdsConfig } from "./config.js";
import { acquireDataDirLock } from "./data-dir-lock.js";
import { fsyncDir, writeNewFileSynced } from "./durable-fs.js";
import { checkPortsFree } from "./startup-checks.js";
import { DirectoryService } from "./directory/directory-service.js";
import { QueryBudget } from "./directory/query-budget.js";
import { createLogger, type Logger } from "./log.js";
import { startGdsEndpoint, type GdsEndpoint } from "./opcua/gds-server.js";
import { opsAdminExtension } from "./opcua/install-ops-admin.js";
import { statusAdminExtension } from "./opcua/install-status-admin.js";
import { trustListExportAdminExtension } from "./opcua/install-trustlist-export-admin.js";
import { GdsMetrics } from "./http/metrics.js";
import { startMonitoringHttp } from "./http/monitoring.js";
import type { HttpListener } from "./http/http-server.js";
import { FigureSource, type PushFigures } from "./ops/gds-figures.js";
import { LowdbStore } from "./store/lowdb-store.js";
import { ADMIN_ROLES } from "./users/roles.js";
import { UserService } from "./users/user-service.js";
import { FileAuditLog } from "./audit/file-audit-log.js";
import { LocalCaBackend } from "./ca/local-ca-backend.js";
import { SecretBox } from "./secrets/secret-box.js";
import { CertificateManagerService } from "./requests/certificate-manager-service.js";
import { pushAdminExtension, type PushManagement } from "./opcua/install-push-admin.js";
import { DevicePushCycle } from "./push/push-cycle.js";
import { PushScheduler } from "./push/push-scheduler.js";
import { PushTargetService } from "./push/push-target-service.js";

export interface RunningGds {
  endpointUrl: string;
  port: number;
  directory: DirectoryService;
  users: UserService;
  certificates: CertificateManagerService;
  ca: LocalCaBackend;
  /** Base URL of the /metrics and /healthz listener; undefined when GDS_HTTP_PORT is 0. */
  httpUrl?: string;
  /** The node-opcua server behind the endpoint (e.g. suspendEndPoints() to see /healthz fail). */
  opcuaServer: GdsEndpoint["server"];
  /** Client certificates met on a secure channel without being trusted (server-pki/seen). */
  seenClientCertificates: GdsEndpoint["seenClientCertificates"];
  /** Push management (issue 4): targets and their status, and the scheduler. */
  push: PushManagement;
  /**
   * Log rotation (SIGHUP in `gds start`): once pending audit records are durable, reopens
   * `<data dir>/audit.log` afresh. Resolves with the file's path.
   */
  reopenAuditLog(): Promise<string>;
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
  let audit: FileAuditLog | undefined;
  let certificatesReady: Promise<CertificateManagerService> | undefined;
  try {
    // Everything that can refuse the start is checked before anything is created.
    await checkPortsFree(config);
    const ca = new LocalCaBackend({
      dataDir: config.dataDir,
      keySize: config.caKeySize,
      lifetimeMs: config.caLifetimeMs,
      subjectTemplate: config.caSubject,
      clock,
      log,
      importOnFirstStart: config.caCertFile && config.caKeyFile ? { certFile: config.caCertFile, keyFile: config.caKeyFile } : undefined,
    });
    await ca.check();
    store = new LowdbStore({ dir: config.dataDir });
    await store.open();
    const openStore = store;
    audit = await FileAuditLog.open({ dataDir: config.dataDir, clock, log });
    const directory = new DirectoryService({ store, clock, counterResetTime: store.createdAt, audit, maxRecordsPerQuery: config.maxRecordsPerQuery });
    await directory.init();
    // Failed logins are counted on /metrics once the metrics exist (they are made after the endpoint).
    let countLoginFailure: ((reason: string) => void) | undefined;
    const users = new UserService({ store, clock, audit, log, onLoginFailure: (reason) => countLoginFailure?.(reason) });
    await users.init();

    // Runs beside the endpoint's start-up: on a first start the CA keys are made in the thread
    // pool while the main thread loads the nodesets.
    const openAudit = audit;
    certificatesReady = (async () => {
      const caResult = await ca.initialize();
      for (const group of caResult.created) {
        const info = ca.info(group);
        await openAudit.record({ event: "CaCreated", actor: "system", outcome: "Good", group, detail: `${info.subject}, ${info.keyAlgorithm}, valid until ${info.notAfter.toISOString()}` });
      }
      for (const group of caResult.imported) {
        const info = ca.info(group);
        await openAudit.record({ event: "CaImported", actor: "system", outcome: "Good", group, detail: `${info.subject}, ${info.keyAlgorithm}, from GDS_CA_CERT_FILE/GDS_CA_KEY_FILE` });
      }
      const service = new CertificateManagerService({
        store: openStore,
        clock,
        ca,
        directory,
        audit: openAudit,
        secrets: SecretBox.open(config.dataDir),
        log,
        autoApprove: config.autoApprove,
        certOrganization: config.certOrganization,
        maxCertificatesPerDay: config.maxCertificatesPerDay,
        certLifetimeMs: config.certLifetimeMs,
        renewBeforeMs: config.renewBeforeMs,
        crlLifetimeMs: config.crlLifetimeMs,
      });
      await service.init();
      return service;
    })();
    // Awaited by the endpoint later; meanwhile a failure must not count as an unhandled rejection.
    certificatesReady.catch(() => undefined);
    // Push management (issue 4): the targets need only the store; the scheduler and its device
    // cycle need the CertificateManager. The scheduler starts once the endpoint listens.
    const pushTargets = new PushTargetService({ store: openStore, clock, directory, audit: openAudit, secrets: SecretBox.open(config.dataDir), log, requests: certificatesReady });
    await pushTargets.init();
    const pushReady: Promise<PushManagement> = certificatesReady.then((cm) => ({
      targets: pushTargets,
      scheduler: new PushScheduler({
        targets: pushTargets,
        certificates: cm,
        runner: new DevicePushCycle({ certificates: cm, dataDir: config.dataDir, log, clock }),
        clock,
        log,
        intervalMs: config.pushIntervalMs,
        concurrency: config.pushConcurrency,
        callTimeoutMs: config.pushTimeoutMs,
        renewBeforeMs: config.renewBeforeMs,
      }),
    }));
    pushReady.catch(() => undefined);
    // Operations (issue 5): figures for /metrics, the admin variables and GetStatus.
    const startedAt = new Date();
    let endpointUrlForStatus = "";
    // The push service (issue 4), once it exists: summary() and onPushFinished() for the figures.
    let pushFigures: PushFigures | undefined;
    let metrics: GdsMetrics | undefined;
    const endpoint = await startGdsEndpoint({
      onMethodCall: (call) => metrics?.observeMethodCall(call),
      certificates: certificatesReady,
      audit,
      port: config.port,
      hostname: config.hostname,
      bindAddress: config.bindAddress,
      connectionLimits: {
        maxSessions: config.maxSessions,
        reservedAuthenticatedSessions: config.reservedAuthenticatedSessions,
        maxChannelsPerAddress: config.maxChannelsPerAddress,
        maxAnonymousSessionsPerAddress: config.maxAnonymousSessionsPerAddress,
        maxPendingSessionsPerAddress: config.maxPendingSessionsPerAddress,
        sessionActivationTimeoutMs: config.sessionActivationTimeoutMs,
        anonymousSessionTimeoutMs: config.anonymousSessionTimeoutMs,
      },
      dataDir: config.dataDir,
      acceptUnknownCertificates: config.acceptUnknownCertificates,
      maxSeenClientCertificates: config.maxSeenClientCertificates,
      directory,
      queryBudget: new QueryBudget({ msPerSecond: config.queryBudgetMs }),
      users,
      log,
      adminExtensions: [
        opsAdminExtension({ directory, ca, audit, clock, renewBeforeMs: config.renewBeforeMs }),
        statusAdminExtension({ directory, clock, renewBeforeMs: config.renewBeforeMs, push: () => pushFigures, startedAt, endpointUrl: () => endpointUrlForStatus }),
        trustListExportAdminExtension(),
        pushAdminExtension(pushReady),
      ],
    });

    let stopping: Promise<void> | undefined;
    const cm = await certificatesReady;
    endpointUrlForStatus = endpoint.endpointUrl;
    metrics = new GdsMetrics(new FigureSource({ directory, certificates: cm, clock, renewBeforeMs: config.renewBeforeMs, push: () => pushFigures }));
    const openMetricsForLogins = metrics;
    countLoginFailure = (reason) => openMetricsForLogins.observeLoginFailure(reason);
    let http: HttpListener | undefined;
    try {
      http = await startMonitoringHttp({
        host: config.httpHost,
        port: config.httpPort,
        metrics,
        store: openStore,
        endpoint: { port: config.port, url: endpoint.endpointUrl, bindAddress: config.bindAddress },
        startedAt,
        log,
      });
      // The first start's admin user comes once the listeners are up: a start that fails leaves
      // no user behind, and the next one makes (and writes) the password afresh.
      await ensureAdminUser(users, config, log);
    } catch (err) {
      await http?.close().catch(() => undefined);
      metrics.close();
      await endpoint.stop().catch(() => undefined);
      throw err;
    }
    const openMetrics = metrics;
    const push = await pushReady;
    pushFigures = push.targets;
    // pushes by result (gds_pushes_total) from the first one on, not from the first scrape
    openMetrics.attachPush(push.targets);
    push.scheduler.start();
    // Last, so that whoever waits for this line (operators, scripts, tests) finds /healthz and
    // /metrics up too, not only the OPC UA endpoint.
    log.info({ endpointUrl: endpoint.endpointUrl, dataDir: config.dataDir, applications: directory.count() }, `listening on ${endpoint.endpointUrl}`);
    return {
      httpUrl: http?.url,
      opcuaServer: endpoint.server,
      seenClientCertificates: endpoint.seenClientCertificates,
      endpointUrl: endpoint.endpointUrl,
      port: config.port,
      directory,
      users,
      certificates: cm,
      ca,
      push,
      async reopenAuditLog() {
        await openAudit.reopen();
        return openAudit.file;
      },
      stop() {
        stopping ??= (async () => {
          try {
            // First: no new cycles, and running ones end (bounded) while the store is open.
            await push.scheduler.stop();
            await http?.close();
            openMetrics.close();
            await endpoint.stop();
          } finally {
            cm.close();
            await openAudit.close();
            await openStore.close();
            releaseLock();
            log.info("stopped");
          }
        })();
        return stopping;
      },
    };
  } catch (err) {
    (await certificatesReady?.catch(() => undefined))?.close();
    await audit?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    releaseLock();
    throw err;
  }
}

/** Where the first start leaves a generated admin password (0600): never in the log. */
export const INITIAL_ADMIN_PASSWORD_FILE = "initial-admin-password";

/**
 * First start with no users: create `admin` with every admin role. A generated password is
 * written (durably, 0600) before the user exists, so it is never lost; the log names the file.
 */
async function ensureAdminUser(users: UserService, config: GdsConfig, log: Logger): Promise<void> {
  if (users.count() > 0) return;
  if (config.adminPassword !== undefined) {
    await users.add("admin", [...ADMIN_ROLES], config.adminPassword);
    const source = config.adminPasswordFile ? `GDS_ADMIN_PASSWORD_FILE (${config.adminPasswordFile})` : "GDS_ADMIN_PASSWORD";
    log.info({ user: "admin", roles: ADMIN_ROLES }, `created user admin with the password from ${source}`);
    return;
  }
  const password = crypto.randomBytes(18).toString("base64url");
  const file = path.join(config.dataDir, INITIAL_ADMIN_PASSWORD_FILE);
  fs.rmSync(file, { force: true }); // left by a first start that failed
  await writeNewFileSynced(file, `${password}\n`, 0o600);
  await fsyncDir(config.dataDir);
  await users.add("admin", [...ADMIN_ROLES], password);
  log.warn({ user: "admin", passwordFile: file }, `created user admin with a generated password, in ${file} (readable by this user only): store it safely, then delete the file; or set GDS_ADMIN_PASSWORD_FILE before the first start`);
}
