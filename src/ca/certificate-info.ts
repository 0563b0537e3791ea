import crypto from "node:crypto";
import { GdsError } from "../errors.js";
import {
  DerError,
  Tag,
  children,
  content,
  expectTag,
  readBitString,
  readBoolean,
  readNamedBits,
  readNode,
  readOid,
  readRoot,
  readTime,
  whole,
  type DerNode,
} from "./der.js";
import { bytesToIp } from "./ip-address.js";
import { describeKeyObject, publicKeyFromSpki } from "./public-key.js";
import { serialHexFromBytes } from "./serial-number.js";
import { verifySignature } from "./signature.js";
import { decodeDistinguishedName } from "./subject-name.js";

/** What the GDS needs to know about an X.509 certificate. */
export interface CertificateInfo {
  /** Lower-case hex of the serial's magnitude, no leading zero bytes (see serial-number.ts). */
  serialHex: string;
  /** RFC 4514 strings (see subject-name.ts). */
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-1 of the DER, lower-case hex (the OPC UA thumbprint). */
  thumbprint: string;
  publicKeySpki: Buffer;
  /** "RSA" | "EC" | another algorithm name. */
  keyAlgorithm: string;
  rsaBits?: number;
  curve?: string;
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** basicConstraints cA. */
  isCa: boolean;
  /** keyUsage bit names, undefined when the extension is absent. */
  keyUsage?: KeyUsageName[];
  /** extendedKeyUsage purposes ("serverAuth", "clientAuth" or dotted OIDs), undefined when absent. */
  extendedKeyUsage?: string[];
  /** Lower-case hex. */
  subjectKeyIdentifier?: string;
  authorityKeyIdentifier?: string;
  /** Dotted OID of the signature algorithm. */
  signatureAlgorithm: string;
  selfSigned: boolean;
}

export type KeyUsageName =
  | "digitalSignature"
  | "nonRepudiation"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign"
  | "encipherOnly"
  | "decipherOnly";

export const KEY_USAGE_BITS: readonly KeyUsageName[] = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
];

const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.4": "emailProtection",
  "1.3.6.1.5.5.7.3.8": "timeStamping",
  "1.3.6.1.5.5.7.3.9": "OCSPSigning",
};

/** The parts of a certificate needed to check signatures; internal to src/ca. */
export interface ParsedCertificate {
  info: CertificateInfo;
  der: Buffer;
  tbs: Buffer;
  /** DER of the subject / issuer Name as it appears in the certificate. */
  subjectDer: Buffer;
  issuerDer: Buffer;
  signatureAlgNode: DerNode;
  signature: Buffer;
}

export interface SanValues {
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
}

/** GeneralNames (the SEQUENCE node) → URIs, DNS names, IP addresses; other forms are skipped. */
export function readGeneralNames(buf: Buffer, node: DerNode): SanValues {
  const out: SanValues = { uris: [], dnsNames: [], ipAddresses: [] };
  for (const gn of children(buf, expectTag(node, Tag.SEQUENCE, "GeneralNames"))) {
    const c = content(buf, gn);
    if (gn.tag === 0x86) out.uris.push(c.toString("latin1"));
    else if (gn.tag === 0x82) out.dnsNames.push(c.toString("latin1"));
    else if (gn.tag === 0x87) {
      const ip = bytesToIp(c);
      if (ip !== undefined) out.ipAddresses.push(ip);
    }
  }
  return out;
}

/** Parses the DER of a certificate; throws DerError. */
export function parseCertificate(input: Buffer): ParsedCertificate {
  const der = Buffer.isBuffer(input) ? input : Buffer.from(input as Uint8Array);
  const root = expectTag(readRoot(der), Tag.SEQUENCE, "Certificate");
  const [tbsNode, sigAlgNode, sigNode] = children(der, root);
  expectTag(tbsNode, Tag.SEQUENCE, "TBSCertificate");
  expectTag(sigAlgNode, Tag.SEQUENCE, "signatureAlgorithm");
  const signature = readBitString(der, expectTag(sigNode, Tag.BIT_STRING, "signatureValue")).bytes;
  const f = children(der, tbsNode!);
  let i = 0;
  if (f[0]?.tag === 0xa0) i++; // version
  const serialNode = expectTag(f[i++], Tag.INTEGER, "serialNumber");
  i++; // signature (inner AlgorithmIdentifier)
  const issuerNode = expectTag(f[i++], Tag.SEQUENCE, "issuer");
  const validity = children(der, expectTag(f[i++], Tag.SEQUENCE, "validity"));
  const subjectNode = expectTag(f[i++], Tag.SEQUENCE, "subject");
  const spkiNode = expectTag(f[i++], Tag.SEQUENCE, "subjectPublicKeyInfo");
  let extsNode: DerNode | undefined;
  for (; i < f.length; i++) if (f[i]!.tag === 0xa3) extsNode = readNode(der, f[i]!.contentStart, f[i]!.end);

  const serialContent = content(der, serialNode);
  if (serialContent.length === 0) throw new DerError("empty serial number");
  const publicKeySpki = Buffer.from(whole(der, spkiNode));
  const keyObject = publicKeyFromSpki(publicKeySpki);

  const info: CertificateInfo = {
    serialHex: serialHexFromBytes(serialContent),
    subject: decodeDistinguishedName(der, subjectNode),
    issuer: decodeDistinguishedName(der, issuerNode),
    notBefore: readTime(der, validity[0]!),
    notAfter: readTime(der, validity[1]!),
    thumbprint: crypto.createHash("sha1").update(der).digest("hex"),
    publicKeySpki,
    ...describeKeyObject(keyObject),
    uris: [],
    dnsNames: [],
    ipAddresses: [],
    isCa: false,
    signatureAlgorithm: readOid(der, children(der, sigAlgNode!)[0]!),
    selfSigned: false,
  };

  if (extsNode) {
    for (const ext of children(der, expectTag(extsNode, Tag.SEQUENCE, "extensions"))) {
      const parts = children(der, expectTag(ext, Tag.SEQUENCE, "Extension"));
      const oid = readOid(der, parts[0]!);
      const valueNode = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, "extnValue");
      const v = readNode(der, valueNode.contentStart, valueNode.end);
      switch (oid) {
        case "2.5.29.17": {
          const san = readGeneralNames(der, v);
          info.uris = san.uris;
          info.dnsNames = san.dnsNames;
          info.ipAddresses = san.ipAddresses;
          break;
        }
        case "2.5.29.19": {
          const bc = children(der, expectTag(v, Tag.SEQUENCE, "basicConstraints"));
          info.isCa = bc[0]?.tag === Tag.BOOLEAN ? readBoolean(der, bc[0]) : false;
          break;
        }
        case "2.5.29.15": {
          const bits = readNamedBits(der, v);
          info.keyUsage = KEY_USAGE_BITS.filter((_, n) => bits.has(n));
          break;
        }
        case "2.5.29.37":
          info.extendedKeyUsage = children(der, expectTag(v, Tag.SEQUENCE, "extKeyUsage")).map((o) => {
            const s = readOid(der, o);
            return EKU_NAMES[s] ?? s;
          });
          break;
        case "2.5.29.14":
          info.subjectKeyIdentifier = content(der, expectTag(v, Tag.OCTET_STRING, "subjectKeyIdentifier")).toString("hex");
          break;
        case "2.5.29.35": {
          const keyId = children(der, expectTag(v, Tag.SEQUENCE, "authorityKeyIdentifier")).find((n) => n.tag === 0x80);
          if (keyId) info.authorityKeyIdentifier = content(der, keyId).toString("hex");
          break;
        }
      }
    }
  }
  const subjectDer = Buffer.from(whole(der, subjectNode));
  const issuerDer = Buffer.from(whole(der, issuerNode));
  info.selfSigned = subjectDer.equals(issuerDer);
  return { info, der, tbs: whole(der, tbsNode!), subjectDer, issuerDer, signatureAlgNode: sigAlgNode!, signature };
}

/** Certificate DER (or PEM) → its info. Throws GdsError BadInvalidArgument on anything else. */
export function certificateInfo(der: Buffer): CertificateInfo {
  try {
    return parseCertificate(pemOrDer(der, "CERTIFICATE")).info;
  } catch (e) {
    if (e instanceof GdsError) throw e;
    throw new GdsError("BadInvalidArgument", `not a valid X.509 certificate: ${(e as Error).message}`);
  }
}

/**
 * True when `caCertDer` issued `certDer`: the certificate's issuer equals the CA's subject and its
 * signature verifies with the CA's public key. Checks nothing else (validity, key usage).
 */
export async function verifyIssuedBy(certDer: Buffer, caCertDer: Buffer): Promise<boolean> {
  let cert: ParsedCertificate;
  let ca: ParsedCertificate;
  try {
    cert = parseCertificate(certDer);
    ca = parseCertificate(caCertDer);
  } catch {
    return false;
  }
  if (!cert.issuerDer.equals(ca.subjectDer) && cert.info.issuer !== ca.info.subject) return false;
  try {
    return await verifySignature(cert.der, cert.signatureAlgNode, cert.tbs, ca.info.publicKeySpki, cert.signature);
  } catch {
    return false;
  }
}

/** Accepts DER, or PEM with the given label (first block); returns DER. */
export function pemOrDer(input: Buffer, label: string): Buffer {
  if (input.length > 0 && input[0] === 0x30) return input;
  const text = input.toString("latin1");
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
  const m = re.exec(text);
  if (!m) throw new DerError(`neither DER nor PEM (${label})`);
  return Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
}

/** Every PEM block with the given label, as DER, in file order. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`, "g");
  const out: Buffer[] = [];
  for (const m of text.matchAll(re)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
  return out;
}

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

