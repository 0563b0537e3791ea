/**
 * What the store keeps about push-managed devices (issue 4): the target (how to reach the device,
 * with the password sealed by the data dir's SecretBox) and, in a separate collection, the
 * per-device push status. Both are keyed by the bare ApplicationId GUID.
 */
import type { CertificateGroupName } from "../ca/certificate-types.js";
import type { PushCycleRequest, PushSecurityMode, PushStep, PushStepTiming } from "./push-cycle.types.js";

export const PUSH_TARGETS_COLLECTION = "pushTargets";
export const PUSH_STATUS_COLLECTION = "pushStatus";

/** Security policies a push target may use (short names; full URIs are accepted and shortened). */
export const PUSH_SECURITY_POLICIES = ["Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] as const;
export type PushSecurityPolicy = (typeof PUSH_SECURITY_POLICIES)[number];
export const PUSH_SECURITY_MODES = ["SignAndEncrypt", "Sign"] as const satisfies readonly PushSecurityMode[];

export const DEFAULT_PUSH_SECURITY_POLICY: PushSecurityPolicy = "Basic256Sha256";
export const DEFAULT_PUSH_SECURITY_MODE: PushSecurityMode = "SignAndEncrypt";

/** As stored: the password only sealed (SecretBox, context bound to the ApplicationId and user). */
export type StoredPushIdentity = { kind: "userName"; userName: string; sealedPassword: string } | { kind: "certificate" };

export interface StoredPushTarget {
  applicationId: string;
  endpointUrl: string;
  securityPolicy: PushSecurityPolicy;
  securityMode: PushSecurityMode;
  identity: StoredPushIdentity;
  regeneratePrivateKey: boolean;
  group: CertificateGroupName;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

export interface PushStatusRecord {
  applicationId: string;
  /** When the last cycle started, and why. */
  lastAttempt?: string;
  lastReason?: PushCycleRequest["reason"];
  /** When the last cycle that ended well ended. */
  lastSuccess?: string;
  /** waitingForApproval: the cycle got as far as signing and the signing request waits for a RegistrationAuthorityAdmin (not a failure: no backoff). */
  lastResult?: "ok" | "failed" | "waitingForApproval";
  lastError?: { step: PushStep; statusCode: string; message: string; at: string };
  /** The certificate the device was last confirmed (GetEndpoints) to serve. */
  certificate?: { serialHex: string; notBefore?: string; notAfter: string; thumbprint?: string; confirmedAt: string };
  /** A certificate signed for the device whose use was never confirmed (a partial failure). */
  unconfirmedSerialHex?: string;
  /** The GDS trust list (its LastUpdateTime) the device last confirmed holding. */
  trustList?: { group: CertificateGroupName; lastUpdateTime: string; pushedAt: string };
  consecutiveFailures: number;
  /** After a failure: no automatic attempt before this time (exponential backoff with jitter). */
  nextAttemptAt?: string;
  /** An admin's "push now" not yet served (survives a restart). */
  pushRequestedAt?: string;
  pushRequestedBy?: string;
  /** Equal to pushRequestedAt once a cycle serving that request failed (it is then retried with backoff). */
  pushRequestTriedAt?: string;
  /**
   * A signing request made for this device that waits for approval (GDS_AUTO_APPROVE=false), and
   * since when. The next cycle finishes it (no new CSR, so no second request and no orphaned
   * pending key on the device); cleared once a cycle gets past the signing step with it (signed,
   * rejected, failed) or with a new one.
   */
  pendingRequestId?: string;
  pendingRequestSince?: string;
  /** Step timings of the last cycle. */
  steps?: PushStepTiming[];
  lastDurationMs?: number;
}

/** What an admin may set (SetPushTarget, `gds push set`). */
export interface SetPushTargetInput {
  applicationId: string;
  endpointUrl: string;
  /** "" or undefined → Basic256Sha256. */
  securityPolicy?: string;
  /** "" or undefined → SignAndEncrypt. */
  securityMode?: string;
  userName?: string;
  /** Empty with the same userName as stored: keep the stored password. */
  password?: string;
  useGdsCertificate?: boolean;
  /** undefined → true. */
  regeneratePrivateKey?: boolean;
}

/** A push target as admins see it: no password, sealed or not. */
export interface PushTargetView {
  applicationId: string;
  applicationUri?: string;
  endpointUrl: string;
  securityPolicy: PushSecurityPolicy;
  securityMode: PushSecurityMode;
  identity: { kind: "userName"; userName: string } | { kind: "certificate" };
  regeneratePrivateKey: boolean;
  group: CertificateGroupName;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

export interface PushStatusView extends PushTargetView {
  status: Omit<PushStatusRecord, "applicationId"> & { running: boolean };
}

export interface PushFinishedEvent {
  applicationId: string;
  ok: boolean;
  statusCode?: string;
  step?: string;
}
