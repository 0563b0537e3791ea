/**
 * The audit trail: every registration change, certificate request, approval, rejection, issuance
 * and revocation, with who did it. Append-only JSON lines in `<data dir>/audit.log`, fsync'd
 * before the call that caused it is acknowledged. Never holds secrets (no keys, passwords, CSRs).
 */
export type AuditEventName =
  | "ApplicationRegistered"
  | "ApplicationUpdated"
  | "ApplicationUnregistered"
  | "CertificateRequested"
  | "RequestApproved"
  | "RequestRejected"
  | "CertificateDelivered"
  | "CertificateRevoked"
  | "TrustListUpdated"
  | "CaImported"
  | "CaCreated"
  /** Push management (issue 4): a push target set or removed, and each push cycle's outcome. */
  | "PushTargetSet"
  | "PushTargetRemoved"
  | "PushCompleted"
  /** A push cycle refused the device's certificate (not the registered application) and sent it no credentials. */
  | "PushDeviceRejected"
  /** Users: a failed login (password never recorded) and changes to users by an admin. */
  | "LoginFailed"
  | "UserAdded"
  | "UserRemoved"
  | "UserRolesChanged"
  | "UserCertificateBound"
  | "UserPasswordChanged"
  /** Client application certificates the server's channel PKI trusts (gds clients trust|remove). */
  | "ClientCertificateTrusted"
  | "ClientCertificateRemoved";

export interface AuditEntry {
  /** ISO time, filled in by the log. */
  time?: string;
  event: AuditEventName;
  /** User name, `app:<applicationId>` (ApplicationSelfAdmin), or `system`. */
  actor: string;
  /** Good, or the OPC UA status name of a failure (audit events record failures too). */
  outcome: string;
  applicationId?: string;
  applicationUri?: string;
  requestId?: string;
  group?: string;
  certificateType?: string;
  serialHex?: string;
  /** The user added, removed or changed (user events; the actor is the admin who did it). */
  userName?: string;
  /** SHA-1 thumbprint (hex) of the client certificate trusted or removed. */
  thumbprint?: string;
  /** Remote IP address of the client's channel (LoginFailed). */
  clientAddress?: string;
  /** A short human text; never a secret. */
  detail?: string;
}

export interface AuditLog {
  /** Appends durably; resolves once the entry is on disk. Listeners run after. */
  record(entry: AuditEntry): Promise<void>;
  /** Entries in order, oldest first, optionally only those at or after `since`. */
  read(options?: { since?: Date }): Promise<AuditEntry[]>;
  /** The OPC UA layer subscribes to raise the Part 12 audit events. */
  onEntry(listener: (entry: AuditEntry) => void): () => void;
  close(): Promise<void>;
}
