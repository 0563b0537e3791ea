import { GdsError } from "../errors.js";
import {
  DER_TRUE,
  derBitString,
  derExplicit,
  derImplicit,
  derNamedBits,
  derOctetString,
  derOid,
  derSequence,
  derSmallInteger,
  derTime,
  derUnsignedInteger,
} from "./der.js";
import type { KeyUsageName } from "./certificate-info.js";
import { KEY_USAGE_BITS } from "./certificate-info.js";
import { ipToBytes } from "./ip-address.js";

/**
 * X.509 v3 TBSCertificate and extension encoders (RFC 5280). Everything the CA signs is assembled
 * here from pre-encoded parts: the CA's issuer Name and AlgorithmIdentifier are encoded once and
 * reused, so building one certificate costs microseconds.
 */

export interface TbsCertificateParts {
  /** Magnitude of the (positive) serial number. */
  serial: Buffer;
  /** DER AlgorithmIdentifier of the CA's signature (also goes outside the TBS). */
  signatureAlgorithm: Buffer;
  /** DER Name, byte-identical to the CA certificate's subject. */
  issuer: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER Name. */
  subject: Buffer;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  /** DER Extension elements, in order. */
  extensions: Buffer[];
}

const V3 = derExplicit(0, derSmallInteger(2));

export function buildTbsCertificate(p: TbsCertificateParts): Buffer {
  return derSequence(
    V3,
    derUnsignedInteger(p.serial),
    p.signatureAlgorithm,
    p.issuer,
    derSequence(derTime(p.notBefore), derTime(p.notAfter)),
    p.subject,
    p.spki,
    derExplicit(3, derSequence(...p.extensions)),
  );
}

/** Certificate / CertificateList: SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }. */
export function assembleSigned(tbs: Buffer, signatureAlgorithm: Buffer, signature: Buffer): Buffer {
  return derSequence(tbs, signatureAlgorithm, derBitString(signature));
}

export function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical ? derSequence(derOid(oid), DER_TRUE, derOctetString(value)) : derSequence(derOid(oid), derOctetString(value));
}

export const OID_EXT = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  cRLNumber: "2.5.29.20",
  reasonCode: "2.5.29.21",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
} as const;

export const OID_EKU = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2" } as const;

/** basicConstraints, critical. A CA without pathLenConstraint; an end entity as an empty SEQUENCE (cA DEFAULT FALSE). */
export function basicConstraintsExtension(isCa: boolean): Buffer {
  return extension(OID_EXT.basicConstraints, true, isCa ? derSequence(DER_TRUE) : derSequence());
}

export function keyUsageExtension(usages: KeyUsageName[]): Buffer {
  return extension(OID_EXT.keyUsage, true, derNamedBits(usages.map((u) => KEY_USAGE_BITS.indexOf(u))));
}

export function extKeyUsageExtension(oids: string[]): Buffer {
  return extension(OID_EXT.extKeyUsage, false, derSequence(...oids.map((o) => derOid(o))));
}

export function subjectKeyIdentifierExtension(id: Buffer): Buffer {
  return extension(OID_EXT.subjectKeyIdentifier, false, derOctetString(id));
}

export function authorityKeyIdentifierExtension(id: Buffer): Buffer {
  return extension(OID_EXT.authorityKeyIdentifier, false, derSequence(derImplicit(0, id)));
}

// eslint-disable-next-line no-control-regex
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * subjectAltName from URIs, DNS names and IP addresses (in that order, so the ApplicationUri given
 * first is the first entry). Undefined when all three are empty. Throws GdsError
 * BadInvalidArgument on a value that cannot go into the certificate.
 */
export function subjectAltNameExtension(san: { uris: string[]; dnsNames: string[]; ipAddresses: string[] }, critical = false): Buffer | undefined {
  const names: Buffer[] = [];
  for (const u of san.uris) {
    if (!PRINTABLE_ASCII.test(u)) throw new GdsError("BadInvalidArgument", `URI ${JSON.stringify(u)} cannot go into subjectAltName (ASCII without spaces or control characters only)`);
    names.push(derImplicit(6, Buffer.from(u, "latin1")));
  }
  for (const d of san.dnsNames) {
    if (!PRINTABLE_ASCII.test(d)) throw new GdsError("BadInvalidArgument", `DNS name ${JSON.stringify(d)} cannot go into subjectAltName (ASCII without spaces; use punycode for international names)`);
    names.push(derImplicit(2, Buffer.from(d, "latin1")));
  }
  for (const ip of san.ipAddresses) {
    const bytes = ipToBytes(ip);
    if (!bytes) throw new GdsError("BadInvalidArgument", `${JSON.stringify(ip)} is not an IP address`);
    names.push(derImplicit(7, bytes));
  }
  if (names.length === 0) return undefined;
  return extension(OID_EXT.subjectAltName, critical, derSequence(...names));
}
