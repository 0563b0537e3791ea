import type { AuditLog } from "../audit/audit-log.types.js";
import type { CaBackend } from "../ca/ca-backend.js";
import type { CertificateGroupName, CertificateTypeName } from "../ca/certificate-types.js";
import type { Clock } from "../clock.js";
import type { DirectoryService } from "../directory/directory-service.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Store } from "../store/store.js";
import type {
  Actor,
  CertificateRecord,
  FinishRequestResult,
  RequestRecord,
  RevocationStatus,
  StartNewKeyPairRequestInput,
  StartSigningRequestInput,
  TrustListContent,
  TrustListSnapshot,
} from "./certificate-manager.types.js";

export interface CertificateManagerOptions {
  store: Store;
  clock: Clock;
  ca: CaBackend;
  directory: DirectoryService;
  audit: AuditLog;
  log: Logger;
  dataDir: string;
  autoApprove: boolean;
  certLifetimeMs: number;
  renewBeforeMs: number;
  crlLifetimeMs: number;
}

/** SKELETON: signatures fixed; bodies being written. */
export class CertificateManagerService {
  constructor(readonly opts: CertificateManagerOptions) {}

  async init(): Promise<void> {}

  // --- requests -------------------------------------------------------------------------------
  async startSigningRequest(input: StartSigningRequestInput): Promise<RequestRecord> {
    throw new GdsError("BadNotImplemented", `not yet ${input.applicationId}`);
  }
  async startNewKeyPairRequest(input: StartNewKeyPairRequestInput): Promise<RequestRecord> {
    throw new GdsError("BadNotImplemented", `not yet ${input.applicationId}`);
  }
  async finishRequest(applicationId: string, requestId: string, actor: Actor): Promise<FinishRequestResult> {
    throw new GdsError("BadNotImplemented", `not yet ${applicationId} ${requestId} ${actor}`);
  }
  /** RegistrationAuthorityAdmin: pending → approved. BadNotFound, BadInvalidState if not pending. */
  async approve(requestId: string, actor: Actor): Promise<RequestRecord> {
    throw new GdsError("BadNotImplemented", `not yet ${requestId} ${actor}`);
  }
  /** RegistrationAuthorityAdmin: pending|approved → rejected. */
  async reject(requestId: string, actor: Actor, reason?: string): Promise<RequestRecord> {
    throw new GdsError("BadNotImplemented", `not yet ${requestId} ${actor} ${reason}`);
  }
  /** Newest first. */
  listRequests(filter?: { state?: RequestRecord["state"]; applicationId?: string }): RequestRecord[] {
    void filter;
    return [];
  }
  getRequest(requestId: string): RequestRecord {
    throw new GdsError("BadNotFound", `no request ${requestId}`);
  }

  // --- certificates ---------------------------------------------------------------------------
  certificateGroupsOf(applicationId: string): CertificateGroupName[] {
    throw new GdsError("BadNotFound", `not yet ${applicationId}`);
  }
  certificateStatus(applicationId: string, group?: CertificateGroupName, type?: CertificateTypeName): boolean {
    throw new GdsError("BadNotFound", `not yet ${applicationId} ${group} ${type}`);
  }
  /** Currently valid (not revoked, not expired) certificates; group undefined = all groups. */
  certificatesOf(applicationId: string, group?: CertificateGroupName): CertificateRecord[] {
    throw new GdsError("BadNotFound", `not yet ${applicationId} ${group}`);
  }
  listCertificates(): CertificateRecord[] {
    return [];
  }
  async revokeCertificate(applicationId: string, certificateDer: Buffer, actor: Actor, reason?: string): Promise<CertificateRecord> {
    throw new GdsError("BadNotImplemented", `not yet ${applicationId} ${certificateDer.length} ${actor} ${reason}`);
  }
  async revokeBySerial(serialHex: string, actor: Actor, reason?: string): Promise<CertificateRecord> {
    throw new GdsError("BadNotImplemented", `not yet ${serialHex} ${actor} ${reason}`);
  }
  checkRevocationStatus(certificateDer: Buffer): RevocationStatus {
    void certificateDer;
    return { status: "BadCertificateRevocationUnknown", validityTime: new Date(0) };
  }
  /** ApplicationSelfAdmin: the registered application whose valid, GDS-issued certificate this is. */
  selfAdminApplicationOf(channelCertificateDer: Buffer | undefined): string | undefined {
    void channelCertificateDer;
    return undefined;
  }

  // --- trust lists ----------------------------------------------------------------------------
  trustList(group: CertificateGroupName): TrustListSnapshot {
    throw new GdsError("BadNotImplemented", `not yet ${group}`);
  }
  /** CertificateAuthorityAdmin: replaces the external entries of the lists named by `mask`. */
  async replaceTrustList(group: CertificateGroupName, content: TrustListContent, mask: number, actor: Actor): Promise<void> {
    throw new GdsError("BadNotImplemented", `not yet ${group} ${content} ${mask} ${actor}`);
  }
  async addTrustListCertificate(group: CertificateGroupName, der: Buffer, isTrusted: boolean, actor: Actor): Promise<void> {
    throw new GdsError("BadNotImplemented", `not yet ${group} ${der.length} ${isTrusted} ${actor}`);
  }
  async removeTrustListCertificate(group: CertificateGroupName, thumbprint: string, isTrusted: boolean, actor: Actor): Promise<void> {
    throw new GdsError("BadNotImplemented", `not yet ${group} ${thumbprint} ${isTrusted} ${actor}`);
  }
  onTrustListChanged(listener: (group: CertificateGroupName) => void): () => void {
    void listener;
    return () => undefined;
  }

  close(): void {}
}
