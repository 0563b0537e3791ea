import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  AttributeIds,
  BrowseDirection,
  DataType,
  MessageSecurityMode,
  NodeId,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  UserTokenType,
  Variant,
  VariantArrayType,
  type ClientSession,
  type EndpointDescription,
  type UserIdentityInfo,
} from "node-opcua";
import { certificateInfo, parseCertificate, pemBlocks } from "../ca/certificate-info.js";
import { CERTIFICATE_TYPES, GROUP_CERTIFICATE_TYPES, certificateTypeByNodeId, type CertificateGroupName, type CertificateTypeName } from "../ca/certificate-types.js";
import { readNode } from "../ca/der.js";
import { systemClock, type Clock } from "../clock.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CertificateManagerService } from "../requests/certificate-manager-service.js";
import type { FinishRequestResult, TrustListContent, TrustListSnapshot } from "../requests/certificate-manager.types.js";
import {
  TrustListCallError,
  TrustListFormatError,
  TrustListTimeoutError,
  addTrustListCertificateViaSession,
  readTrustListViaSession,
  removeTrustListCertificateViaSession,
  withTimeout,
  writeTrustListViaSession,
} from "../opcua/trust-list-client.js";
import { DeviceTrustStore, splitDerChain, type DeviceCertificateVerdict } from "./device-trust.js";
import type { PushCycleRequest, PushCycleResult, PushCycleRunner, PushStep, PushStepTiming, PushTarget } from "./push-cycle.types.js";
import { checkTrustList, crlIssuerDer, planTrustListMerge, type TrustListCheck, type TrustListMergePlan } from "./trust-list-merge.js";

/**
 * One push cycle (OPC 10000-12 §7.10): the GDS as an OPC UA client of one device.
 *
 * connect → readConfiguration → pushTrustList (→ verifyTrustList) → createSigningRequest → sign
 * → updateCertificate → applyChanges → verifyCertificate (reconnect + GetEndpoints).
 *
 * - The GDS connects with its own application certificate (`<data dir>/server-pki/own`), and
 *   judges the device's certificate with DeviceTrustStore (device-trust.ts: the registered
 *   ApplicationUri, a certificate issued to the application and not older than the one confirmed,
 *   or a self-signed certificate pinned on first contact) before any session is activated: a
 *   refused device gets no credentials and nothing is signed for it (`deviceRejected`).
 * - Every device call has `callTimeoutMs`; nothing the device answers makes `run()` throw: every
 *   failure becomes `{ ok: false, error: { step, statusCode, message } }` with the device's status
 *   code name.
 * - The trust list goes first (a device validates the new certificate's chain against it), merged
 *   with the device's own entries (trust-list-merge.ts), written with Open(0x06)/Write/
 *   CloseAndUpdate; where that is refused, or answers Good and changes nothing (node-opcua-server-
 *   configuration 2.157), AddCertificate/RemoveCertificate. It is read back to confirm; when the
 *   device applies it only at ApplyChanges (CloseAndUpdate → TRUE) the read-back waits for the
 *   reconnect after ApplyChanges. A device that holds our CA certificates but cannot take the CRL
 *   (2.157: AddCertificate carries no CRLs) still gets its certificate renewed, and the cycle ends
 *   with the verifyTrustList failure (BadNotSupported).
 * - Signing goes through the CertificateManager (startSigningRequest + finishRequest, actor
 *   `push:<applicationId>`): recorded, audited, counted like a pull request. A request left pending
 *   (manual approval) is handed back as `pendingRequestId` and finished by a later cycle without a
 *   new CSR.
 * - `certificate` is set only after GetEndpoints on a new channel shows the device serving it;
 *   before that a signed certificate is only `signedButUnconfirmedSerialHex`.
 */

const NS0 = {
  serverConfiguration: 12637,
  createSigningRequest: 12737,
  updateCertificate: 13737,
  applyChanges: 12740,
  supportedPrivateKeyFormats: 12639,
} as const;

/** ns0 CertificateGroup objects of ServerConfiguration.CertificateGroups. */
const DEVICE_GROUP_NODE: Record<CertificateGroupName, number> = {
  DefaultApplicationGroup: 14156,
  DefaultHttpsGroup: 14088,
  DefaultUserTokenGroup: 14122,
};

const RECONNECT_PAUSE_MS = 400;

export interface DevicePushCycleOptions {
  certificates: CertificateManagerService;
  dataDir: string;
  log: Logger;
  clock?: Clock;
}

/** A step failed: the status name (the device's, or the GDS's for "sign") and a message. */
class StepFailure extends Error {
  constructor(
    readonly statusCode: string,
    message: string,
    readonly extra: { pendingRequestId?: string } = {},
  ) {
    super(message);
    this.name = "StepFailure";
  }
}

const STATUS_NAME_RE = /\b(Bad[A-Z][A-Za-z0-9]+|Uncertain[A-Z][A-Za-z0-9]+)\b/;

/** The OPC UA status name an error carries (node-opcua puts it in the message), or a fallback. */
export function statusNameOf(err: unknown, fallback = "BadUnexpectedError"): string {
  if (err instanceof StepFailure) return err.statusCode;
  if (err instanceof TrustListCallError) return err.statusCode.name;
  if (err instanceof TrustListTimeoutError || err instanceof TrustListFormatError) return err.statusName;
  if (err instanceof GdsError) return err.statusName;
  const message = err instanceof Error ? err.message : String(err);
  const m = STATUS_NAME_RE.exec(message);
  if (m) return m[1]!;
  if (/ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EPIPE|socket|premature/i.test(message)) return "BadCommunicationError";
  if (/timeout|timed out/i.test(message)) return "BadTimeout";
  if (/connection break|connection.*closed|disconnected/i.test(message)) return "BadConnectionClosed";
  return fallback;
}

function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // node-opcua messages can be long and multi-line; keep the first useful part.
  return text.replace(/\s+/g, " ").trim().slice(0, 500);
}

function securityPolicyOf(name: string): SecurityPolicy {
  const uri = name.includes("#") ? name : `http://opcfoundation.org/UA/SecurityPolicy#${name}`;
  const known = Object.values(SecurityPolicy) as string[];
  if (!known.includes(uri) || uri.endsWith("#None") || uri === SecurityPolicy.Invalid) {
    throw new StepFailure("BadSecurityPolicyRejected", `security policy ${JSON.stringify(name)} is not one the GDS can use to push (Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss)`);
  }
  return uri as SecurityPolicy;
}

interface OwnCertificate {
  certificateFile: string;
  privateKeyFile: string;
  der: Buffer;
  applicationUri: string;
}

interface Connection {
  client: OPCUAClient;
  session?: ClientSession;
  lastVerdict?: DeviceCertificateVerdict;
  /** The verdict on the certificate this connection's secure channel was opened with (always Good). */
  verified: DeviceCertificateVerdict;
}

/** Called with the verdict when a device's certificate is refused. */
type OnRefused = (verdict: DeviceCertificateVerdict) => void;

interface DeviceConfiguration {
  groupNodeId: NodeId;
  trustListNodeId: NodeId;
  certificateType: CertificateTypeName;
  supportedPrivateKeyFormats: string[];
}

/** One run's state: the result being built and the open connection. */
class CycleRun {
  readonly steps: PushStepTiming[] = [];
  result: Omit<PushCycleResult, "ok" | "steps"> = {};
  connection?: Connection;
  /** A failure that does not stop the cycle (CRLs the device cannot take), reported at the end. */
  deferredError?: { step: PushStep; statusCode: string; message: string };
  /** The first device certificate this cycle refused. */
  deviceRejected?: PushCycleResult["deviceRejected"];

  readonly onRefused: OnRefused = (v) => {
    this.deviceRejected ??= { statusCode: v.status.name, reason: v.reason, ...(v.thumbprint ? { thumbprint: v.thumbprint } : {}), ...(v.subject ? { subject: v.subject } : {}), ...(v.uris ? { uris: v.uris } : {}) };
  };

  constructor(readonly request: PushCycleRequest) {}

  get target(): PushTarget {
    return this.request.target;
  }

  async step<T>(step: PushStep, fn: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - started) / 1e6;
    try {
      const value = await fn();
      this.steps.push({ step, ms: round(ms()) });
      return value;
    } catch (err) {
      const statusCode = statusNameOf(err, step === "connect" ? "BadCommunicationError" : "BadUnexpectedError");
      this.steps.push({ step, ms: round(ms()), statusCode });
      throw new CycleStopped(step, statusCode, messageOf(err), err instanceof StepFailure ? err.extra : {});
    }
  }
}

/** The device's certificate was judged and refused. */
class RefusedCertificate extends Error {
  constructor(readonly verdict: DeviceCertificateVerdict) {
    super(verdict.reason);
    this.name = "RefusedCertificate";
  }
}

class CycleStopped extends Error {
  constructor(
    readonly step: PushStep,
    readonly statusCode: string,
    message: string,
    readonly extra: { pendingRequestId?: string },
  ) {
    super(message);
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

export class DevicePushCycle implements PushCycleRunner {
  private readonly certificates: CertificateManagerService;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly dataDir: string;
  readonly trust: DeviceTrustStore;

  constructor(opts: DevicePushCycleOptions) {
    this.certificates = opts.certificates;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.dataDir = opts.dataDir;
    this.trust = new DeviceTrustStore(opts.dataDir, opts.certificates, this.clock);
  }

  async run(request: PushCycleRequest): Promise<PushCycleResult> {
    const run = new CycleRun(request);
    const log = this.log.child({ applicationId: request.target.applicationId, endpointUrl: request.target.endpointUrl, reason: request.reason });
    let error: PushCycleResult["error"];
    try {
      await this.runSteps(run);
    } catch (err) {
      if (err instanceof CycleStopped) {
        error = { step: err.step, statusCode: err.statusCode, message: err.message };
        if (err.extra.pendingRequestId) run.result.pendingRequestId = err.extra.pendingRequestId;
      } else {
        // A bug of ours, not the device's: still a result, never a throw.
        error = { step: lastStepOf(run), statusCode: "BadInternalError", message: messageOf(err) };
        log.error({ err }, "push cycle: internal error");
      }
    } finally {
      await this.closeConnection(run.connection);
      run.connection = undefined;
    }
    error ??= run.deferredError;
    const result: PushCycleResult = { ok: !error, steps: run.steps, ...run.result, ...(error ? { error } : {}), ...(run.deviceRejected ? { deviceRejected: run.deviceRejected } : {}) };
    if (error) log.warn({ step: error.step, statusCode: error.statusCode, message: error.message, steps: run.steps }, "push cycle failed");
    else log.info({ steps: run.steps, serial: result.certificate?.serialHex }, "push cycle done");
    return result;
  }

  private async runSteps(run: CycleRun): Promise<void> {
    const { request, target } = run;
    const timeout = request.callTimeoutMs;
    const own = await run.step("connect", async () => {
      const ownCert = this.ownCertificate();
      run.connection = await this.connect(target, ownCert, timeout, true, run.onRefused);
      const verdict = run.connection.lastVerdict;
      if (verdict?.kind === "firstContact") {
        this.log.info({ applicationId: target.applicationId, thumbprint: verdict.thumbprint }, "push: device's self-signed certificate accepted and pinned on first contact (push-pki/devices)");
      }
      return ownCert;
    });
    const session = run.connection!.session!;
    const config = await run.step("readConfiguration", () => this.readConfiguration(session, target.group, timeout));

    // --- trust list ---
    let trustPlan: TrustListMergePlan | undefined;
    let snapshot: TrustListSnapshot | undefined;
    let verifyTrustListLater = false;
    let trustListNeedsApply = false;
    if (request.pushTrustList || request.renewCertificate) {
      const pushed = await run.step("pushTrustList", async () => {
        snapshot = this.certificates.trustList(target.group);
        return this.pushTrustList(session, config, snapshot, own.der, timeout);
      });
      trustPlan = pushed.plan;
      trustListNeedsApply = pushed.applyChangesRequired;
      verifyTrustListLater = pushed.applyChangesRequired;
      if (!verifyTrustListLater) {
        const readBack = () => readTrustListViaSession(session, config.trustListNodeId, undefined, { callTimeoutMs: timeout }).then((d) => d.content);
        if (await this.verifyTrustListStep(run, readBack, trustPlan, snapshot!, true)) {
          verifyTrustListLater = true;
          trustListNeedsApply = true;
        }
      }
    }

    // --- certificate ---
    let applyRequired = trustListNeedsApply;
    let issued: { result: FinishRequestResult; serialHex: string } | undefined;
    if (request.renewCertificate) {
      const csr = request.pendingRequestId ? undefined : await run.step("createSigningRequest", () => this.createSigningRequest(session, target, config, timeout));
      const signing = run.step("sign", async () => {
        // Never sign on behalf of a device whose certificate this cycle has not verified: the
        // session the CSR came from runs on a channel opened with a certificate judged Good.
        const verified = run.connection?.verified;
        if (!verified?.status.isGood()) {
          throw new StepFailure("BadCertificateUntrusted", "the device's identity was not verified in this cycle; nothing is signed for it");
        }
        let requestId = request.pendingRequestId;
        if (!requestId) {
          const record = await this.certificates.startSigningRequest({
            applicationId: target.applicationId,
            group: target.group,
            type: config.certificateType,
            csrDer: csr!,
            actor: actorOf(target),
          });
          requestId = record.requestId;
        }
        run.result.requestId = requestId;
        return this.finish(target, requestId);
      });
      let finished: FinishRequestResult;
      try {
        finished = await signing;
      } catch (err) {
        // Waiting for approval: the trust list just written still has to be applied and confirmed,
        // or the device would run on the old one (and the scheduler would come back just for it).
        if (err instanceof CycleStopped && err.extra.pendingRequestId && trustListNeedsApply && trustPlan && snapshot) {
          await this.applyTrustListWhileWaiting(run, session, own, config, trustPlan, snapshot);
        }
        throw err;
      }
      const info = certificateInfo(finished.certificate);
      issued = { result: finished, serialHex: info.serialHex };
      run.result.signedButUnconfirmedSerialHex = info.serialHex;
      const updateRequiresApply = await run.step("updateCertificate", () => this.updateCertificate(session, config, finished, timeout));
      applyRequired = applyRequired || updateRequiresApply;
    }
    if (applyRequired) {
      await run.step("applyChanges", () => this.applyChanges(session, timeout, !issued));
    }

    if (!issued && !verifyTrustListLater) return;

    // --- after ApplyChanges: the device drops its channels; reconnect and look ---
    await this.closeConnection(run.connection);
    run.connection = undefined;
    const reconnectTimeout = request.reconnectTimeoutMs ?? Math.max(3 * timeout, 15_000);
    if (issued) {
      const cert = issued.result.certificate;
      await run.step("verifyCertificate", async () => {
        run.connection = await this.reconnectUntilServing(target, own, timeout, reconnectTimeout, cert, run.onRefused);
      });
      const info = certificateInfo(cert);
      run.result.certificate = { serialHex: info.serialHex, notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString(), thumbprint: info.thumbprint };
      delete run.result.signedButUnconfirmedSerialHex;
      try {
        await this.trust.markGdsCertificateConfirmed(target.applicationId, target.applicationUri, cert);
      } catch (err) {
        // The device does hold the certificate; only the pin file could not be written.
        this.log.error({ err, applicationId: target.applicationId }, "push: could not record the confirmed GDS certificate in push-pki/devices");
      }
    }
    if (verifyTrustListLater && trustPlan && snapshot) {
      await this.verifyTrustListAfterApply(run, own, config, trustPlan, snapshot, reconnectTimeout);
    }
  }

  /** The read-back after ApplyChanges, on a new connection (the device dropped the old one). */
  private async verifyTrustListAfterApply(run: CycleRun, own: OwnCertificate, config: DeviceConfiguration, trustPlan: TrustListMergePlan, snapshot: TrustListSnapshot, reconnectTimeout: number): Promise<void> {
    const { target } = run;
    const timeout = run.request.callTimeoutMs;
    const deadline = Date.now() + reconnectTimeout;
    await this.verifyTrustListStep(
      run,
      async () => {
        // A device may close its channels a moment after ApplyChanges (the demo device: 2 s), also
        // one opened right after: a connection lost during the read-back is reconnected and read again.
        for (;;) {
          try {
            if (!run.connection) run.connection = await this.reconnectUntilServing(target, own, timeout, Math.max(1000, deadline - Date.now()), undefined, run.onRefused);
            if (!run.connection.session) run.connection.session = await withTimeout(run.connection.client.createSession(identityOf(target, own)), timeout, "CreateSession");
            return (await readTrustListViaSession(run.connection.session, config.trustListNodeId, undefined, { callTimeoutMs: timeout })).content;
          } catch (err) {
            const status = statusNameOf(err, "BadCommunicationError");
            const lost = /^Bad(CommunicationError|ConnectionClosed|SecureChannelClosed|SessionClosed|SessionIdInvalid|SecureChannelIdInvalid|NotConnected)$/.test(status);
            if (!lost || err instanceof StepFailure || Date.now() + RECONNECT_PAUSE_MS >= deadline) throw err;
            await this.closeConnection(run.connection);
            run.connection = undefined;
            await sleep(RECONNECT_PAUSE_MS);
          }
        }
      },
      trustPlan,
      snapshot,
    );
  }

  /**
   * The signing request waits for approval, but the trust list was written with CloseAndUpdate →
   * ApplyChangesRequired=true: confirm it now rather than in an extra trust-list-only cycle.
   * First a read-back on this session (a device that puts the list in force at once, like the demo
   * device, is confirmed without ApplyChanges). If it does not show the list yet, ApplyChanges,
   * reconnect and read back — but only when the device was not asked to regenerate its private
   * key: node-opcua-server-configuration 2.157 queues the new key at CreateSigningRequest and moves
   * it into place at the next ApplyChanges, under the old certificate, which makes the device
   * unreachable (measured: "Invalid packet signature") until its new certificate arrives. Any
   * failure here is only recorded in the steps and logged: the result stays "waiting for approval"
   * (with its pendingRequestId), and an unconfirmed list is pushed again by a later cycle.
   */
  private async applyTrustListWhileWaiting(run: CycleRun, session: ClientSession, own: OwnCertificate, config: DeviceConfiguration, trustPlan: TrustListMergePlan, snapshot: TrustListSnapshot): Promise<void> {
    const timeout = run.request.callTimeoutMs;
    try {
      const readBack = () => readTrustListViaSession(session, config.trustListNodeId, undefined, { callTimeoutMs: timeout }).then((d) => d.content);
      if (!(await this.verifyTrustListStep(run, readBack, trustPlan, snapshot, true))) return;
      if (run.target.regeneratePrivateKey) {
        this.log.info(
          { applicationId: run.target.applicationId },
          "push: the trust list written while the certificate waits for approval needs ApplyChanges, which could install the device's regenerated key under its old certificate; it is applied together with the certificate",
        );
        return;
      }
      await run.step("applyChanges", () => this.applyChanges(session, timeout, true));
      await this.closeConnection(run.connection);
      run.connection = undefined;
      await this.verifyTrustListAfterApply(run, own, config, trustPlan, snapshot, run.request.reconnectTimeoutMs ?? Math.max(3 * timeout, 15_000));
    } catch (err) {
      // Never lose the waiting result (and its pendingRequestId) over this.
      const fields = err instanceof CycleStopped ? { step: err.step, statusCode: err.statusCode, message: err.message } : { err };
      this.log.warn({ applicationId: run.target.applicationId, ...fields }, "push: confirming the trust list while the certificate waits for approval failed; a later cycle pushes it again");
    }
  }

  // --- connect -------------------------------------------------------------------------------

  /** The GDS's own application certificate and key (the server's, `<data dir>/server-pki/own`). */
  private ownCertificate(): OwnCertificate {
    const certificateFile = path.join(this.dataDir, "server-pki", "own", "certs", "certificate.pem");
    const privateKeyFile = path.join(this.dataDir, "server-pki", "own", "private", "private_key.pem");
    let der: Buffer;
    try {
      const text = fs.readFileSync(certificateFile);
      der = text[0] === 0x30 ? text : pemBlocks(text.toString("latin1"), "CERTIFICATE")[0]!;
      if (!der) throw new Error("no CERTIFICATE block");
      if (!fs.existsSync(privateKeyFile)) throw new Error(`${privateKeyFile} is missing`);
    } catch (err) {
      throw new StepFailure("BadConfigurationError", `the GDS's own application certificate (${certificateFile}) cannot be read: ${(err as Error).message}`);
    }
    const applicationUri = parseCertificate(der).info.uris[0];
    if (!applicationUri) throw new StepFailure("BadConfigurationError", `the GDS's own certificate ${certificateFile} has no ApplicationUri`);
    return { certificateFile, privateKeyFile, der, applicationUri };
  }

  /**
   * Opens a secure channel to the device and, with `withSession`, a session activated with the
   * target's credentials. The device's certificate is judged (DeviceTrustStore) twice before any
   * credential leaves the GDS: by node-opcua on the certificate GetEndpoints announces, before the
   * channel is opened with it, and here on the certificate the open channel is bound to. A refused
   * certificate fails with its status (BadCertificateUriInvalid, BadCertificateUntrusted …) and no
   * CreateSession/ActivateSession is sent.
   */
  private async connect(target: PushTarget, own: OwnCertificate, timeout: number, withSession: boolean, onRefused?: OnRefused): Promise<Connection> {
    const securityPolicy = securityPolicyOf(target.securityPolicy);
    const connection: Partial<Connection> = {};
    const store = this.trust.storeFor(target, (v) => (connection.lastVerdict = v));
    const client = OPCUAClient.create({
      applicationName: "opcua-gds",
      applicationUri: own.applicationUri,
      clientName: `opcua-gds push ${target.applicationId}`,
      securityMode: target.securityMode === "Sign" ? MessageSecurityMode.Sign : MessageSecurityMode.SignAndEncrypt,
      securityPolicy,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      certificateFile: own.certificateFile,
      privateKeyFile: own.privateKeyFile,
      clientCertificateManager: store,
      keepSessionAlive: false,
      requestedSessionTimeout: Math.max(60_000, timeout * 10),
      // Our own per-call timer (withTimeout) must fire first, so that a hung call reads BadTimeout
      // instead of the stack's "Connection Break".
      defaultTransactionTimeout: timeout + 2000,
      transportTimeout: timeout + 2000,
    });
    connection.client = client;
    try {
      await withTimeout(client.connect(target.endpointUrl), timeout, `connect to ${target.endpointUrl}`);
    } catch (err) {
      await client.disconnect().catch(() => undefined);
      const verdict = connection.lastVerdict;
      if (verdict && !verdict.status.isGood()) {
        onRefused?.(verdict);
        throw new StepFailure(verdict.status.name, `the device's certificate is not trusted: ${verdict.reason}; no credentials were sent`);
      }
      throw err;
    }
    try {
      connection.verified = await this.verifyChannelCertificate(target, client, connection.lastVerdict);
    } catch (err) {
      await client.disconnect().catch(() => undefined);
      if (err instanceof RefusedCertificate) {
        onRefused?.(err.verdict);
        throw new StepFailure(err.verdict.status.name, `the device's certificate is not trusted: ${err.verdict.reason}; no credentials were sent`);
      }
      throw err;
    }
    if (withSession) {
      try {
        connection.session = await withTimeout(client.createSession(identityOf(target, own)), timeout, "CreateSession/ActivateSession");
      } catch (err) {
        await client.disconnect().catch(() => undefined);
        throw err;
      }
    }
    return connection as Connection;
  }

  /**
   * The verdict on the certificate the client's secure channel is bound to (the one the device's
   * key proved in OpenSecureChannel, and the one ActivateSession encrypts the password for): the
   * verdict node-opcua's check gave when it is about that same certificate, else judged now.
   */
  private async verifyChannelCertificate(target: PushTarget, client: OPCUAClient, seen: DeviceCertificateVerdict | undefined): Promise<DeviceCertificateVerdict> {
    const announced = client.serverCertificate;
    const chain = announced === undefined ? [] : Array.isArray(announced) ? announced.flatMap((c) => splitDerChain(Buffer.from(c))) : splitDerChain(Buffer.from(announced));
    const leaf = chain[0];
    if (!leaf) throw new RefusedCertificate({ status: StatusCodes.BadCertificateInvalid, reason: "the secure channel is bound to no device certificate" });
    const verdict = seen?.thumbprint === certificateThumbprint(leaf) ? seen : await this.trust.judge(target, chain);
    if (!verdict.status.isGood()) throw new RefusedCertificate(verdict);
    return verdict;
  }

  private async closeConnection(connection: Connection | undefined): Promise<void> {
    if (!connection) return;
    const limit = 2000;
    if (connection.session) await withTimeout(connection.session.close(), limit, "CloseSession").catch(() => undefined);
    await withTimeout(connection.client.disconnect(), limit, "disconnect").catch(() => undefined);
  }

  // --- readConfiguration -----------------------------------------------------------------------

  private async readConfiguration(session: ClientSession, group: CertificateGroupName, timeout: number): Promise<DeviceConfiguration> {
    const groupNodeId = new NodeId(NodeId.NodeIdType.NUMERIC, DEVICE_GROUP_NODE[group], 0);
    const browse = await withTimeout(
      session.browse({ nodeId: groupNodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: "HierarchicalReferences", includeSubtypes: true, resultMask: 0x3f }),
      timeout,
      `Browse ${group}`,
    );
    if (!browse.statusCode.isGood()) {
      throw new StepFailure(browse.statusCode.name, `the device has no ServerConfiguration ${group} (ns=0;i=${DEVICE_GROUP_NODE[group]}): ${browse.statusCode.name}`);
    }
    const byName = new Map<string, NodeId>();
    for (const ref of browse.references ?? []) if (ref.browseName?.name && ref.nodeId) byName.set(ref.browseName.name, ref.nodeId);
    const trustListNodeId = byName.get("TrustList");
    if (!trustListNodeId) throw new StepFailure("BadNotSupported", `the device's ${group} has no TrustList`);
    const typesNode = byName.get("CertificateTypes");
    const reads = [{ nodeId: new NodeId(NodeId.NodeIdType.NUMERIC, NS0.supportedPrivateKeyFormats, 0), attributeId: AttributeIds.Value }];
    if (typesNode) reads.push({ nodeId: typesNode, attributeId: AttributeIds.Value });
    const values = await withTimeout(session.read(reads), timeout, "Read ServerConfiguration");
    const formatsValue = values[0]?.value?.value as unknown;
    const supportedPrivateKeyFormats = Array.isArray(formatsValue) ? formatsValue.filter((f): f is string => typeof f === "string") : [];
    const wanted = GROUP_CERTIFICATE_TYPES[group];
    let certificateType: CertificateTypeName = wanted[0]!;
    if (typesNode) {
      const typesValue = values[1];
      if (typesValue && !typesValue.statusCode.isGood()) {
        throw new StepFailure(typesValue.statusCode.name, `reading ${group}.CertificateTypes failed: ${typesValue.statusCode.name}`);
      }
      const raw = typesValue?.value?.value as unknown;
      const ids = (Array.isArray(raw) || ArrayBuffer.isView(raw) ? Array.from(raw as ArrayLike<unknown>) : raw === null || raw === undefined ? [] : [raw]).filter(
        (v): v is NodeId => v instanceof NodeId,
      );
      if (ids.length > 0) {
        const offered = ids.filter((id) => id.namespace === 0 && typeof id.value === "number").map((id) => certificateTypeByNodeId(id.value as number)?.name);
        const match = offered.find((name): name is CertificateTypeName => name !== undefined && wanted.includes(name));
        if (!match) {
          throw new StepFailure("BadNotSupported", `the device's ${group} certificate types (${ids.map((i) => i.toString()).join(", ")}) include none the GDS issues (${wanted.join(", ")})`);
        }
        certificateType = match;
      }
    }
    return { groupNodeId, trustListNodeId, certificateType, supportedPrivateKeyFormats };
  }

  // --- trust list ------------------------------------------------------------------------------

  /** Our CA certificates of the group: the one that signs the group's CRL, and its issuers. */
  private ourCaCertificates(snapshot: TrustListSnapshot): Buffer[] {
    const crl = this.certificates.trustLists.crlInfo(snapshot.group).der;
    const issuer = crlIssuerDer(crl);
    const all = [...snapshot.trustedCertificates, ...snapshot.issuerCertificates];
    const parsed = all.flatMap((der) => {
      try {
        return [parseCertificate(der)];
      } catch {
        return [];
      }
    });
    const out: Buffer[] = [];
    let wantSubject = issuer;
    for (let depth = 0; wantSubject && depth < 8; depth++) {
      const ca = parsed.find((p) => p.subjectDer.equals(wantSubject!) && !out.some((o) => o.equals(p.der)));
      if (!ca) break;
      out.push(ca.der);
      if (ca.info.selfSigned) break;
      wantSubject = ca.issuerDer;
    }
    return out;
  }

  private async pushTrustList(
    session: ClientSession,
    config: DeviceConfiguration,
    snapshot: TrustListSnapshot,
    ownDer: Buffer,
    timeout: number,
  ): Promise<{ plan: TrustListMergePlan; applyChangesRequired: boolean }> {
    const opts = { callTimeoutMs: timeout };
    const device = (await readTrustListViaSession(session, config.trustListNodeId, undefined, opts)).content;
    const plan = await planTrustListMerge({ device, gds: snapshot, caCertificates: this.ourCaCertificates(snapshot), gdsCertificate: ownDer });
    if (plan.unchanged) return { plan, applyChangesRequired: false };
    let written: { applyChangesRequired: boolean } | undefined;
    try {
      written = await writeTrustListViaSession(session, config.trustListNodeId, plan.desired, 15, opts);
    } catch (err) {
      if (!(err instanceof TrustListCallError)) throw err;
      // Write refused (BadNotWritable, BadNotSupported, BadInvalidState …): AddCertificate/RemoveCertificate.
      this.log.info({ status: err.statusCode.name, method: err.method }, "push: trust list write refused; using AddCertificate/RemoveCertificate");
    }
    if (written?.applyChangesRequired) return { plan, applyChangesRequired: true };
    if (written) {
      // Applied at once (no transaction): check that it really was (2.157 answers Good and changes nothing).
      const after = (await readTrustListViaSession(session, config.trustListNodeId, undefined, opts)).content;
      const check = checkTrustList(after, plan);
      if (check.complete && check.leftovers.length === 0) return { plan, applyChangesRequired: false };
      this.log.info({ missing: check.missing.length, leftovers: check.leftovers.length }, "push: CloseAndUpdate answered Good but the trust list did not change as written; using AddCertificate/RemoveCertificate");
      await this.addAndRemove(session, config, check.missing, check.leftovers, timeout);
    } else {
      await this.addAndRemove(session, config, plan.toAdd, plan.toRemove, timeout);
    }
    return { plan, applyChangesRequired: false };
  }

  private async addAndRemove(
    session: ClientSession,
    config: DeviceConfiguration,
    add: TrustListMergePlan["toAdd"],
    remove: TrustListMergePlan["toRemove"],
    timeout: number,
  ): Promise<void> {
    const opts = { callTimeoutMs: timeout };
    // Removals first: a CA certificate being replaced should be gone before its successor comes.
    for (const entry of remove) {
      if (entry.list !== "trustedCertificates" && entry.list !== "issuerCertificates") continue; // CRLs go with their CA
      try {
        await removeTrustListCertificateViaSession(session, config.trustListNodeId, entry.thumbprint, entry.list === "trustedCertificates", opts);
      } catch (err) {
        // A leftover is harmless (an older CA copy the device keeps); the read-back reports it.
        if (!(err instanceof TrustListCallError)) throw err;
        this.log.info({ status: err.statusCode.name, thumbprint: entry.thumbprint }, "push: RemoveCertificate refused");
      }
    }
    const done = new Set<string>();
    for (const entry of add) {
      if (entry.list !== "trustedCertificates" && entry.list !== "issuerCertificates") continue; // AddCertificate carries no CRLs
      const key = `${entry.list}:${entry.thumbprint}`;
      if (done.has(key)) continue;
      done.add(key);
      await addTrustListCertificateViaSession(session, config.trustListNodeId, entry.der, entry.list === "trustedCertificates", opts);
    }
  }

  /**
   * The read-back (step verifyTrustList). With `allowDefer`, a list that does not show our
   * certificates yet is not judged now: the caller does ApplyChanges and calls again after the
   * reconnect (a device may apply even AddCertificate only then). Returns true when deferred.
   */
  private async verifyTrustListStep(
    run: CycleRun,
    readBack: () => Promise<TrustListContent>,
    plan: TrustListMergePlan,
    snapshot: TrustListSnapshot,
    allowDefer = false,
  ): Promise<boolean> {
    let check: TrustListCheck | undefined;
    let deferred = false;
    await run.step("verifyTrustList", async () => {
      check = checkTrustList(await readBack(), plan);
      if (!check.certificatesConfirmed) {
        if (allowDefer) {
          deferred = true;
          return;
        }
        const missing = check.missing.filter((m) => m.list.endsWith("Certificates"));
        throw new StepFailure(
          "BadInvalidState",
          `the device's trust list, read back, lacks ${missing.length} certificate(s) the GDS pushed (${missing.map((m) => `${m.list} ${m.thumbprint}`).join(", ")})`,
        );
      }
    });
    if (deferred) {
      // Not a verdict yet: a second verifyTrustList follows the reconnect after ApplyChanges.
      this.log.info({ missing: check!.missing.length }, "push: the device does not show the pushed certificates yet; ApplyChanges, then read back again");
      return true;
    }
    if (check!.leftovers.length > 0) {
      this.log.warn({ leftovers: check!.leftovers.map((l) => `${l.list} ${l.thumbprint}`) }, "push: the device kept older GDS trust-list entries it was asked to drop");
    }
    if (!check!.complete) {
      const crls = check!.missing.filter((m) => m.list.endsWith("Crls"));
      const timing = run.steps[run.steps.length - 1]!;
      timing.statusCode = "BadNotSupported";
      run.deferredError ??= {
        step: "verifyTrustList",
        statusCode: "BadNotSupported",
        message: `the device holds the GDS CA certificate(s) but not ${crls.length} CRL(s) (${crls.map((c) => `${c.list} ${c.thumbprint}`).join(", ")}): its Write/CloseAndUpdate changed nothing and AddCertificate cannot carry CRLs`,
      };
      return false;
    }
    run.result.trustList = { group: snapshot.group, lastUpdateTime: snapshot.lastUpdateTime.toISOString() };
    return false;
  }

  // --- certificate -----------------------------------------------------------------------------

  private async callDevice(session: ClientSession, methodId: number, inputArguments: Variant[], timeout: number, what: string): Promise<Variant[]> {
    const result = await withTimeout(
      session.call({ objectId: new NodeId(NodeId.NodeIdType.NUMERIC, NS0.serverConfiguration, 0), methodId: new NodeId(NodeId.NodeIdType.NUMERIC, methodId, 0), inputArguments }),
      timeout,
      what,
    );
    if (!result.statusCode.isGood()) throw new StepFailure(result.statusCode.name, `${what} failed: ${result.statusCode.name}`);
    return result.outputArguments ?? [];
  }

  private async createSigningRequest(session: ClientSession, target: PushTarget, config: DeviceConfiguration, timeout: number): Promise<Buffer> {
    const nonce = crypto.randomBytes(32);
    const out = await this.callDevice(
      session,
      NS0.createSigningRequest,
      [
        new Variant({ dataType: DataType.NodeId, value: config.groupNodeId }),
        new Variant({ dataType: DataType.NodeId, value: new NodeId(NodeId.NodeIdType.NUMERIC, CERTIFICATE_TYPES[config.certificateType].nodeId, 0) }),
        new Variant({ dataType: DataType.String, value: "" }),
        new Variant({ dataType: DataType.Boolean, value: target.regeneratePrivateKey }),
        new Variant({ dataType: DataType.ByteString, value: nonce }),
      ],
      timeout,
      "CreateSigningRequest",
    );
    const csr = out[0]?.value as unknown;
    if (!Buffer.isBuffer(csr) || csr.length === 0) throw new StepFailure("BadDecodingError", "CreateSigningRequest answered no CertificateRequest ByteString");
    try {
      if (csr[0] !== 0x30 || readNode(csr, 0).end !== csr.length) throw new Error("not one DER SEQUENCE");
    } catch (err) {
      throw new StepFailure("BadDecodingError", `CreateSigningRequest answered a CertificateRequest that is not DER PKCS#10 (${(err as Error).message})`);
    }
    return csr;
  }

  private async finish(target: PushTarget, requestId: string): Promise<FinishRequestResult> {
    try {
      return await this.certificates.finishRequest(target.applicationId, requestId, actorOf(target));
    } catch (err) {
      if (err instanceof GdsError && err.statusName === "BadNothingToDo") {
        throw new StepFailure("BadNothingToDo", `signing request ${requestId} is waiting for approval by a RegistrationAuthorityAdmin`, { pendingRequestId: requestId });
      }
      throw err;
    }
  }

  private async updateCertificate(session: ClientSession, config: DeviceConfiguration, finished: FinishRequestResult, timeout: number): Promise<boolean> {
    const out = await this.callDevice(
      session,
      NS0.updateCertificate,
      [
        new Variant({ dataType: DataType.NodeId, value: config.groupNodeId }),
        new Variant({ dataType: DataType.NodeId, value: new NodeId(NodeId.NodeIdType.NUMERIC, CERTIFICATE_TYPES[config.certificateType].nodeId, 0) }),
        new Variant({ dataType: DataType.ByteString, value: finished.certificate }),
        new Variant({ dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: finished.issuerCertificates }),
        new Variant({ dataType: DataType.String, value: "" }),
        new Variant({ dataType: DataType.ByteString, value: Buffer.alloc(0) }),
      ],
      timeout,
      "UpdateCertificate",
    );
    const applyChangesRequired = out[0]?.value as unknown;
    if (typeof applyChangesRequired !== "boolean") throw new StepFailure("BadDecodingError", "UpdateCertificate answered no Boolean ApplyChangesRequired");
    return applyChangesRequired;
  }

  private async applyChanges(session: ClientSession, timeout: number, trustListOnly: boolean): Promise<void> {
    try {
      await this.callDevice(session, NS0.applyChanges, [], timeout, "ApplyChanges");
    } catch (err) {
      // A device that applied the trust list already has nothing to do; that is fine.
      if (trustListOnly && err instanceof StepFailure && err.statusCode === "BadNothingToDo") return;
      throw err;
    }
  }

  /**
   * Reconnects (the device drops its channels after ApplyChanges, and may refuse connections for a
   * moment) until GetEndpoints on a new secure channel shows `expected` (when given) as the
   * device's certificate; the channel's handshake proves the device holds its key.
   */
  private async reconnectUntilServing(target: PushTarget, own: OwnCertificate, timeout: number, totalMs: number, expected: Buffer | undefined, onRefused?: OnRefused): Promise<Connection> {
    const deadline = Date.now() + totalMs;
    let last = "no attempt";
    let lastStatus = "BadTimeout";
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 || expected) await sleep(RECONNECT_PAUSE_MS);
      let connection: Connection | undefined;
      try {
        connection = await this.connect(target, own, Math.min(timeout, Math.max(1000, deadline - Date.now())), false, onRefused);
        if (!expected) return connection;
        const endpoints = await withTimeout(connection.client.getEndpoints(), timeout, "GetEndpoints");
        const served = servedCertificates(endpoints, target);
        if (served.some((der) => der.equals(expected))) return connection;
        const other = served[0] ? certificateThumbprint(served[0]) : "none";
        last = `GetEndpoints still shows certificate ${other}, not the pushed ${certificateThumbprint(expected)}`;
        lastStatus = "BadCertificateInvalid";
      } catch (err) {
        last = messageOf(err);
        lastStatus = statusNameOf(err, "BadCommunicationError");
      }
      if (connection) await this.closeConnection(connection);
      if (Date.now() + RECONNECT_PAUSE_MS >= deadline) {
        throw new StepFailure(lastStatus, `after ApplyChanges, for ${totalMs} ms: ${last}`);
      }
    }
  }
}

function actorOf(target: PushTarget): string {
  return `push:${target.applicationId}`;
}

function identityOf(target: PushTarget, own: OwnCertificate): UserIdentityInfo {
  if (target.identity.kind === "userName") {
    return { type: UserTokenType.UserName, userName: target.identity.userName, password: target.identity.password };
  }
  return { type: UserTokenType.Certificate, certificateData: own.der, privateKey: fs.readFileSync(own.privateKeyFile, "utf8") };
}

/** The leaf certificates the endpoints (of the target's policy and mode first) announce. */
function servedCertificates(endpoints: EndpointDescription[], target: PushTarget): Buffer[] {
  const policy = (() => {
    try {
      return securityPolicyOf(target.securityPolicy) as string;
    } catch {
      return "";
    }
  })();
  const sorted = [...endpoints].sort((a, b) => Number(b.securityPolicyUri === policy) - Number(a.securityPolicyUri === policy));
  const out: Buffer[] = [];
  for (const e of sorted) {
    const cert = e.serverCertificate;
    if (!cert || cert.length === 0) continue;
    try {
      const leaf = splitDerChain(Buffer.from(cert))[0];
      if (leaf && !out.some((o) => o.equals(leaf))) out.push(leaf);
    } catch {
      // not DER: ignore this endpoint
    }
  }
  return out;
}

function certificateThumbprint(der: Buffer): string {
  return crypto.createHash("sha1").update(der).digest("hex");
}

function lastStepOf(run: CycleRun): PushStep {
  return run.steps[run.steps.length - 1]?.step ?? "connect";
}
