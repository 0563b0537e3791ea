import type { AuditLog } from "../audit/audit-log.types.js";
import type { Clock } from "../clock.js";
import type { ApplicationRecord } from "../directory/application-record.js";
import type { DirectoryService } from "../directory/directory-service.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { SecretBox } from "../secrets/secret-box.js";
import type { Store } from "../store/store.js";
import type { PushCycleRequest, PushCycleResult, PushSecurityMode, PushTarget } from "./push-cycle.types.js";
import {
  DEFAULT_PUSH_SECURITY_MODE,
  DEFAULT_PUSH_SECURITY_POLICY,
  PUSH_SECURITY_MODES,
  PUSH_SECURITY_POLICIES,
  PUSH_STATUS_COLLECTION,
  PUSH_TARGETS_COLLECTION,
  type PushFinishedEvent,
  type PushSecurityPolicy,
  type PushStatusRecord,
  type PushStatusView,
  type PushTargetView,
  type SetPushTargetInput,
  type StoredPushIdentity,
  type StoredPushTarget,
} from "./push-target.types.js";

/** What removal needs of the CertificateManager (CertificateManagerService). */
export interface PushRequestDecisions {
  reject(requestId: string, actor: string, reason: string, opts: { onlyIfPending: boolean }): Promise<unknown>;
}

export interface PushTargetServiceOptions {
  store: Store;
  clock: Clock;
  directory: DirectoryService;
  audit: AuditLog;
  secrets: SecretBox;
  log: Logger;
  /**
   * The CertificateManager (or its promise, while it starts): removing a push target rejects the
   * signing request its device was waiting for ("push target removed"), unless it is no longer
   * pending. Without it, such a request stays pending until an admin decides it.
   */
  requests?: PushRequestDecisions | Promise<PushRequestDecisions>;
}

/** The reason a removed push target's pending signing request is rejected with. */
export const PUSH_TARGET_REMOVED_REASON = "push target removed";

const MAX_USER_NAME = 256;
const MAX_PASSWORD = 1024;
const MAX_URL = 1024;
const MAX_ERROR_MESSAGE = 500;
const SECURITY_POLICY_URI_PREFIX = "http://opcfoundation.org/UA/SecurityPolicy#";

/** The actor of pushes nobody asked for (renewal, trust-list change, retries). */
export const PUSH_SCHEDULER_ACTOR = "push-scheduler";

/** opc.tcp://host:port[/path]; the port is required (devices rarely sit on 4840 and guessing hides typos). */
export function validateEndpointUrl(text: string): string {
  const s = text.trim();
  if (s === "") throw new GdsError("BadInvalidArgument", "EndpointUrl: must not be empty (expected opc.tcp://host:port)");
  if (s.length > MAX_URL) throw new GdsError("BadInvalidArgument", `EndpointUrl: longer than ${MAX_URL} characters`);
  const m = /^opc\.tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})(\/\S*)?$/i.exec(s);
  if (!m) throw new GdsError("BadInvalidArgument", `EndpointUrl: expected opc.tcp://host:port[/path], got ${JSON.stringify(s.slice(0, 100))}`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new GdsError("BadInvalidArgument", `EndpointUrl: port must be 1–65535, got ${m[2]}`);
  return s;
}

/** A short policy name or its full URI (case-insensitive) → the short name; "" → Basic256Sha256. */
export function parseSecurityPolicy(text: string | undefined): PushSecurityPolicy {
  const s = (text ?? "").trim();
  if (s === "") return DEFAULT_PUSH_SECURITY_POLICY;
  const short = s.toLowerCase().startsWith(SECURITY_POLICY_URI_PREFIX.toLowerCase()) ? s.slice(SECURITY_POLICY_URI_PREFIX.length) : s;
  const policy = PUSH_SECURITY_POLICIES.find((p) => p.toLowerCase() === short.toLowerCase());
  if (!policy) {
    throw new GdsError("BadInvalidArgument", `SecurityPolicy: expected one of ${PUSH_SECURITY_POLICIES.join(", ")} (or its URI), got ${JSON.stringify(s.slice(0, 100))}`);
  }
  return policy;
}

/** "Sign" or "SignAndEncrypt" (case-insensitive); "" → SignAndEncrypt. */
export function parseSecurityMode(text: string | undefined): PushSecurityMode {
  const s = (text ?? "").trim();
  if (s === "") return DEFAULT_PUSH_SECURITY_MODE;
  const mode = PUSH_SECURITY_MODES.find((m) => m.toLowerCase() === s.toLowerCase());
  if (!mode) throw new GdsError("BadInvalidArgument", `SecurityMode: expected SignAndEncrypt or Sign (None cannot carry credentials), got ${JSON.stringify(s.slice(0, 100))}`);
  return mode;
}

function sealContext(applicationId: string, userName: string): string {
  return `pushTarget:${applicationId}:${userName}`;
}

function excerpt(s: string, max = MAX_ERROR_MESSAGE): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * Push targets: which registered applications the GDS manages by push (OPC 10000-12 §7.10) and how
 * to reach them, plus each device's push status. Everything lives in the store (the scheduler
 * derives what is due from it, so a restart loses nothing); the device password only sealed.
 * Read-modify-write of a record runs under one mutex.
 */
export class PushTargetService {
  private mutexTail: Promise<unknown> = Promise.resolve();
  private readonly finishedListeners: ((e: PushFinishedEvent) => void)[] = [];
  private readonly changedListeners: ((applicationId: string) => void)[] = [];
  /** Kept in memory only for summary() (metrics); rebuilt from the store at init. */
  private readonly failing = new Set<string>();
  private managed = 0;

  constructor(private readonly opts: PushTargetServiceOptions) {}

  async init(): Promise<void> {
    const targets = await this.opts.store.values<StoredPushTarget>(PUSH_TARGETS_COLLECTION);
    this.managed = targets.length;
    for (const s of await this.opts.store.values<PushStatusRecord>(PUSH_STATUS_COLLECTION)) {
      if (s.lastResult === "failed" && targets.some((t) => t.applicationId === s.applicationId)) this.failing.add(s.applicationId);
    }
    // Unregistering an application ends its push management (inside the directory's mutex).
    this.opts.directory.onUnregister(async (record, actor) => {
      await this.removeIfPresent(record, actor ?? "system");
    });
  }

  // --- targets --------------------------------------------------------------------------------

  /** SetPushTarget: creates or replaces the push target of a registered application. */
  async setTarget(input: SetPushTargetInput, actor: string): Promise<PushTargetView> {
    const app = this.opts.directory.get(input.applicationId);
    const endpointUrl = validateEndpointUrl(input.endpointUrl);
    const securityPolicy = parseSecurityPolicy(input.securityPolicy);
    const securityMode = parseSecurityMode(input.securityMode);
    const userName = (input.userName ?? "").trim();
    const password = input.password ?? "";
    if (userName.length > MAX_USER_NAME) throw new GdsError("BadInvalidArgument", `UserName: longer than ${MAX_USER_NAME} characters`);
    if (password.length > MAX_PASSWORD) throw new GdsError("BadInvalidArgument", `Password: longer than ${MAX_PASSWORD} characters`);
    if (input.useGdsCertificate && (userName !== "" || password !== "")) {
      throw new GdsError("BadInvalidArgument", "UserName/Password: leave them empty with UseGdsCertificate (the GDS then logs in with its own application certificate)");
    }
    if (!input.useGdsCertificate && userName === "") {
      throw new GdsError("BadInvalidArgument", "UserName: required (the device user holding SecurityAdmin), unless UseGdsCertificate is true");
    }
    return this.exclusive(async () => {
      const existing = await this.opts.store.get<StoredPushTarget>(PUSH_TARGETS_COLLECTION, app.applicationId);
      let identity: StoredPushIdentity;
      if (input.useGdsCertificate) {
        identity = { kind: "certificate" };
      } else if (password !== "") {
        identity = { kind: "userName", userName, sealedPassword: this.opts.secrets.seal(password, sealContext(app.applicationId, userName)) };
      } else if (existing?.identity.kind === "userName" && existing.identity.userName === userName) {
        identity = existing.identity; // same user, no new password: keep the stored one
      } else {
        throw new GdsError("BadInvalidArgument", "Password: required for a new push target or a new UserName");
      }
      const now = this.opts.clock.now().toISOString();
      const target: StoredPushTarget = {
        applicationId: app.applicationId,
        endpointUrl,
        securityPolicy,
        securityMode,
        identity,
        regeneratePrivateKey: input.regeneratePrivateKey ?? true,
        group: "DefaultApplicationGroup",
        createdAt: existing?.createdAt ?? now,
        createdBy: existing?.createdBy ?? actor,
        updatedAt: now,
        updatedBy: actor,
      };
      const status = await this.opts.store.get<PushStatusRecord>(PUSH_STATUS_COLLECTION, app.applicationId);
      // New settings deserve a prompt try: the backoff of the old ones does not apply.
      const newStatus: PushStatusRecord = status ? { ...status, consecutiveFailures: 0 } : { applicationId: app.applicationId, consecutiveFailures: 0 };
      delete newStatus.nextAttemptAt;
      await this.opts.store.commit([
        { collection: PUSH_TARGETS_COLLECTION, key: app.applicationId, value: target },
        { collection: PUSH_STATUS_COLLECTION, key: app.applicationId, value: newStatus },
      ]);
      if (!existing) this.managed++;
      this.opts.log.info(
        { applicationId: app.applicationId, endpointUrl, securityPolicy, securityMode, identity: identity.kind, user: actor },
        existing ? "push target updated" : "push target set",
      );
      await this.opts.audit.record({
        event: "PushTargetSet",
        actor,
        outcome: "Good",
        applicationId: app.applicationId,
        applicationUri: app.applicationUri,
        group: target.group,
        detail: `${endpointUrl} ${securityPolicy} ${securityMode}, ${identity.kind === "userName" ? `user ${identity.userName}` : "GDS certificate"}${existing ? " (replaced)" : ""}`,
      });
      this.emitChanged(app.applicationId);
      return this.view(target, app);
    });
  }

  /** RemovePushTarget: BadNotFound unless the application is push-managed. */
  async removeTarget(applicationId: string, actor: string): Promise<void> {
    const app = this.opts.directory.get(applicationId);
    const removed = await this.removeIfPresent(app, actor);
    if (!removed) throw new GdsError("BadNotFound", `application ${app.applicationId} is not push-managed`);
  }

  private async removeIfPresent(app: ApplicationRecord, actor: string): Promise<boolean> {
    const removed = await this.exclusive(async () => {
      const existing = await this.opts.store.get<StoredPushTarget>(PUSH_TARGETS_COLLECTION, app.applicationId);
      if (!existing) return undefined;
      const status = await this.statusRecord(app.applicationId);
      await this.opts.store.commit([
        { collection: PUSH_TARGETS_COLLECTION, key: app.applicationId, value: null },
        { collection: PUSH_STATUS_COLLECTION, key: app.applicationId, value: null },
      ]);
      this.managed = Math.max(0, this.managed - 1);
      this.failing.delete(app.applicationId);
      this.opts.log.info({ applicationId: app.applicationId, user: actor }, "push target removed");
      await this.opts.audit.record({
        event: "PushTargetRemoved",
        actor,
        outcome: "Good",
        applicationId: app.applicationId,
        applicationUri: app.applicationUri,
        group: existing.group,
        detail: existing.endpointUrl,
      });
      this.emitChanged(app.applicationId);
      return { pendingRequestId: status?.pendingRequestId };
    });
    if (!removed) return false;
    if (removed.pendingRequestId) await this.rejectAbandonedRequest(app.applicationId, removed.pendingRequestId, actor);
    return true;
  }

  /**
   * The signing request a removed target's device was waiting for: nobody will fetch its
   * certificate any more, so it is rejected (audited as `actor`), unless it was decided meanwhile.
   * Never throws: the removal itself is done.
   */
  private async rejectAbandonedRequest(applicationId: string, requestId: string, actor: string): Promise<void> {
    if (!this.opts.requests) return;
    try {
      const requests = await this.opts.requests;
      await requests.reject(requestId, actor, PUSH_TARGET_REMOVED_REASON, { onlyIfPending: true });
      this.opts.log.info({ applicationId, requestId, user: actor }, "push target removed: its pending signing request was rejected");
    } catch (err) {
      const status = err instanceof GdsError ? err.statusName : undefined;
      // BadInvalidState: approved, rejected or delivered meanwhile; BadNotFound: gone. Nothing to do.
      if (status === "BadInvalidState" || status === "BadNotFound") return;
      this.opts.log.warn({ err, applicationId, requestId }, "push target removed, but rejecting its pending signing request failed");
    }
  }

  /** Every stored target (password sealed): what the scheduler works from. */
  async targets(): Promise<StoredPushTarget[]> {
    return this.opts.store.values<StoredPushTarget>(PUSH_TARGETS_COLLECTION);
  }

  async target(applicationId: string): Promise<StoredPushTarget | undefined> {
    return this.opts.store.get<StoredPushTarget>(PUSH_TARGETS_COLLECTION, applicationId);
  }

  async statusRecord(applicationId: string): Promise<PushStatusRecord | undefined> {
    return this.opts.store.get<PushStatusRecord>(PUSH_STATUS_COLLECTION, applicationId);
  }

  async statusRecords(): Promise<Map<string, PushStatusRecord>> {
    const out = new Map<string, PushStatusRecord>();
    for (const s of await this.opts.store.values<PushStatusRecord>(PUSH_STATUS_COLLECTION)) out.set(s.applicationId, s);
    return out;
  }

  /**
   * The target with its password opened, for one cycle only. BadNotFound when the application is
   * gone; BadConfigurationError when the sealed password cannot be opened (another data dir's key).
   */
  pushTargetFor(target: StoredPushTarget): PushTarget {
    const app = this.opts.directory.get(target.applicationId);
    let identity: PushTarget["identity"];
    if (target.identity.kind === "certificate") {
      identity = { kind: "certificate" };
    } else {
      let password: string;
      try {
        password = this.opts.secrets.open(target.identity.sealedPassword, sealContext(target.applicationId, target.identity.userName));
      } catch {
        throw new GdsError("BadConfigurationError", "the stored device password cannot be decrypted with this data dir's secrets.key; set the push target again");
      }
      identity = { kind: "userName", userName: target.identity.userName, password };
    }
    return {
      applicationId: target.applicationId,
      applicationUri: app.applicationUri,
      endpointUrl: target.endpointUrl,
      securityPolicy: target.securityPolicy,
      securityMode: target.securityMode,
      identity,
      regeneratePrivateKey: target.regeneratePrivateKey,
      group: target.group,
    };
  }

  /** Status of one push target (BadNotFound unless push-managed) or, with no id, of all. No secrets. */
  async status(applicationId?: string, running: (id: string) => boolean = () => false): Promise<PushStatusView[]> {
    let targets: StoredPushTarget[];
    if (applicationId !== undefined) {
      const app = this.opts.directory.get(applicationId);
      const t = await this.target(app.applicationId);
      if (!t) throw new GdsError("BadNotFound", `application ${app.applicationId} is not push-managed`);
      targets = [t];
    } else {
      targets = (await this.targets()).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.applicationId.localeCompare(b.applicationId));
    }
    const statuses = await this.statusRecords();
    return targets.map((t) => {
      let app: ApplicationRecord | undefined;
      try {
        app = this.opts.directory.get(t.applicationId);
      } catch {
        app = undefined;
      }
      const { applicationId: _id, ...status } = statuses.get(t.applicationId) ?? { applicationId: t.applicationId, consecutiveFailures: 0 };
      return { ...this.view(t, app), status: { ...status, running: running(t.applicationId) } };
    });
  }

  // --- push now and cycle outcomes ----------------------------------------------------------------

  /** PushNow: marks the device as wanted now (durable: survives a restart). BadNotFound unless push-managed. */
  async requestPush(applicationId: string, actor: string): Promise<{ applicationId: string; requestedAt: string }> {
    const app = this.opts.directory.get(applicationId);
    return this.exclusive(async () => {
      const target = await this.target(app.applicationId);
      if (!target) throw new GdsError("BadNotFound", `application ${app.applicationId} is not push-managed: set a push target first`);
      const status = (await this.statusRecord(app.applicationId)) ?? { applicationId: app.applicationId, consecutiveFailures: 0 };
      const now = this.opts.clock.now().toISOString();
      const next: PushStatusRecord = { ...status, pushRequestedAt: now, pushRequestedBy: actor };
      delete next.pushRequestTriedAt;
      await this.opts.store.commit([{ collection: PUSH_STATUS_COLLECTION, key: app.applicationId, value: next }]);
      this.opts.log.info({ applicationId: app.applicationId, user: actor }, "push requested");
      this.emitChanged(app.applicationId);
      return { applicationId: app.applicationId, requestedAt: now };
    });
  }

  /** A cycle begins: records lastAttempt (so a crash mid-cycle still shows the attempt). */
  async recordAttempt(applicationId: string, at: Date, reason: PushCycleRequest["reason"]): Promise<void> {
    await this.exclusive(async () => {
      if (!(await this.target(applicationId))) return;
      const status = (await this.statusRecord(applicationId)) ?? { applicationId, consecutiveFailures: 0 };
      await this.opts.store.commit([{ collection: PUSH_STATUS_COLLECTION, key: applicationId, value: { ...status, lastAttempt: at.toISOString(), lastReason: reason } }]);
    });
  }

  /**
   * A cycle ended. Records what the device confirmed (certificate, trust list), the error and the
   * backoff; clears an admin request made before the cycle started. Audited; listeners notified.
   * A target removed meanwhile is left removed.
   */
  async recordResult(args: {
    request: PushCycleRequest;
    result: PushCycleResult;
    startedAt: Date;
    /** Used when the cycle confirmed the trust list without saying which LastUpdateTime it pushed. */
    trustListLastUpdateTime?: Date;
    /** After a failure: when the next automatic attempt may start. */
    nextAttemptAt?: Date;
    actor: string;
    /** The admin request (its pushRequestedAt) the cycle served, if it did. */
    servedRequestAt?: string;
  }): Promise<PushStatusRecord | undefined> {
    const { request, result, startedAt } = args;
    const applicationId = request.target.applicationId;
    const record = await this.exclusive(async () => {
      const target = await this.target(applicationId);
      if (!target) return undefined;
      const now = this.opts.clock.now();
      const before = (await this.statusRecord(applicationId)) ?? { applicationId, consecutiveFailures: 0 };
      const next: PushStatusRecord = { ...before, lastAttempt: startedAt.toISOString(), lastReason: request.reason, steps: result.steps, lastDurationMs: now.getTime() - startedAt.getTime() };
      if (result.certificate) {
        next.certificate = { ...result.certificate, confirmedAt: now.toISOString() };
        delete next.unconfirmedSerialHex;
      }
      if (result.signedButUnconfirmedSerialHex) next.unconfirmedSerialHex = result.signedButUnconfirmedSerialHex;
      const trustListTime = result.trustList?.lastUpdateTime ?? (result.ok && request.pushTrustList ? args.trustListLastUpdateTime?.toISOString() : undefined);
      if (trustListTime) next.trustList = { group: result.trustList?.group ?? target.group, lastUpdateTime: new Date(trustListTime).toISOString(), pushedAt: now.toISOString() };
      // A signing request waiting for approval is kept for the next cycle; one the cycle got past
      // the signing step with (signed, rejected, failed, unknown) is done with. A cycle that
      // stopped before signing (device down, trust list only) leaves it as it was.
      const waiting = !result.ok && result.pendingRequestId !== undefined;
      if (result.pendingRequestId) {
        next.pendingRequestSince = before.pendingRequestId === result.pendingRequestId && before.pendingRequestSince ? before.pendingRequestSince : now.toISOString();
        next.pendingRequestId = result.pendingRequestId;
      } else if (request.renewCertificate && (result.ok || result.certificate || result.signedButUnconfirmedSerialHex || result.steps.some((s) => s.step === "sign"))) {
        delete next.pendingRequestId;
        delete next.pendingRequestSince;
      }
      if (waiting) {
        // Not the device's failure: no backoff, the scheduler looks at the request's state instead.
        next.lastResult = "waitingForApproval";
        next.consecutiveFailures = 0;
        delete next.nextAttemptAt;
        delete next.lastError;
      } else if (result.ok) {
        // A trust-list-only cycle while the certificate still waits for approval: still waiting.
        next.lastResult = next.pendingRequestId ? "waitingForApproval" : "ok";
        next.lastSuccess = now.toISOString();
        next.consecutiveFailures = 0;
        delete next.nextAttemptAt;
        delete next.lastError;
      } else {
        const error = result.error ?? { step: "connect" as const, statusCode: "BadInternalError", message: "the push cycle failed without saying why" };
        next.lastResult = "failed";
        next.lastError = { step: error.step, statusCode: error.statusCode, message: excerpt(error.message), at: now.toISOString() };
        next.consecutiveFailures = (before.consecutiveFailures ?? 0) + 1;
        if (args.nextAttemptAt) next.nextAttemptAt = args.nextAttemptAt.toISOString();
      }
      // An admin's request is served once a cycle started after it succeeds or confirms a new
      // certificate; a failure before that (device down) leaves it pending, retried with backoff.
      // A newer request made during the cycle is left alone.
      if (args.servedRequestAt && next.pushRequestedAt === args.servedRequestAt) {
        if (result.ok || result.certificate) {
          delete next.pushRequestedAt;
          delete next.pushRequestedBy;
          delete next.pushRequestTriedAt;
        } else {
          next.pushRequestTriedAt = next.pushRequestedAt;
        }
      }
      await this.opts.store.commit([{ collection: PUSH_STATUS_COLLECTION, key: applicationId, value: next }]);
      if (result.ok || waiting) this.failing.delete(applicationId);
      else this.failing.add(applicationId);
      return next;
    });
    if (!record) {
      // The target was removed while this cycle ran: a request the cycle left pending is abandoned.
      if (!result.ok && result.pendingRequestId) await this.rejectAbandonedRequest(applicationId, result.pendingRequestId, args.actor);
      return undefined;
    }
    const waitingFor = !result.ok && result.pendingRequestId ? result.pendingRequestId : undefined;
    const err = result.ok ? undefined : waitingFor ? { step: result.error?.step ?? "sign", statusCode: result.error?.statusCode ?? "BadNothingToDo", message: result.error?.message ?? "" } : record.lastError;
    const logFields = { applicationId, endpointUrl: request.target.endpointUrl, reason: request.reason, ms: record.lastDurationMs, serialHex: result.certificate?.serialHex, step: err?.step, statusCode: err?.statusCode };
    if (result.ok) this.opts.log.info(logFields, "push cycle succeeded");
    else if (waitingFor) this.opts.log.info({ ...logFields, requestId: waitingFor }, "push cycle: the device's signing request waits for approval");
    else this.opts.log.warn({ ...logFields, message: err?.message }, "push cycle failed");
    if (result.deviceRejected) {
      const r = result.deviceRejected;
      const presented = [r.thumbprint ? `sha1 ${r.thumbprint}` : "", r.subject ? `subject ${r.subject}` : "", r.uris ? `URIs ${r.uris.length > 0 ? r.uris.join(", ") : "none"}` : ""].filter(Boolean).join("; ");
      this.opts.log.warn({ applicationId, endpointUrl: request.target.endpointUrl, statusCode: r.statusCode, thumbprint: r.thumbprint, subject: r.subject, uris: r.uris }, "push: the device's certificate was refused; no credentials were sent to it");
      try {
        await this.opts.audit.record({
          event: "PushDeviceRejected",
          actor: args.actor,
          outcome: r.statusCode,
          applicationId,
          applicationUri: request.target.applicationUri,
          group: request.target.group,
          detail: excerpt(`the server at ${request.target.endpointUrl} presented a certificate that is not the push target's (${presented}): ${r.reason}; no credentials were sent`, 600),
        });
      } catch (e) {
        this.opts.log.error({ err: e, applicationId }, "could not audit the refused device certificate");
      }
    }
    try {
      await this.opts.audit.record({
        event: "PushCompleted",
        actor: args.actor,
        outcome: result.ok ? "Good" : (err?.statusCode ?? "Bad"),
        applicationId,
        applicationUri: request.target.applicationUri,
        group: request.target.group,
        serialHex: result.certificate?.serialHex,
        ...(result.requestId ?? waitingFor ? { requestId: result.requestId ?? waitingFor } : {}),
        detail: waitingFor
          ? `${request.reason}: signing request ${waitingFor} waits for approval by a RegistrationAuthorityAdmin; the next cycle after it is approved delivers its certificate to ${request.target.endpointUrl}`
          : result.ok
          ? `${request.reason}: ${[request.pushTrustList ? "trust list" : "", request.renewCertificate ? "certificate" : ""].filter(Boolean).join(" + ")} pushed to ${request.target.endpointUrl}`
          : `${request.reason}: step ${err?.step} failed at ${request.target.endpointUrl}: ${excerpt(err?.message ?? "", 300)}`,
      });
    } catch (e) {
      this.opts.log.error({ err: e, applicationId }, "could not audit the push outcome");
    }
    const event: PushFinishedEvent = result.ok ? { applicationId, ok: true } : { applicationId, ok: false, statusCode: err?.statusCode, step: err?.step };
    for (const l of [...this.finishedListeners]) {
      try {
        l(event);
      } catch (e) {
        this.opts.log.error({ err: e }, "push finished listener failed");
      }
    }
    return record;
  }

  // --- for metrics and the scheduler ----------------------------------------------------------------

  /** managed = push targets; failed = those whose last attempt failed. */
  summary(): { managed: number; failed: number } {
    return { managed: this.managed, failed: this.failing.size };
  }

  onPushFinished(listener: (e: PushFinishedEvent) => void): () => void {
    this.finishedListeners.push(listener);
    return () => {
      const i = this.finishedListeners.indexOf(listener);
      if (i >= 0) this.finishedListeners.splice(i, 1);
    };
  }

  /** A target was set or removed, or a push requested: the scheduler looks again. */
  onChanged(listener: (applicationId: string) => void): () => void {
    this.changedListeners.push(listener);
    return () => {
      const i = this.changedListeners.indexOf(listener);
      if (i >= 0) this.changedListeners.splice(i, 1);
    };
  }

  // --- internals ------------------------------------------------------------------------------

  private view(t: StoredPushTarget, app: ApplicationRecord | undefined): PushTargetView {
    return {
      applicationId: t.applicationId,
      ...(app ? { applicationUri: app.applicationUri } : {}),
      endpointUrl: t.endpointUrl,
      securityPolicy: t.securityPolicy,
      securityMode: t.securityMode,
      identity: t.identity.kind === "userName" ? { kind: "userName", userName: t.identity.userName } : { kind: "certificate" },
      regeneratePrivateKey: t.regeneratePrivateKey,
      group: t.group,
      createdAt: t.createdAt,
      createdBy: t.createdBy,
      updatedAt: t.updatedAt,
      updatedBy: t.updatedBy,
    };
  }

  private emitChanged(applicationId: string): void {
    for (const l of [...this.changedListeners]) {
      try {
        l(applicationId);
      } catch (e) {
        this.opts.log.error({ err: e }, "push target listener failed");
      }
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.mutexTail.then(fn, fn);
    this.mutexTail = run.catch(() => undefined);
    return run;
  }
}
