import type { CertificateGroupName, CertificateTypeName } from "../ca/certificate-types.js";

/**
 * The CertificateManager as the domain sees it (OPC 10000-12 §7.9): plain data in and out,
 * GdsError with the spec's status names on failure. The OPC UA layer decodes NodeIds into these
 * names and ids, and checks roles (CertificateAuthorityAdmin, ApplicationSelfAdmin) before calling.
 */
export type RequestState = "pending" | "approved" | "rejected" | "delivered" | "failed";
export type RequestKind = "signing" | "newKeyPair";
export type PrivateKeyFormat = "PEM" | "PFX";

/** Who did it, for the audit log: a user name, or `app:<applicationId>` for ApplicationSelfAdmin. */
export type Actor = string;

export interface RequestRecord {
  requestId: string;
  applicationId: string;
  kind: RequestKind;
  group: CertificateGroupName;
  type: CertificateTypeName;
  state: RequestState;
  createdAt: string;
  requestedBy: Actor;
  decidedAt?: string;
  decidedBy?: Actor;
  /** Why it was rejected or failed. */
  reason?: string;
  /** Serial (hex) of the certificate once issued. */
  serialHex?: string;
  /** Subject the certificate will carry (from the CSR or built for a new key pair). */
  subject: string;
}

/**
 * A request as an approver reviews it: the record plus what the certificate will hold, as the
 * issuance policy decides it from the registered application now (not what the CSR asked for).
 */
export interface RequestDetails extends RequestRecord {
  /** The application's registered URI and first name; absent once it is unregistered. */
  applicationUri?: string;
  applicationName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** Why the policy would refuse to issue it now (e.g. the DiscoveryUrl naming a host is gone). */
  issuanceProblem?: string;
  /** The key to be certified: the CSR's, or the one the GDS will generate for the type. */
  key?: RequestKey;
}

export interface RequestKey {
  /** "RSA", "EC", or another algorithm name. */
  keyType: string;
  /** RSA modulus bits, or the curve's size for EC. */
  keySize?: number;
  /** "P-256", "P-384" for EC. */
  curve?: string;
  /** "csr" (the requester's key) or "generated" (made by the GDS at issuance). */
  source: "csr" | "generated";
}

export interface CertificateRecord {
  serialHex: string;
  applicationId: string;
  group: CertificateGroupName;
  type: CertificateTypeName;
  subject: string;
  /** SHA-1 of the DER, lower-case hex (the OPC UA thumbprint). */
  thumbprint: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  requestId: string;
  /** DER, base64. */
  der: string;
  revokedAt?: string;
  revocationReason?: string;
}

export interface StartSigningRequestInput {
  applicationId: string;
  /** undefined → DefaultApplicationGroup */
  group?: CertificateGroupName;
  /** undefined → the group's first type */
  type?: CertificateTypeName;
  csrDer: Buffer;
  actor: Actor;
}

export interface StartNewKeyPairRequestInput {
  applicationId: string;
  group?: CertificateGroupName;
  type?: CertificateTypeName;
  /** "" → built from the application (CN=<ApplicationNames[0]>, …); else "/CN=x/O=y" or "CN=x, O=y". */
  subjectName: string;
  /** [] → host names of the DiscoveryUrls. */
  domainNames: string[];
  privateKeyFormat: string;
  /** "" or undefined → no password (PEM unencrypted, PFX with an empty password). */
  privateKeyPassword?: string;
  actor: Actor;
}

export interface FinishRequestResult {
  certificate: Buffer;
  /** PEM (PKCS#8, encrypted when a password was given) or PFX bytes; undefined for a CSR request. */
  privateKey?: Buffer;
  /** The CA chain, immediate issuer first. */
  issuerCertificates: Buffer[];
}

export interface TrustListContent {
  trustedCertificates: Buffer[];
  trustedCrls: Buffer[];
  issuerCertificates: Buffer[];
  issuerCrls: Buffer[];
}

export interface TrustListSnapshot extends TrustListContent {
  group: CertificateGroupName;
  /** Moves whenever the content changes (revocation, new CRL, admin edit). */
  lastUpdateTime: Date;
}

/** TrustListMasks (OPC 10000-12 §7.8.2.7). */
export const TrustListMask = { TrustedCertificates: 1, TrustedCrls: 2, IssuerCertificates: 4, IssuerCrls: 8, All: 15 } as const;

export interface RevocationStatus {
  /** "Good" or the first problem found, as an OPC UA status name. */
  status: "Good" | "BadCertificateRevoked" | "BadCertificateInvalid" | "BadCertificateUntrusted" | "BadCertificateTimeInvalid" | "BadCertificateRevocationUnknown";
  /** When the caller should check again (the CRL's nextUpdate); epoch when unknown. */
  validityTime: Date;
}
