/**
 * The contract between the push scheduler (push-target-service.ts, push-scheduler.ts: who is due,
 * retries, status) and the push cycle (push-cycle.ts: one session with one device, step by step).
 * Plain data only: the scheduler never sees node-opcua, the cycle never touches the store.
 */
import type { CertificateGroupName } from "../ca/certificate-types.js";

/** How the GDS authenticates as SecurityAdmin on the device. */
export type PushIdentity =
  | { kind: "userName"; userName: string; password: string }
  /** The GDS's own application certificate as an X509 user token. */
  | { kind: "certificate" };

export type PushSecurityMode = "Sign" | "SignAndEncrypt";

/** A push-managed application, with its credentials decrypted (never logged, never stored so). */
export interface PushTarget {
  /** The GDS ApplicationId (bare GUID, as the store keys applications). */
  applicationId: string;
  applicationUri: string;
  endpointUrl: string;
  /** Short name (Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss) or the full URI. */
  securityPolicy: string;
  securityMode: PushSecurityMode;
  identity: PushIdentity;
  /** CreateSigningRequest's RegeneratePrivateKey (default true). */
  regeneratePrivateKey: boolean;
  /** The GDS certificate group this device's application certificate belongs to. */
  group: CertificateGroupName;
}

/** What one cycle should do. A cycle that renews also pushes the trust list first. */
export interface PushCycleRequest {
  target: PushTarget;
  pushTrustList: boolean;
  renewCertificate: boolean;
  reason: "admin" | "renewal" | "trustListChanged" | "firstPush" | "retry";
  /** Per device call; a device that does not answer in time fails the step with BadTimeout. */
  callTimeoutMs: number;
  /**
   * A signing request an earlier cycle left waiting for approval (GDS_AUTO_APPROVE=false; the
   * result's `pendingRequestId`). When given, the cycle makes no new CSR: it finishes that request
   * (still pending → step "sign" fails with BadNothingToDo again) and pushes its certificate.
   */
  pendingRequestId?: string;
  /** How long to keep reconnecting after ApplyChanges (the device drops its channels); default max(3 × callTimeoutMs, 15 s). */
  reconnectTimeoutMs?: number;
}

export type PushStep =
  | "connect"
  | "readConfiguration"
  | "pushTrustList"
  | "verifyTrustList"
  | "createSigningRequest"
  | "sign"
  | "updateCertificate"
  | "applyChanges"
  | "verifyCertificate";

export interface PushStepTiming {
  step: PushStep;
  ms: number;
  /** The device's (or the GDS's, for "sign") status code name when the step failed. */
  statusCode?: string;
}

export interface PushCycleResult {
  ok: boolean;
  steps: PushStepTiming[];
  /** Set when !ok: the step that failed, the status code name and what went wrong. */
  error?: { step: PushStep; statusCode: string; message: string };
  /** The trust list the device confirmed holding (read back), when pushed. */
  trustList?: { group: CertificateGroupName; lastUpdateTime: string };
  /**
   * The certificate the device was confirmed (GetEndpoints after reconnect) to serve, when renewed.
   * Absent when the cycle failed before that confirmation, even if the GDS signed one.
   */
  certificate?: { serialHex: string; notBefore: string; notAfter: string; thumbprint: string };
  /** Serial of a certificate signed for the device but not confirmed in use (a partial failure). */
  signedButUnconfirmedSerialHex?: string;
  /** The signing request waiting for approval: pass it back as `pendingRequestId` next time. */
  pendingRequestId?: string;
  /** The GDS signing request this cycle used (new or pending), for the log and status. */
  requestId?: string;
  /**
   * The first device certificate the cycle refused (it sent the device no credentials then):
   * the status (BadCertificateUriInvalid, BadCertificateUntrusted …), why, and what the device
   * presented. For the audit log (PushDeviceRejected).
   */
  deviceRejected?: { statusCode: string; reason: string; thumbprint?: string; subject?: string; uris?: string[] };
}

export interface PushCycleRunner {
  run(request: PushCycleRequest): Promise<PushCycleResult>;
}
