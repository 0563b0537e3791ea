import crypto, { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.types.js";
import type { CaBackend, RevokedEntry } from "../ca/ca-backend.js";
import {
  CERTIFICATE_GROUP_NAMES,
  CERTIFICATE_TYPES,
  GROUP_CERTIFICATE_TYPES,
  type CertificateGroupName,
  type CertificateTypeName,
  type CertificateTypeSpec,
} from "../ca/certificate-types.js";
import type { GeneratedKeyPair } from "../ca/ca-backend.js";
import { checkKeyFitsType, parseCsr, verifyCsr } from "../ca/csr.js";
import { encodePrivateKey } from "../ca/private-key-format.js";
import { describeKeyObject, publicKeyFromSpki } from "../ca/public-key.js";
import type { Clock } from "../clock.js";
import type { ApplicationRecord } from "../directory/application-record.js";
import type { DirectoryService } from "../directory/directory-service.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { SecretBox } from "../secrets/secret-box.js";
import type { Store, StoreMutation } from "../store/store.js";
import { DEFAULT_MAX_CERTIFICATES_PER_DAY, IssuancePolicy, type IssuanceContent } from "./issuance-policy.js";
import { DEFAULT_KEY_GENERATION_QUEUE, KeyGenerationQueue, type KeyGenerationQueueOptions, type KeyGenerationTicket } from "./key-generation-queue.js";
import type {
  Actor,
  CertificateRecord,
  FinishRequestResult,
  PrivateKeyFormat,
  RequestDetails,
  RequestKey,
  RequestRecord,
  RevocationStatus,
  StartNewKeyPairRequestInput,
  StartSigningRequestInput,
  TrustListContent,
  TrustListSnapshot,
} from "./certificate-manager.types.js";
import { TrustListManager, sha1Hex } from "./trust-lists.js";

export const REQUESTS_COLLECTION = "cm-requests";
export const CERTIFICATES_COLLECTION = "cm-certificates";

/** What the store keeps beside the public record: the CSR, or what a new key pair needs. */
interface StoredRequest extends RequestRecord {
  /** CSR DER, base64 (public data). */
  csr?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  privateKeyFormat?: PrivateKeyFormat;
  /** The PFX/PEM password, sealed with the data dir's SecretBox; deleted once delivered. */
  sealedPassword?: string;
}

/** Pending + approved requests one application may have open at a time (a runaway client stops here). */
const MAX_OPEN_REQUESTS_PER_APPLICATION = 16;
/** Clock skew allowance: notBefore is backdated by this much. */
const BACKDATE_MS = 5 * 60_000;
const MAX_PASSWORD_LENGTH = 1024;
/** A key pair generated on approval waits this long for its FinishRequest; then it is dropped (and made again if asked). */
const PREGENERATED_KEY_HOLD_MS = 10 * 60_000;

export interface CertificateManagerOptions {
  store: Store;
  clock: Clock;
  ca: CaBackend;
  directory: DirectoryService;
  audit: AuditLog;
  secrets: SecretBox;
  log: Logger;
  autoApprove: boolean;
  certLifetimeMs: number;
  renewBeforeMs: number;
  crlLifetimeMs: number;
  /** O= of issued subjects (GDS_CERT_ORGANIZATION); undefined → none. */
  certOrganization?: string;
  /** Per application and group in any 24 hours (GDS_MAX_CERTIFICATES_PER_DAY); default 20. */
  maxCertificatesPerDay?: number;
  /** Key pairs the GDS generates: running at once + waiting; default 2 + 6. */
  keyGeneration?: KeyGenerationQueueOptions;
}

/**
 * The CertificateManager of OPC 10000-12 §7.9 as plain domain code: request lifecycle
 * (pending → approved|rejected → delivered), issuance through the CaBackend, revocation with an
 * immediately re-signed CRL, certificate status, ApplicationSelfAdmin lookup and the trust lists.
 * Every state change is durable before the method returns, and audited.
 */
export class CertificateManagerService {
  private readonly requests = new Map<string, StoredRequest>();
  private readonly certificates = new Map<string, CertificateRecord>();
  private readonly byThumbprint = new Map<string, CertificateRecord>();
  private readonly requestIdsByApplication = new Map<string, Set<string>>();
  private readonly caCertificates = new Map<CertificateGroupName, crypto.X509Certificate>();
  /** Per application, so status and GetCertificates do not scan every certificate ever issued. */
  private readonly serialsByApplication = new Map<string, Set<string>>();
  private readonly inFlight = new Map<string, Promise<FinishRequestResult>>();
  private readonly reservedSerials = new Set<string>();
  /** Applications being or having been unregistered (ids are never reused). */
  private readonly retired = new Set<string>();
  readonly trustLists: TrustListManager;
  private mutexTail: Promise<unknown> = Promise.resolve();
  private crlTimer: NodeJS.Timeout | undefined;
  private readonly decidedListeners: ((request: RequestRecord) => void)[] = [];
  /** What goes into certificates: groups, names, subject, key rules, quota. */
  readonly policy: IssuancePolicy;
  private readonly keyQueue: KeyGenerationQueue;
  /** Key pairs generated when their request was approved, waiting for its FinishRequest (memory only). */
  private readonly pregenerated = new Map<string, { key: Promise<GeneratedKeyPair | undefined>; timer: NodeJS.Timeout }>();

  constructor(private readonly opts: CertificateManagerOptions) {
    this.policy = new IssuancePolicy({
      organization: opts.certOrganization,
      maxCertificatesPerDay: opts.maxCertificatesPerDay ?? DEFAULT_MAX_CERTIFICATES_PER_DAY,
      caSubjects: () => CERTIFICATE_GROUP_NAMES.map((g) => opts.ca.info(g).subject),
    });
    this.keyQueue = new KeyGenerationQueue(opts.keyGeneration ?? DEFAULT_KEY_GENERATION_QUEUE);
    this.trustLists = new TrustListManager({
      store: opts.store,
      clock: opts.clock,
      ca: opts.ca,
      audit: opts.audit,
      log: opts.log,
      crlLifetimeMs: opts.crlLifetimeMs,
      revokedOf: (group) => this.revokedOf(group),
    });
  }

  async init(): Promise<void> {
    for (const r of await this.opts.store.values<StoredRequest>(REQUESTS_COLLECTION)) this.putRequest({ ...r });
    for (const c of await this.opts.store.values<CertificateRecord>(CERTIFICATES_COLLECTION)) this.indexCertificate(c);
    await this.trustLists.init();
    // UnregisterApplication revokes everything the application holds, before the record goes.
    this.opts.directory.onUnregister(async (record, actor) => {
      await this.revokeAllOf(record, actor ?? "system");
    });
    const check = Math.min(60_000, Math.max(1000, this.opts.crlLifetimeMs / 10));
    this.crlTimer = setInterval(() => {
      this.exclusive(() => this.trustLists.refreshDueCrls()).catch((err) => this.opts.log.error({ err }, "CRL refresh failed"));
    }, check);
    this.crlTimer.unref();
  }

  close(): void {
    if (this.crlTimer) clearInterval(this.crlTimer);
    for (const id of [...this.pregenerated.keys()]) this.dropPregenerated(id);
  }

  // --- requests -------------------------------------------------------------------------------

  /** StartSigningRequest: the application keeps its key and sends a PKCS#10 CSR. */
  async startSigningRequest(input: StartSigningRequestInput): Promise<RequestRecord> {
    return this.auditRefusedStart(input, "signing request (CSR)", () => this.startSigning(input));
  }

  private async startSigning(input: StartSigningRequestInput): Promise<RequestRecord> {
    const app = this.opts.directory.get(input.applicationId);
    const { group, type } = resolveGroupAndType(input.group, input.type);
    this.policy.checkGroup(app, group);
    const csr = parseCsr(input.csrDer);
    // Signature algorithm and key rules first: with a weak key the signature would prove nothing.
    this.policy.checkCsr(csr);
    await verifyCsr(csr);
    if (group === "DefaultApplicationGroup" && !csr.uris.includes(app.applicationUri)) {
      throw new GdsError(
        "BadCertificateUriInvalid",
        `CertificateRequest: the CSR's subjectAltName URIs (${csr.uris.length ? csr.uris.map((u) => JSON.stringify(u.slice(0, 200))).join(", ") : "none"}) do not include the registered ApplicationUri ${JSON.stringify(app.applicationUri)}`,
      );
    }
    checkKeyFitsType(csr, type);
    checkCertifiableUri(app.applicationUri);
    // Whatever goes into the certificate is decided now (by the policy, from the registered record),
    // so an approved request can always be issued. The CSR's subject is not used.
    const { subject, dnsNames, ipAddresses } = this.policy.content(app, group, [...csr.dnsNames, ...csr.ipAddresses], "CertificateRequest subjectAltName");
    return this.createRequest(app, input.actor, {
      kind: "signing",
      group,
      type: type.name,
      subject,
      csr: input.csrDer.toString("base64"),
      dnsNames,
      ipAddresses,
    });
  }

  /** StartNewKeyPairRequest: the GDS makes the key; it is delivered once, as PEM or PFX. */
  async startNewKeyPairRequest(input: StartNewKeyPairRequestInput): Promise<RequestRecord> {
    return this.auditRefusedStart(input, "new key pair", () => this.startNewKeyPair(input));
  }

  private async startNewKeyPair(input: StartNewKeyPairRequestInput): Promise<RequestRecord> {
    const app = this.opts.directory.get(input.applicationId);
    const { group, type } = resolveGroupAndType(input.group, input.type);
    this.policy.checkGroup(app, group);
    const format = parsePrivateKeyFormat(input.privateKeyFormat);
    checkCertifiableUri(app.applicationUri);
    const password = input.privateKeyPassword ?? "";
    if (password.length > MAX_PASSWORD_LENGTH) throw new GdsError("BadInvalidArgument", `PrivateKeyPassword: at most ${MAX_PASSWORD_LENGTH} characters`);
    // SubjectName is not used: the policy builds the subject from the registered record.
    const { subject, dnsNames, ipAddresses } = this.policy.content(app, group, input.domainNames, "DomainNames");
    const requestId = randomUUID();
    // Approved at once: the key is generated now, through the bounded queue, or the request is refused at once.
    const ticket = this.opts.autoApprove && this.policy.mayAutoApprove(group) ? this.keyQueue.reserve() : undefined;
    let record: RequestRecord;
    try {
      record = await this.createRequest(
        app,
        input.actor,
        {
          kind: "newKeyPair",
          group,
          type: type.name,
          subject,
          dnsNames,
          ipAddresses,
          privateKeyFormat: format,
          sealedPassword: password ? this.opts.secrets.seal(password, `request:${requestId}`) : undefined,
        },
        requestId,
      );
    } catch (err) {
      ticket?.release();
      throw err;
    }
    if (ticket && record.state === "approved") this.pregenerate(record, ticket);
    else ticket?.release();
    return record;
  }

  /** Starts generating an approved key-pair request's key in the queue; FinishRequest picks it up. */
  private pregenerate(request: RequestRecord, ticket: KeyGenerationTicket): void {
    const type = CERTIFICATE_TYPES[request.type];
    const key = ticket.run(() => this.opts.ca.generateKeyPair(type)).catch((err) => {
      this.opts.log.warn({ err, requestId: request.requestId }, "generating a key pair ahead of FinishRequest failed; FinishRequest tries again");
      return undefined;
    });
    const timer = setTimeout(() => this.dropPregenerated(request.requestId), PREGENERATED_KEY_HOLD_MS);
    timer.unref();
    this.pregenerated.set(request.requestId, { key, timer });
  }

  private takePregenerated(requestId: string): Promise<GeneratedKeyPair | undefined> | undefined {
    const held = this.pregenerated.get(requestId);
    if (!held) return undefined;
    clearTimeout(held.timer);
    this.pregenerated.delete(requestId);
    return held.key;
  }

  private dropPregenerated(requestId: string): void {
    void this.takePregenerated(requestId)?.then((k) => k?.privateKeyPkcs8.fill(0));
  }

  /**
   * FinishRequest: BadNothingToDo while pending, BadRequestNotAllowed once rejected; the first
   * Finish after approval mints the certificate (and key pair) and records it before returning.
   * A CSR request that was delivered answers again with the same certificate (a retry after a lost
   * reply); a delivered key pair does not, as the key is gone.
   */
  async finishRequest(applicationId: string, requestId: string, actor: Actor): Promise<FinishRequestResult> {
    try {
      return await this.finish(applicationId, requestId, actor);
    } catch (err) {
      // Part 12: CertificateDelivered is audited on success and on every failure but BadNothingToDo.
      const status = err instanceof GdsError ? err.statusName : "BadInternalError";
      if (status !== "BadNothingToDo") {
        const request = this.requests.get(normaliseId(requestId));
        await this.opts.audit.record({
          event: "CertificateDelivered",
          actor,
          outcome: status,
          applicationId,
          requestId,
          group: request?.group,
          certificateType: request?.type,
          detail: err instanceof GdsError ? err.message.slice(0, 300) : "internal error",
        });
      }
      throw err;
    }
  }

  private async finish(applicationId: string, requestId: string, actor: Actor): Promise<FinishRequestResult> {
    const app = this.opts.directory.get(applicationId);
    const request = this.requests.get(normaliseId(requestId));
    if (!request || request.applicationId !== app.applicationId) {
      throw new GdsError("BadInvalidArgument", `RequestId: ${requestId} is not a request of application ${applicationId}`);
    }
    switch (request.state) {
      case "pending":
        throw new GdsError("BadNothingToDo", `request ${request.requestId} is waiting for approval by a RegistrationAuthorityAdmin`);
      case "rejected":
        throw new GdsError("BadRequestNotAllowed", `request ${request.requestId} was rejected${request.decidedBy ? ` by ${request.decidedBy}` : ""}${request.reason ? `: ${request.reason}` : ""}`);
      case "failed":
        throw new GdsError("BadConfigurationError", `request ${request.requestId} failed: ${request.reason ?? "see the server log"}; start a new request`);
      case "delivered": {
        const cert = request.serialHex ? this.certificates.get(request.serialHex) : undefined;
        if (request.kind === "signing" && cert && !cert.revokedAt) {
          return { certificate: Buffer.from(cert.der, "base64"), issuerCertificates: this.opts.ca.info(cert.group).chain };
        }
        if (cert?.revokedAt) throw new GdsError("BadInvalidArgument", `request ${request.requestId} was delivered and its certificate (serial ${cert.serialHex}) has since been revoked: start a new request`);
        throw new GdsError("BadInvalidArgument", `request ${request.requestId} was already delivered; its private key is not kept: start a new request`);
      }
      case "approved":
        break;
    }
    const running = this.inFlight.get(request.requestId);
    if (running) return running;
    const minting = this.mint(app, request, actor).finally(() => this.inFlight.delete(request.requestId));
    this.inFlight.set(request.requestId, minting);
    return minting;
  }

  async approve(requestId: string, actor: Actor): Promise<RequestRecord> {
    return this.decide(requestId, actor, "approved");
  }

  /** With `onlyIfPending`, an approved (not yet delivered) request is left alone: BadInvalidState. */
  async reject(requestId: string, actor: Actor, reason?: string, opts: { onlyIfPending?: boolean } = {}): Promise<RequestRecord> {
    return this.decide(requestId, actor, "rejected", reason, opts.onlyIfPending);
  }

  /**
   * Called after a request was approved or rejected (by an admin, or on UnregisterApplication),
   * once the decision is durable. Listener errors are logged, never thrown. Returns the unsubscribe.
   */
  onRequestDecided(listener: (request: RequestRecord) => void): () => void {
    this.decidedListeners.push(listener);
    return () => {
      const i = this.decidedListeners.indexOf(listener);
      if (i >= 0) this.decidedListeners.splice(i, 1);
    };
  }

  private emitDecided(request: RequestRecord): void {
    for (const listener of [...this.decidedListeners]) {
      try {
        listener(request);
      } catch (err) {
        this.opts.log.error({ err, requestId: request.requestId }, "a request-decided listener failed");
      }
    }
  }

  /** Newest first. */
  listRequests(filter: { state?: RequestRecord["state"]; applicationId?: string } = {}): RequestRecord[] {
    return [...this.requests.values()]
      .filter((r) => (!filter.state || r.state === filter.state) && (!filter.applicationId || r.applicationId === filter.applicationId))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .map(publicRequest);
  }

  /** listRequests with what each certificate will hold (RequestDetails), newest first. */
  listRequestDetails(filter: { state?: RequestRecord["state"]; applicationId?: string } = {}): RequestDetails[] {
    return [...this.requests.values()]
      .filter((r) => (!filter.state || r.state === filter.state) && (!filter.applicationId || r.applicationId === filter.applicationId))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .map((r) => this.detailsOf(r, false));
  }

  /** One request with what its certificate will hold and the key it certifies. */
  getRequestDetails(requestId: string): RequestDetails {
    const r = this.requests.get(normaliseId(requestId));
    if (!r) throw new GdsError("BadNotFound", `no certificate request ${requestId}`);
    return this.detailsOf(r, true);
  }

  private detailsOf(r: StoredRequest, withKey: boolean): RequestDetails {
    let app: ApplicationRecord | undefined;
    try {
      app = this.opts.directory.get(r.applicationId);
    } catch (err) {
      if (!(err instanceof GdsError)) throw err; // unregistered since
    }
    const details: RequestDetails = {
      ...publicRequest(r),
      ...(app ? { applicationUri: app.applicationUri, applicationName: app.applicationNames[0]?.text ?? "" } : {}),
      dnsNames: [...(r.dnsNames ?? [])],
      ipAddresses: [...(r.ipAddresses ?? [])],
    };
    // Open requests: what mint() would put in the certificate now (it asks the policy again).
    if (app && (r.state === "pending" || r.state === "approved")) {
      try {
        const content = this.policy.content(app, r.group, [...(r.dnsNames ?? []), ...(r.ipAddresses ?? [])], "the request's names");
        Object.assign(details, { subject: content.subject, dnsNames: content.dnsNames, ipAddresses: content.ipAddresses });
      } catch (err) {
        if (!(err instanceof GdsError)) throw err;
        details.issuanceProblem = err.message;
      }
    }
    if (withKey) details.key = requestKeyOf(r);
    return details;
  }

  getRequest(requestId: string): RequestRecord {
    const r = this.requests.get(normaliseId(requestId));
    if (!r) throw new GdsError("BadNotFound", `no certificate request ${requestId}`);
    return publicRequest(r);
  }

  // --- certificates ---------------------------------------------------------------------------

  /** GetCertificateGroups: the groups the issuance policy lets the application get certificates in. */
  certificateGroupsOf(applicationId: string): CertificateGroupName[] {
    return this.policy.eligibleGroups(this.opts.directory.get(applicationId));
  }

  /**
   * GetCertificateStatus: TRUE when the application has no valid certificate of that group and
   * type, when its latest one is revoked or expired, or when less than GDS_RENEW_BEFORE remains.
   */
  certificateStatus(applicationId: string, group?: CertificateGroupName, type?: CertificateTypeName): boolean {
    const app = this.opts.directory.get(applicationId);
    const resolved = resolveGroupAndType(group, type);
    const latest = this.certificatesOfApp(app.applicationId)
      .filter((c) => c.group === resolved.group && c.type === resolved.type.name)
      .sort((a, b) => b.issuedAt.localeCompare(a.issuedAt) || b.notAfter.localeCompare(a.notAfter))[0];
    if (!latest || latest.revokedAt) return true;
    return Date.parse(latest.notAfter) - this.opts.clock.now().getTime() < this.opts.renewBeforeMs;
  }

  /** GetCertificates: the newest valid (not revoked, not expired) certificate per group and type. */
  certificatesOf(applicationId: string, group?: CertificateGroupName): CertificateRecord[] {
    const app = this.opts.directory.get(applicationId);
    const now = this.opts.clock.now().getTime();
    const newest = new Map<string, CertificateRecord>();
    for (const c of this.certificatesOfApp(app.applicationId)) {
      if (group && c.group !== group) continue;
      if (c.revokedAt || Date.parse(c.notAfter) <= now) continue;
      const key = `${c.group}/${c.type}`;
      const prev = newest.get(key);
      if (!prev || c.issuedAt > prev.issuedAt) newest.set(key, c);
    }
    return [...newest.values()];
  }

  /** Every certificate ever issued, newest first. */
  listCertificates(): CertificateRecord[] {
    return [...this.certificates.values()].sort((a, b) => b.issuedAt.localeCompare(a.issuedAt));
  }

  /** RevokeCertificate: BadInvalidArgument unless this GDS issued that certificate to that application. */
  async revokeCertificate(applicationId: string, certificateDer: Buffer, actor: Actor, reason?: string): Promise<CertificateRecord> {
    const app = this.opts.directory.get(applicationId);
    const record = this.byThumbprint.get(sha1Hex(certificateDer));
    if (!record || record.applicationId !== app.applicationId) {
      throw new GdsError("BadInvalidArgument", `Certificate: not a certificate this GDS issued to application ${applicationId}`);
    }
    return this.revokeRecords([record], actor, reason).then((r) => r[0] ?? this.certificates.get(record.serialHex)!);
  }

  async revokeBySerial(serialHex: string, actor: Actor, reason?: string): Promise<CertificateRecord> {
    const record = this.certificates.get(normaliseSerial(serialHex));
    if (!record) throw new GdsError("BadNotFound", `no certificate with serial ${serialHex} was issued by this GDS`);
    return this.revokeRecords([record], actor, reason).then((r) => r[0] ?? this.certificates.get(record.serialHex)!);
  }

  /**
   * CheckRevocationStatus: Good for a certificate our CA signed that is neither revoked nor out of
   * its validity; validityTime = the CRL's nextUpdate. Certificates of other issuers are untrusted.
   */
  checkRevocationStatus(certificateDer: Buffer): RevocationStatus {
    let cert: crypto.X509Certificate;
    try {
      cert = new crypto.X509Certificate(certificateDer);
    } catch {
      return { status: "BadCertificateInvalid", validityTime: new Date(0) };
    }
    for (const group of CERTIFICATE_GROUP_NAMES) {
      const ca = this.caCertificate(group);
      if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) continue;
      const crl = this.trustLists.crlInfo(group);
      const record = this.certificates.get(normaliseSerial(cert.serialNumber));
      if (record?.revokedAt) return { status: "BadCertificateRevoked", validityTime: crl.nextUpdate };
      const now = this.opts.clock.now().getTime();
      if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return { status: "BadCertificateTimeInvalid", validityTime: crl.nextUpdate };
      return { status: "Good", validityTime: crl.nextUpdate };
    }
    return { status: "BadCertificateUntrusted", validityTime: new Date(0) };
  }

  /** The record of a certificate this GDS issued (any application, revoked or not), by its DER. */
  issuedCertificate(certificateDer: Buffer): CertificateRecord | undefined {
    return this.byThumbprint.get(sha1Hex(certificateDer));
  }

  /**
   * ApplicationSelfAdmin: the id of the registered application to which this GDS issued the given
   * channel certificate, if that certificate is neither revoked nor expired.
   */
  selfAdminApplicationOf(channelCertificateDer: Buffer | undefined | null): string | undefined {
    if (!channelCertificateDer || channelCertificateDer.length === 0) return undefined;
    const record = this.byThumbprint.get(sha1Hex(channelCertificateDer));
    if (!record || record.revokedAt) return undefined;
    const now = this.opts.clock.now().getTime();
    if (now >= Date.parse(record.notAfter)) return undefined;
    try {
      return this.opts.directory.get(record.applicationId).applicationId;
    } catch {
      return undefined;
    }
  }

  // --- trust lists ----------------------------------------------------------------------------

  trustList(group: CertificateGroupName): TrustListSnapshot {
    return this.trustLists.snapshot(group);
  }

  async replaceTrustList(group: CertificateGroupName, content: TrustListContent, mask: number, actor: Actor): Promise<void> {
    await this.exclusive(() => this.trustLists.replace(group, content, mask, actor));
  }

  async addTrustListCertificate(group: CertificateGroupName, der: Buffer, isTrusted: boolean, actor: Actor): Promise<void> {
    await this.exclusive(() => this.trustLists.add(group, der, isTrusted, actor));
  }

  async removeTrustListCertificate(group: CertificateGroupName, thumbprint: string, isTrusted: boolean, actor: Actor): Promise<void> {
    await this.exclusive(() => this.trustLists.remove(group, thumbprint, isTrusted, actor));
  }

  onTrustListChanged(listener: (group: CertificateGroupName) => void): () => void {
    return this.trustLists.onChanged(listener);
  }

  // --- internals ------------------------------------------------------------------------------

  /** Part 12 audits CertificateRequested for refused requests too (outcome = the status). */
  private async auditRefusedStart(
    input: { applicationId: string; group?: CertificateGroupName; type?: CertificateTypeName; actor: Actor },
    what: string,
    start: () => Promise<RequestRecord>,
  ): Promise<RequestRecord> {
    try {
      return await start();
    } catch (err) {
      await this.opts.audit.record({
        event: "CertificateRequested",
        actor: input.actor,
        outcome: err instanceof GdsError ? err.statusName : "BadInternalError",
        applicationId: input.applicationId,
        group: input.group,
        certificateType: input.type,
        detail: `${what} refused: ${err instanceof GdsError ? err.message.slice(0, 300) : "internal error"}`,
      });
      throw err;
    }
  }

  private async createRequest(
    app: ApplicationRecord,
    actor: Actor,
    fields: Pick<StoredRequest, "kind" | "group" | "type" | "subject" | "csr" | "dnsNames" | "ipAddresses" | "privateKeyFormat" | "sealedPassword">,
    requestId = randomUUID(),
  ): Promise<RequestRecord> {
    const request = await this.exclusive(async () => {
      if (this.retired.has(app.applicationId)) throw new GdsError("BadNotFound", `application ${app.applicationId} has been unregistered`);
      this.opts.directory.get(app.applicationId);
      const openRequests = this.openRequestsOf(app.applicationId);
      const open = openRequests.length;
      if (open >= MAX_OPEN_REQUESTS_PER_APPLICATION) {
        throw new GdsError("BadTooManyOperations", `application ${app.applicationId} already has ${open} open certificate requests; finish or have them rejected first`);
      }
      const clockNow = this.opts.clock.now();
      const issuedAt = this.certificatesOfApp(app.applicationId).filter((c) => c.group === fields.group).map((c) => c.issuedAt);
      this.policy.checkQuota(app, fields.group, issuedAt, openRequests.filter((r) => r.group === fields.group).length, clockNow);
      const now = clockNow.toISOString();
      const auto = this.opts.autoApprove && this.policy.mayAutoApprove(fields.group);
      const request: StoredRequest = {
        requestId,
        applicationId: app.applicationId,
        ...fields,
        state: auto ? "approved" : "pending",
        createdAt: now,
        requestedBy: actor,
        ...(auto ? { decidedAt: now, decidedBy: "auto-approve" } : {}),
      };
      await this.opts.store.commit([{ collection: REQUESTS_COLLECTION, key: requestId, value: request }]);
      this.putRequest(request);
      return request;
    });
    // Outside the mutex: the audit log's fsync need not hold up the next request (it group-commits).
    const auto = request.decidedBy === "auto-approve";
    await this.opts.audit.record({
      event: "CertificateRequested",
      actor,
      outcome: "Good",
      applicationId: app.applicationId,
      applicationUri: app.applicationUri,
      requestId,
      group: request.group,
      certificateType: request.type,
      detail: `${request.kind === "signing" ? "signing request (CSR)" : `new key pair (${request.privateKeyFormat})`} for ${request.subject}; ${auto ? "approved automatically" : "waiting for approval"}`,
    });
    this.opts.log.info({ requestId, applicationId: app.applicationId, kind: request.kind, group: request.group, type: request.type, state: request.state, user: actor }, "certificate requested");
    return publicRequest(request);
  }

  private async decide(requestId: string, actor: Actor, state: "approved" | "rejected", reason?: string, onlyIfPending = false): Promise<RequestRecord> {
    const decided = await this.exclusive(async () => {
      const request = this.requests.get(normaliseId(requestId));
      if (!request) throw new GdsError("BadNotFound", `no certificate request ${requestId}`);
      const allowed = state === "approved" || onlyIfPending ? request.state === "pending" : request.state === "pending" || request.state === "approved";
      if (!allowed) throw new GdsError("BadInvalidState", `request ${request.requestId} is ${request.state}; only a pending request can be ${state}${state === "rejected" ? " (or an approved one not yet delivered)" : ""}`);
      const next: StoredRequest = { ...request, state, decidedAt: this.opts.clock.now().toISOString(), decidedBy: actor, ...(reason ? { reason: reason.slice(0, 1024) } : {}) };
      if (state === "rejected") delete next.sealedPassword;
      await this.opts.store.commit([{ collection: REQUESTS_COLLECTION, key: request.requestId, value: next }]);
      this.putRequest(next);
      return { request, next };
    });
    const { request, next } = decided;
    if (state === "rejected") this.dropPregenerated(request.requestId);
    else if (next.kind === "newKeyPair") {
      const ticket = this.keyQueue.tryReserve();
      if (ticket) this.pregenerate(publicRequest(next), ticket);
    }
    if (request.sealedPassword && !next.sealedPassword) await this.purgeDeletedSecrets(request.requestId);
    await this.opts.audit.record({
      event: state === "approved" ? "RequestApproved" : "RequestRejected",
      actor,
      outcome: "Good",
      applicationId: request.applicationId,
      requestId: request.requestId,
      group: request.group,
      certificateType: request.type,
      detail: reason ? reason.slice(0, 200) : undefined,
    });
    this.opts.log.info({ requestId: request.requestId, applicationId: request.applicationId, user: actor }, `certificate request ${state}`);
    this.emitDecided(publicRequest(next));
    return publicRequest(next);
  }

  /**
   * After a commit that deleted a sealed password: compacts the store, so that the password is in
   * neither the snapshot nor the journal (which keeps the commit that sealed it until compaction).
   * A failure is logged, not thrown: the request's new state is already durable, and failing a
   * FinishRequest now would lose a key pair the GDS will not make again.
   */
  private async purgeDeletedSecrets(requestId: string): Promise<void> {
    if (!this.opts.store.compact) return;
    try {
      await this.opts.store.compact();
    } catch (err) {
      this.opts.log.error({ err, requestId }, "could not compact the store after deleting a sealed key password: it stays in the journal until the next compaction");
    }
  }

  /** Signs (and for a key pair, generates) outside the mutex; records under it. */
  private async mint(app: ApplicationRecord, request: StoredRequest, actor: Actor): Promise<FinishRequestResult> {
    const type = CERTIFICATE_TYPES[request.type];
    // A key not generated yet waits for a place in the queue, or BadTooManyOperations at once
    // (the request stays approved: FinishRequest can be called again).
    const pregenerated = request.kind === "newKeyPair" ? this.takePregenerated(request.requestId) : undefined;
    const ticket = request.kind === "newKeyPair" && !pregenerated ? this.keyQueue.reserve() : undefined;
    const serialHex = this.newSerial();
    const now = this.opts.clock.now();
    let keyPair: { publicKeySpki: Buffer; privateKeyPkcs8: Buffer } | undefined;
    let der: Buffer;
    let info: crypto.X509Certificate;
    let privateKey: Buffer | undefined;
    let content: IssuanceContent;
    try {
      // The policy once more, against the record as it is now (a DiscoveryUrl may have gone since
      // the request was made, or the request predates a policy change).
      content = this.policy.content(app, request.group, [...(request.dnsNames ?? []), ...(request.ipAddresses ?? [])], "the request's names");
      let publicKeySpki: Buffer;
      if (request.kind === "signing") {
        publicKeySpki = parseCsr(Buffer.from(request.csr ?? "", "base64")).publicKeySpki;
      } else {
        keyPair = (await pregenerated) ?? (await (ticket ?? this.keyQueue.reserve()).run(() => this.opts.ca.generateKeyPair(type)));
        publicKeySpki = keyPair.publicKeySpki;
      }
      der = await this.opts.ca.issue({
        group: request.group,
        type,
        publicKeySpki,
        subject: content.subject,
        uris: [app.applicationUri],
        dnsNames: content.dnsNames,
        ipAddresses: content.ipAddresses,
        serialHex,
        notBefore: new Date(now.getTime() - BACKDATE_MS),
        notAfter: new Date(now.getTime() + this.opts.certLifetimeMs),
      });
      if (keyPair) {
        const password = request.sealedPassword ? this.opts.secrets.open(request.sealedPassword, `request:${request.requestId}`) : undefined;
        privateKey = await encodePrivateKey({
          pkcs8Der: keyPair.privateKeyPkcs8,
          format: request.privateKeyFormat ?? "PEM",
          password,
          certificateDer: der,
          issuerChain: this.opts.ca.info(request.group).chain,
        });
      }
      info = new crypto.X509Certificate(der);
    } catch (err) {
      ticket?.release();
      this.reservedSerials.delete(serialHex);
      const reason = err instanceof GdsError ? err.message : `the CA could not issue the certificate: ${(err as Error).message}`;
      if (!(err instanceof GdsError)) this.opts.log.error({ err, requestId: request.requestId, applicationId: app.applicationId }, "issuing the certificate failed");
      // Marked failed (not left approved): the application starts a new request.
      await this.exclusive(async () => {
        const current = this.requests.get(request.requestId);
        if (current?.state !== "approved") return;
        const failed: StoredRequest = { ...current, state: "failed", reason: reason.slice(0, 1024) };
        delete failed.sealedPassword;
        await this.opts.store.commit([{ collection: REQUESTS_COLLECTION, key: request.requestId, value: failed }]);
        this.putRequest(failed);
      });
      if (request.sealedPassword) await this.purgeDeletedSecrets(request.requestId);
      if (err instanceof GdsError) throw err;
      throw new GdsError("BadConfigurationError", `the CA could not issue the certificate for request ${request.requestId}; see the server log`);
    } finally {
      // The unencrypted key leaves this function only inside `privateKey` (PEM/PFX).
      keyPair?.privateKeyPkcs8.fill(0);
    }

    const record: CertificateRecord = {
      serialHex,
      applicationId: app.applicationId,
      group: request.group,
      type: request.type,
      subject: content.subject,
      thumbprint: sha1Hex(der),
      notBefore: new Date(info.validFrom).toISOString(),
      notAfter: new Date(info.validTo).toISOString(),
      issuedAt: now.toISOString(),
      requestId: request.requestId,
      der: der.toString("base64"),
    };
    await this.exclusive(async () => {
      const current = this.requests.get(request.requestId);
      if (this.retired.has(app.applicationId)) throw new GdsError("BadNotFound", `application ${app.applicationId} was unregistered while its certificate was being issued`);
      if (current?.state !== "approved") {
        throw new GdsError("BadRequestNotAllowed", `request ${request.requestId} became ${current?.state ?? "unknown"} while its certificate was being issued`);
      }
      const delivered: StoredRequest = { ...current, state: "delivered", serialHex };
      delete delivered.sealedPassword;
      await this.opts.store.commit([
        { collection: CERTIFICATES_COLLECTION, key: serialHex, value: record },
        { collection: REQUESTS_COLLECTION, key: request.requestId, value: delivered },
      ]);
      this.indexCertificate(record);
      this.reservedSerials.delete(serialHex);
      this.putRequest(delivered);
    });
    // Before FinishRequest answers: once the key is out, its password is in no file of the data dir.
    if (request.sealedPassword) await this.purgeDeletedSecrets(request.requestId);
    await this.opts.audit.record({
      event: "CertificateDelivered",
      actor,
      outcome: "Good",
      applicationId: app.applicationId,
      applicationUri: app.applicationUri,
      requestId: request.requestId,
      group: request.group,
      certificateType: request.type,
      serialHex,
      detail: `${record.subject}, valid until ${record.notAfter}${privateKey ? `, private key delivered as ${request.privateKeyFormat}` : ""}`,
    });
    this.opts.log.info({ requestId: request.requestId, applicationId: app.applicationId, serial: serialHex, notAfter: record.notAfter, user: actor }, "certificate issued");
    return { certificate: der, privateKey, issuerCertificates: this.opts.ca.info(request.group).chain };
  }

  /**
   * UnregisterApplication: from here on the application gets no new request or certificate; its
   * open requests are rejected and its certificates revoked in one critical section, so a
   * FinishRequest running meanwhile cannot slip a valid certificate in between.
   */
  private async revokeAllOf(app: ApplicationRecord, actor: Actor): Promise<void> {
    this.retired.add(app.applicationId);
    const revoked = await this.exclusive(async () => {
      const now = this.opts.clock.now().toISOString();
      const open = this.openRequestsOf(app.applicationId);
      const mutations: StoreMutation[] = open.map((r) => {
        const next: StoredRequest = { ...r, state: "rejected", decidedAt: now, decidedBy: actor, reason: "the application was unregistered" };
        delete next.sealedPassword;
        return { collection: REQUESTS_COLLECTION, key: r.requestId, value: next };
      });
      if (mutations.length) {
        await this.opts.store.commit(mutations);
        for (const m of mutations) this.putRequest(m.value as StoredRequest);
      }
      const live = this.certificatesOfApp(app.applicationId).filter((c) => !c.revokedAt);
      return {
        records: live.length ? await this.revokeLocked(live, "cessationOfOperation") : [],
        rejected: mutations.map((m) => publicRequest(m.value as StoredRequest)),
        hadSecrets: open.some((r) => r.sealedPassword),
      };
    });
    if (revoked.hadSecrets) await this.purgeDeletedSecrets(`of application ${app.applicationId}`);
    await this.auditRevoked(revoked.records, actor, "cessationOfOperation");
    for (const r of revoked.rejected) this.dropPregenerated(r.requestId);
    for (const r of revoked.rejected) this.emitDecided(r);
  }

  /** Marks records revoked and re-signs each affected group's CRL, in one durable batch. */
  private async revokeRecords(records: CertificateRecord[], actor: Actor, reason = "unspecified"): Promise<CertificateRecord[]> {
    const revoked = await this.exclusive(() => this.revokeLocked(records, reason));
    await this.auditRevoked(revoked, actor, reason);
    return revoked;
  }

  /** Call with the mutex held. */
  private async revokeLocked(records: CertificateRecord[], reason: string): Promise<CertificateRecord[]> {
    const now = this.opts.clock.now().toISOString();
    const fresh = records.map((r) => this.certificates.get(r.serialHex)!).filter((r) => !r.revokedAt);
    if (fresh.length === 0) return [];
    const updated = fresh.map((r) => ({ ...r, revokedAt: now, revocationReason: reason }));
    // Index first so the CRLs list them; undone if the commit fails.
    for (const r of updated) this.indexCertificate(r);
    try {
      const mutations: StoreMutation[] = updated.map((r) => ({ collection: CERTIFICATES_COLLECTION, key: r.serialHex, value: r }));
      for (const group of new Set(updated.map((r) => r.group))) mutations.push(await this.trustLists.signCrl(group));
      await this.trustLists.commit(mutations);
    } catch (err) {
      for (const r of fresh) this.indexCertificate(r);
      throw err;
    }
    return updated;
  }

  private async auditRevoked(revoked: CertificateRecord[], actor: Actor, reason: string): Promise<void> {
    for (const r of revoked) {
      await this.opts.audit.record({ event: "CertificateRevoked", actor, outcome: "Good", applicationId: r.applicationId, group: r.group, certificateType: r.type, serialHex: r.serialHex, detail: `reason ${reason}` });
      this.opts.log.info({ applicationId: r.applicationId, serial: r.serialHex, group: r.group, user: actor }, "certificate revoked; CRL re-signed");
    }
  }

  /**
   * The CRL's entries: revoked certificates that have not expired yet. An expired certificate is
   * refused for its dates anyway, so its entry may go (RFC 5280 §3.3), which keeps CRLs small
   * over the years.
   */
  private revokedOf(group: CertificateGroupName): RevokedEntry[] {
    const now = this.opts.clock.now().getTime();
    const out: RevokedEntry[] = [];
    for (const c of this.certificates.values()) {
      if (c.group === group && c.revokedAt && Date.parse(c.notAfter) > now) out.push({ serialHex: c.serialHex, revokedAt: new Date(c.revokedAt), reason: c.revocationReason });
    }
    return out;
  }

  /** The group's CA certificate, parsed once (the CA does not change while the server runs). */
  private caCertificate(group: CertificateGroupName): crypto.X509Certificate {
    let ca = this.caCertificates.get(group);
    if (!ca) this.caCertificates.set(group, (ca = new crypto.X509Certificate(this.opts.ca.info(group).chain[0])));
    return ca;
  }

  private putRequest(r: StoredRequest): void {
    this.requests.set(r.requestId, r);
    let ids = this.requestIdsByApplication.get(r.applicationId);
    if (!ids) this.requestIdsByApplication.set(r.applicationId, (ids = new Set()));
    ids.add(r.requestId);
  }

  /** Pending or approved (not yet delivered) requests of one application. */
  private openRequestsOf(applicationId: string): StoredRequest[] {
    const ids = this.requestIdsByApplication.get(applicationId) ?? [];
    return [...ids].map((id) => this.requests.get(id)!).filter((r) => r.state === "pending" || r.state === "approved");
  }

  private certificatesOfApp(applicationId: string): CertificateRecord[] {
    const serials = this.serialsByApplication.get(applicationId);
    return serials ? [...serials].map((s) => this.certificates.get(s)!) : [];
  }

  private indexCertificate(c: CertificateRecord): void {
    this.certificates.set(c.serialHex, c);
    this.byThumbprint.set(c.thumbprint, c);
    let serials = this.serialsByApplication.get(c.applicationId);
    if (!serials) this.serialsByApplication.set(c.applicationId, (serials = new Set()));
    serials.add(c.serialHex);
  }

  /** 16 random bytes, positive and without a leading zero byte (so the hex form is stable), never reused. */
  private newSerial(): string {
    for (;;) {
      const bytes = crypto.randomBytes(16);
      bytes[0] &= 0x7f;
      if (bytes[0] === 0) continue;
      const hex = bytes.toString("hex");
      if (this.certificates.has(hex) || this.reservedSerials.has(hex)) continue;
      this.reservedSerials.add(hex);
      return hex;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.mutexTail.then(fn, fn);
    this.mutexTail = run.catch(() => undefined);
    return run;
  }
}

function resolveGroupAndType(group: CertificateGroupName | undefined, type: CertificateTypeName | undefined): { group: CertificateGroupName; type: CertificateTypeSpec } {
  const g = group ?? "DefaultApplicationGroup";
  const types = GROUP_CERTIFICATE_TYPES[g];
  const t = type ?? types[0];
  if (!types.includes(t)) throw new GdsError("BadInvalidArgument", `CertificateTypeId: ${t} is not a certificate type of ${g} (it has ${types.join(", ")})`);
  return { group: g, type: CERTIFICATE_TYPES[t] };
}

function parsePrivateKeyFormat(raw: string): PrivateKeyFormat {
  const f = raw.trim().toUpperCase();
  if (f === "PEM" || f === "PFX") return f;
  throw new GdsError("BadInvalidArgument", `PrivateKeyFormat: ${JSON.stringify(raw.slice(0, 40))} is not supported; use "PEM" (PKCS#8) or "PFX" (PKCS#12)`);
}

function normaliseId(id: string): string {
  return id.trim().toLowerCase();
}

function normaliseSerial(serial: string): string {
  let s = serial.replace(/[:\s]/g, "").toLowerCase();
  while (s.length > 2 && s.startsWith("00")) s = s.slice(2);
  return s;
}

/** The key a request's certificate certifies: the CSR's, or the one the type makes. */
function requestKeyOf(r: StoredRequest): RequestKey | undefined {
  if (r.kind === "signing") {
    try {
      const d = describeKeyObject(publicKeyFromSpki(parseCsr(Buffer.from(r.csr ?? "", "base64")).publicKeySpki));
      return { keyType: d.keyAlgorithm, ...keySize(d.rsaBits, d.curve), source: "csr" };
    } catch {
      return undefined;
    }
  }
  const type = CERTIFICATE_TYPES[r.type];
  if (!type) return undefined;
  return { keyType: type.keyAlgorithm, ...keySize(type.generatedRsaBits, type.curve), source: "generated" };
}

const CURVE_BITS: Record<string, number> = { "P-256": 256, "P-384": 384, "P-521": 521 };

function keySize(rsaBits: number | undefined, curve: string | undefined): Pick<RequestKey, "keySize" | "curve"> {
  if (rsaBits !== undefined) return { keySize: rsaBits };
  if (curve !== undefined) return { curve, ...(CURVE_BITS[curve] ? { keySize: CURVE_BITS[curve] } : {}) };
  return {};
}

function publicRequest(r: StoredRequest): RequestRecord {
  const { csr: _csr, dnsNames: _d, ipAddresses: _i, privateKeyFormat: _f, sealedPassword: _p, ...rest } = r;
  return { ...rest };
}

/** subjectAltName URIs are IA5String: an ApplicationUri outside printable ASCII cannot be certified. */
function checkCertifiableUri(uri: string): void {
  if (!/^[\x21-\x7e]+$/.test(uri)) {
    throw new GdsError("BadInvalidArgument", `ApplicationUri ${JSON.stringify(uri.slice(0, 200))} has characters a certificate's subjectAltName cannot hold; register it percent-encoded (RFC 3986)`);
  }
}
