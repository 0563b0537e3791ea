import { GdsError } from "../errors.js";
import type { CertificateTypeSpec } from "./certificate-types.js";
import { readGeneralNames } from "./certificate-info.js";
import { DerError, Tag, children, expectTag, readBitString, readNode, readOid, readRoot, readSmallInteger, whole, type DerNode } from "./der.js";
import { describeKeyObject, keyDescriptionText, publicKeyFromSpki } from "./public-key.js";
import { signatureAlgorithmName, signatureHashName, verifySignature } from "./signature.js";
import { decodeDistinguishedName } from "./subject-name.js";

/** A PKCS#10 certificate signing request, as the request service needs it. */
export interface ParsedCsr {
  /** RFC 4514 string (see subject-name.ts); "" when the CSR has an empty subject. */
  subject: string;
  publicKeySpki: Buffer;
  keyAlgorithm: "RSA" | "EC";
  rsaBits?: number;
  /** "P-256", "P-384", "P-521" or OpenSSL's name of another curve. */
  curve?: string;
  /** From the subjectAltName of the extensionRequest attribute (empty when there is none). */
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Name of the CSR's signature algorithm, e.g. "sha256WithRSAEncryption". */
  signatureAlgorithm: string;
  /** Its digest ("sha256", "sha1", "md5", …); null for EdDSA, undefined when unknown. */
  signatureHash: string | null | undefined;
}

/** Larger inputs are refused before parsing (a CSR is 1–3 KB). */
export const MAX_CSR_BYTES = 64 * 1024;

interface CsrRaw {
  der: Buffer;
  info: Buffer;
  sigAlgNode: DerNode;
  signature: Buffer;
}

const raws = new WeakMap<ParsedCsr, CsrRaw>();

const EXTENSION_REQUEST_OIDS = new Set(["1.2.840.113549.1.9.14", "1.3.6.1.4.1.311.2.1.14"]);

function bad(why: string): GdsError {
  return new GdsError("BadInvalidArgument", `certificate signing request: ${why}`);
}

function toDer(input: Buffer): Buffer {
  if (!Buffer.isBuffer(input)) {
    if ((input as unknown) instanceof Uint8Array) input = Buffer.from(input as Uint8Array);
    else throw bad("not a byte string");
  }
  if (input.length === 0) throw bad("empty");
  if (input.length > MAX_CSR_BYTES) throw bad(`${input.length} bytes is larger than the ${MAX_CSR_BYTES}-byte limit`);
  if (input[0] === 0x30) return input;
  const text = input.toString("latin1");
  const m = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END (NEW )?CERTIFICATE REQUEST-----/.exec(text);
  if (!m) throw bad("neither DER nor PEM");
  return Buffer.from(m[2]!.replace(/\s+/g, ""), "base64");
}

/**
 * Parses a PKCS#10 CSR (DER, or PEM as a courtesy) WITHOUT checking its signature: a CSR that
 * comes from outside goes through `parseAndVerifyCsr` (or `verifyCsr` on this result) first.
 * Throws GdsError BadInvalidArgument saying what is wrong.
 */
export function parseCsr(input: Buffer): ParsedCsr {
  const der = toDer(input);
  try {
    const root = expectTag(readRoot(der), Tag.SEQUENCE, "CertificationRequest");
    const [infoNode, sigAlgNode, sigNode] = children(der, root);
    expectTag(infoNode, Tag.SEQUENCE, "certificationRequestInfo");
    expectTag(sigAlgNode, Tag.SEQUENCE, "signatureAlgorithm");
    const signature = readBitString(der, expectTag(sigNode, Tag.BIT_STRING, "signature")).bytes;
    const [versionNode, subjectNode, spkiNode, attrsNode] = children(der, infoNode!);
    const version = readSmallInteger(der, expectTag(versionNode, Tag.INTEGER, "version"));
    if (version !== 0) throw new DerError(`unsupported version ${version}`);
    const subject = decodeDistinguishedName(der, expectTag(subjectNode, Tag.SEQUENCE, "subject"));
    const publicKeySpki = Buffer.from(whole(der, expectTag(spkiNode, Tag.SEQUENCE, "subjectPKInfo")));
    const key = describeKeyObject(publicKeyFromSpki(publicKeySpki));
    if (key.keyAlgorithm !== "RSA" && key.keyAlgorithm !== "EC") {
      throw bad(`${key.keyAlgorithm} keys are not supported (RSA or ECDSA only)`);
    }
    const csr: ParsedCsr = {
      subject,
      publicKeySpki,
      keyAlgorithm: key.keyAlgorithm,
      ...(key.rsaBits !== undefined ? { rsaBits: key.rsaBits } : {}),
      ...(key.curve !== undefined ? { curve: key.curve } : {}),
      uris: [],
      dnsNames: [],
      ipAddresses: [],
      signatureAlgorithm: signatureAlgorithmName(readOid(der, children(der, sigAlgNode!)[0]!)),
      signatureHash: signatureHashName(der, sigAlgNode!),
    };
    if (attrsNode) {
      if (attrsNode.tag !== 0xa0) throw new DerError("attributes: expected [0]");
      for (const attr of children(der, attrsNode)) {
        const [typeNode, valuesNode] = children(der, expectTag(attr, Tag.SEQUENCE, "Attribute"));
        if (!EXTENSION_REQUEST_OIDS.has(readOid(der, typeNode!))) continue;
        for (const exts of children(der, expectTag(valuesNode, Tag.SET, "attribute values"))) {
          for (const ext of children(der, expectTag(exts, Tag.SEQUENCE, "Extensions"))) {
            const parts = children(der, expectTag(ext, Tag.SEQUENCE, "Extension"));
            if (readOid(der, parts[0]!) !== "2.5.29.17") continue;
            const valueNode = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, "extnValue");
            const san = readGeneralNames(der, readNode(der, valueNode.contentStart, valueNode.end));
            csr.uris.push(...san.uris);
            csr.dnsNames.push(...san.dnsNames);
            csr.ipAddresses.push(...san.ipAddresses);
          }
        }
      }
    }
    raws.set(csr, { der, info: Buffer.from(whole(der, infoNode!)), sigAlgNode: sigAlgNode!, signature: Buffer.from(signature) });
    return csr;
  } catch (e) {
    if (e instanceof GdsError) throw e;
    throw bad(`malformed (${(e as Error).message})`);
  }
}

/** Checks the self-signature (proof of possession) of a parseCsr result, off the event loop. Throws GdsError BadInvalidArgument. */
export async function verifyCsr(csr: ParsedCsr): Promise<void> {
  const raw = raws.get(csr);
  if (!raw) throw bad("not produced by parseCsr");
  let ok: boolean;
  try {
    ok = await verifySignature(raw.der, raw.sigAlgNode, raw.info, csr.publicKeySpki, raw.signature);
  } catch (e) {
    throw bad(`signature cannot be checked: ${(e as Error).message}`);
  }
  if (!ok) throw bad("signature does not verify with the request's public key (corrupted, or not signed by the key holder)");
}

/**
 * Parses a PKCS#10 CSR (DER, or PEM as a courtesy) and verifies its self-signature (in the thread
 * pool). Rejects with GdsError BadInvalidArgument saying what is wrong: not a CSR, too large,
 * unsupported key or signature algorithm, signature does not verify.
 */
export async function parseAndVerifyCsr(input: Buffer): Promise<ParsedCsr> {
  const csr = parseCsr(input);
  await verifyCsr(csr);
  return csr;
}

/** A key as described by ParsedCsr or CertificateInfo. */
export interface KeyDescription {
  keyAlgorithm: string;
  rsaBits?: number;
  curve?: string;
}

function wanted(type: CertificateTypeSpec): string {
  if (type.keyAlgorithm === "EC") return `an ECDSA ${type.curve} key`;
  const r = type.rsaBits;
  if (!r) return "an RSA key";
  return r.min === r.max ? `an RSA ${r.min}-bit key` : `an RSA key of ${r.min} to ${r.max} bits`;
}

/**
 * Throws GdsError BadInvalidArgument when the key does not fit the certificate type, e.g.
 * "RsaMinApplicationCertificateType needs an RSA 2048-bit key; this CSR has an RSA 1024-bit key
 * (1024-bit keys are refused by policy)".
 */
export function checkKeyFitsType(key: KeyDescription, type: CertificateTypeSpec, what = "this CSR"): void {
  const has = keyDescriptionText(key).replace(/^RSA (\d+)$/, "RSA $1-bit").replace(/^EC /, "ECDSA ");
  const fail = (extra = ""): never => {
    throw new GdsError("BadInvalidArgument", `${type.name} needs ${wanted(type)}; ${what} has ${/^(RSA|ECDSA|EC\b|[AEIOU])/.test(has) ? "an" : "a"} ${has} key${extra}`);
  };
  if (key.keyAlgorithm !== type.keyAlgorithm) fail();
  if (type.keyAlgorithm === "EC") {
    if (key.curve !== type.curve) fail();
    return;
  }
  const bits = key.rsaBits ?? 0;
  if (type.rsaBits && (bits < type.rsaBits.min || bits > type.rsaBits.max)) {
    fail(bits < 2048 ? ` (${bits}-bit keys are refused by policy)` : "");
  }
}

