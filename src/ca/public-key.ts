import crypto, { type KeyObject } from "node:crypto";
import { DerError, Tag, children, expectTag, readBitString, readOid, readRoot } from "./der.js";

/** What a SubjectPublicKeyInfo holds, in the terms the certificate types use. */
export interface PublicKeyDescription {
  /** "RSA", "EC", or another algorithm name ("RSA-PSS", "Ed25519", …) that no certificate type accepts. */
  keyAlgorithm: string;
  rsaBits?: number;
  /** "P-256", "P-384", "P-521" or OpenSSL's curve name for other curves. */
  curve?: string;
}

const CURVES: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };
const OTHER_TYPES: Record<string, string> = { "rsa-pss": "RSA-PSS", ed25519: "Ed25519", ed448: "Ed448", dsa: "DSA", x25519: "X25519", x448: "X448", dh: "DH" };

export function describeKeyObject(key: KeyObject): PublicKeyDescription {
  const type = key.asymmetricKeyType;
  if (type === "rsa") return { keyAlgorithm: "RSA", rsaBits: key.asymmetricKeyDetails?.modulusLength };
  if (type === "ec") {
    const c = key.asymmetricKeyDetails?.namedCurve ?? "unknown";
    return { keyAlgorithm: "EC", curve: CURVES[c] ?? c };
  }
  return { keyAlgorithm: OTHER_TYPES[type ?? ""] ?? String(type) };
}

/** A short human description: "RSA 3072", "EC P-256". */
export function keyDescriptionText(d: PublicKeyDescription): string {
  if (d.keyAlgorithm === "RSA") return `RSA ${d.rsaBits ?? "?"}`;
  if (d.keyAlgorithm === "EC") return `EC ${d.curve ?? "?"}`;
  return d.keyAlgorithm;
}

/** Parses a DER SubjectPublicKeyInfo into a KeyObject. Throws DerError when it is not one. */
export function publicKeyFromSpki(spki: Buffer): KeyObject {
  try {
    return crypto.createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (e) {
    throw new DerError(`not a usable SubjectPublicKeyInfo (${(e as Error).message})`);
  }
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value. */
export function subjectKeyIdentifier(spki: Buffer): Buffer {
  const root = readRoot(spki);
  const [, bits] = children(spki, expectTag(root, Tag.SEQUENCE, "SubjectPublicKeyInfo"));
  return crypto.createHash("sha1").update(readBitString(spki, bits!).bytes).digest();
}

/** Canonical SPKI DER of a public or private key (compares keys independent of their encoding). */
export function spkiOf(key: KeyObject): Buffer {
  const pub = key.type === "private" ? crypto.createPublicKey(key) : key;
  return pub.export({ type: "spki", format: "der" });
}


const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";

/** How an EC SubjectPublicKeyInfo names its curve (RFC 5480 §2.1.1: only namedCurve is allowed). */
export type EcParametersForm = "namedCurve" | "explicit" | "implicitlyCA";

/** What the key rules look at beyond algorithm and size: the RSA exponent, the EC parameter form. */
export interface PublicKeyDetails extends PublicKeyDescription {
  rsaPublicExponent?: bigint;
  ecParameters?: EcParametersForm;
}

/** Describes a DER SubjectPublicKeyInfo for the key rules. Throws DerError when it is not one. */
export function publicKeyDetails(spki: Buffer): PublicKeyDetails {
  const key = publicKeyFromSpki(spki);
  const details: PublicKeyDetails = describeKeyObject(key);
  if (details.keyAlgorithm === "RSA") {
    const e = key.asymmetricKeyDetails?.publicExponent;
    if (e !== undefined) details.rsaPublicExponent = BigInt(e);
  }
  const [algNode] = children(spki, expectTag(readRoot(spki), Tag.SEQUENCE, "SubjectPublicKeyInfo"));
  const [oidNode, params] = children(spki, expectTag(algNode, Tag.SEQUENCE, "AlgorithmIdentifier"));
  if (readOid(spki, oidNode!) === OID_EC_PUBLIC_KEY) {
    details.ecParameters = params?.tag === Tag.OID ? "namedCurve" : params?.tag === Tag.SEQUENCE ? "explicit" : "implicitlyCA";
  }
  return details;
}
