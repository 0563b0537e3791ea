import type { CertificateGroupName, CertificateTypeSpec } from "./certificate-types.js";

/**
 * The CA seam (after step-ca's CertificateAuthorityService): a handful of calls with request and
 * response objects. The local implementation signs with keys in the data dir; an HSM signer, EST
 * or a remote CA (EJBCA, step-ca) would implement the same interface.
 *
 * The backend is told exactly what to sign: validation (CSR signature, ApplicationUri, key fits
 * the type, approval) happens before it is called, in the request service.
 */
export interface IssueCertificateRequest {
  group: CertificateGroupName;
  type: CertificateTypeSpec;
  /** SubjectPublicKeyInfo (DER) of the key being certified. */
  publicKeySpki: Buffer;
  /** Subject as an RFC 4514 string, e.g. "CN=Pump 7, O=Acme". */
  subject: string;
  /** subjectAltName: URIs (the ApplicationUri first), DNS names, IP addresses. */
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Serial number, positive, as lowercase hex (32 hex digits for 16 random bytes). */
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

export interface RevokedEntry {
  serialHex: string;
  revokedAt: Date;
  /** RFC 5280 reason name, e.g. "keyCompromise", "cessationOfOperation", "unspecified". */
  reason?: string;
}

export interface SignCrlRequest {
  group: CertificateGroupName;
  revoked: RevokedEntry[];
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface GeneratedKeyPair {
  publicKeySpki: Buffer;
  /** Unencrypted PKCS#8 DER. Held in memory only; the caller wraps it (PEM/PFX) and drops it. */
  privateKeyPkcs8: Buffer;
}

export interface CaGroupInfo {
  group: CertificateGroupName;
  /** The CA certificate (DER) first, then any further issuers up to the root. */
  chain: Buffer[];
  subject: string;
  keyAlgorithm: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CaBackend {
  /** Creates (first start) or loads the CA of every group. Idempotent. */
  init(): Promise<void>;
  info(group: CertificateGroupName): CaGroupInfo;
  /** Signs a certificate for a validated request; returns the certificate's DER. */
  issue(request: IssueCertificateRequest): Promise<Buffer>;
  /** A fresh key pair of the given type (RSA or ECDSA), generated off the event loop. */
  generateKeyPair(type: CertificateTypeSpec): Promise<GeneratedKeyPair>;
  /** Signs a CRL listing `revoked`; returns its DER. */
  signCrl(request: SignCrlRequest): Promise<Buffer>;
}
