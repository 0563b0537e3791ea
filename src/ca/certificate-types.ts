/**
 * Certificate groups and certificate types of the GDS (OPC 10000-12 §7.8, OPC 10000-6 §6.2).
 * Plain data: the OPC UA layer maps group names to ns=GDS NodeIds and type names to ns0 NodeIds.
 */
export type CertificateGroupName = "DefaultApplicationGroup" | "DefaultHttpsGroup" | "DefaultUserTokenGroup";

export const CERTIFICATE_GROUP_NAMES: readonly CertificateGroupName[] = ["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"];

export type CertificateTypeName =
  | "RsaSha256ApplicationCertificateType"
  | "RsaMinApplicationCertificateType"
  | "EccNistP256ApplicationCertificateType"
  | "EccNistP384ApplicationCertificateType"
  | "HttpsCertificateType"
  | "UserCredentialCertificateType";

export interface CertificateTypeSpec {
  name: CertificateTypeName;
  /** Numeric NodeId in the OPC UA namespace (ns0). */
  nodeId: number;
  keyAlgorithm: "RSA" | "EC";
  /** RSA modulus sizes accepted (bits), inclusive. */
  rsaBits?: { min: number; max: number };
  /** Key size used when the GDS generates the key pair. */
  generatedRsaBits?: number;
  curve?: "P-256" | "P-384";
}

export const CERTIFICATE_TYPES: Record<CertificateTypeName, CertificateTypeSpec> = {
  RsaSha256ApplicationCertificateType: { name: "RsaSha256ApplicationCertificateType", nodeId: 12560, keyAlgorithm: "RSA", rsaBits: { min: 2048, max: 4096 }, generatedRsaBits: 2048 },
  // Part 6 allows 1024–2048; 1024-bit keys are refused by policy (they are broken).
  RsaMinApplicationCertificateType: { name: "RsaMinApplicationCertificateType", nodeId: 12559, keyAlgorithm: "RSA", rsaBits: { min: 2048, max: 2048 }, generatedRsaBits: 2048 },
  EccNistP256ApplicationCertificateType: { name: "EccNistP256ApplicationCertificateType", nodeId: 23538, keyAlgorithm: "EC", curve: "P-256" },
  EccNistP384ApplicationCertificateType: { name: "EccNistP384ApplicationCertificateType", nodeId: 23539, keyAlgorithm: "EC", curve: "P-384" },
  HttpsCertificateType: { name: "HttpsCertificateType", nodeId: 12558, keyAlgorithm: "RSA", rsaBits: { min: 2048, max: 4096 }, generatedRsaBits: 2048 },
  UserCredentialCertificateType: { name: "UserCredentialCertificateType", nodeId: 15181, keyAlgorithm: "RSA", rsaBits: { min: 2048, max: 4096 }, generatedRsaBits: 2048 },
};

/** Each group's certificate types; the first is the default when a request names none. */
export const GROUP_CERTIFICATE_TYPES: Record<CertificateGroupName, readonly CertificateTypeName[]> = {
  DefaultApplicationGroup: ["RsaSha256ApplicationCertificateType", "RsaMinApplicationCertificateType", "EccNistP256ApplicationCertificateType", "EccNistP384ApplicationCertificateType"],
  DefaultHttpsGroup: ["HttpsCertificateType"],
  DefaultUserTokenGroup: ["UserCredentialCertificateType"],
};

export function certificateTypeByNodeId(id: number): CertificateTypeSpec | undefined {
  return Object.values(CERTIFICATE_TYPES).find((t) => t.nodeId === id);
}
