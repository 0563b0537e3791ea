import crypto, { type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { systemClock, type Clock } from "../clock.js";
import { caFilesState, caGroupDir, writeCaGroup } from "./ca-files.js";
import { parseCertificate, pemBlocks, verifyIssuedBy, type CertificateInfo } from "./certificate-info.js";
import { CERTIFICATE_GROUP_NAMES, type CertificateGroupName } from "./certificate-types.js";
import { describeKeyObject, keyDescriptionText, spkiOf } from "./public-key.js";
import { signingAlgorithmFor } from "./signature.js";

/**
 * Importing an existing CA (certificate + private key files) into the data dir: on the first start
 * (GDS_CA_CERT_FILE / GDS_CA_KEY_FILE, DefaultApplicationGroup) and offline (`gds ca import`).
 * The files end up exactly like a created CA's (see ca-files.ts).
 */

/** A refused import. `statusName` is "BadEntryExists" when the group already has a CA. */
export class CaImportError extends Error {
  constructor(
    message: string,
    readonly statusName?: "BadEntryExists",
  ) {
    super(message);
    this.name = "CaImportError";
  }
}

export interface ImportCaOptions {
  dataDir: string;
  group: CertificateGroupName;
  /** PEM (one or more certificates: the CA first, then its issuers up to the root) or DER. */
  certFile: string;
  /** PEM (PKCS#8, PKCS#1 or SEC1; RSA or EC, unencrypted) or DER (PKCS#8/PKCS#1/SEC1). */
  keyFile: string;
  /** Replace an existing CA of the group (it is kept as `<group>.replaced-<time>`). */
  force?: boolean;
  clock?: Clock;
}

export interface ImportCaResult {
  group: CertificateGroupName;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** e.g. "RSA 3072". */
  keyAlgorithm: string;
  /** SHA-1 thumbprint of the CA certificate (lower-case hex). */
  thumbprint: string;
  /** Number of issuer certificates stored with it (0 for a self-signed root). */
  chainLength: number;
  /** Where the replaced CA was moved (force only). */
  replacedTo?: string;
}

/** A CA certificate and key read from files and checked; not yet written anywhere. */
export interface CheckedCa {
  certDer: Buffer;
  key: KeyObject;
  chain: Buffer[];
  info: CertificateInfo;
}

function fail(message: string): never {
  throw new CaImportError(message);
}

async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    return fail(`cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function readCertificates(bytes: Buffer, file: string): Buffer[] {
  if (bytes.length > 0 && bytes[0] === 0x30) return [bytes];
  const blocks = pemBlocks(bytes.toString("latin1"), "CERTIFICATE");
  if (blocks.length === 0) fail(`${file} holds no certificate (expected PEM "BEGIN CERTIFICATE" or DER)`);
  return blocks;
}

function readPrivateKey(bytes: Buffer, file: string): KeyObject {
  const text = bytes.toString("latin1");
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(text)) {
    fail(`${file} is an encrypted private key; decrypt it first (e.g. openssl pkey -in ${file} -out plain.pem) and keep the result private`);
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    try {
      return crypto.createPrivateKey({ key: text, format: "pem" });
    } catch (e) {
      fail(`${file}: cannot read the private key (${(e as Error).message})`);
    }
  }
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    try {
      return crypto.createPrivateKey({ key: bytes, format: "der", type });
    } catch {
      /* next */
    }
  }
  return fail(`${file} holds no private key (expected PEM PKCS#8 "BEGIN PRIVATE KEY", PKCS#1 "BEGIN RSA PRIVATE KEY" or SEC1 "BEGIN EC PRIVATE KEY")`);
}

/**
 * Checks that `certDer` is a usable CA for `key`: parses, is a CA (basicConstraints CA:TRUE;
 * keyUsage, when present, with keyCertSign and cRLSign), not expired, the key is RSA ≥ 2048 or
 * ECDSA and belongs to the certificate, the chain (if any) issued it. Throws CaImportError.
 */
export async function checkCaMaterial(certDer: Buffer, key: KeyObject, chain: Buffer[], clock: Clock, source: string): Promise<CheckedCa> {
  let info: CertificateInfo;
  try {
    info = parseCertificate(certDer).info;
  } catch (e) {
    return fail(`${source}: not a valid X.509 certificate (${(e as Error).message})`);
  }
  if (!info.isCa) fail(`${source}: "${info.subject}" is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  if (info.keyUsage && !info.keyUsage.includes("keyCertSign")) fail(`${source}: "${info.subject}" may not sign certificates (keyUsage lacks keyCertSign)`);
  if (info.keyUsage && !info.keyUsage.includes("cRLSign")) fail(`${source}: "${info.subject}" may not sign CRLs (keyUsage lacks cRLSign), which the GDS must publish`);
  const now = clock.now();
  if (info.notAfter.getTime() <= now.getTime()) fail(`${source}: the CA certificate expired on ${info.notAfter.toISOString()}`);
  const keyDesc = describeKeyObject(key);
  if (key.type !== "private") fail(`${source}: not a private key`);
  try {
    signingAlgorithmFor(key);
  } catch {
    fail(`${source}: ${keyDescriptionText(keyDesc)} keys cannot be used as a CA key (RSA or ECDSA only)`);
  }
  if (keyDesc.keyAlgorithm === "RSA" && (keyDesc.rsaBits ?? 0) < 2048) fail(`${source}: RSA ${keyDesc.rsaBits}-bit CA keys are refused (2048 bits or more)`);
  const certSpki = spkiOf(crypto.createPublicKey({ key: info.publicKeySpki, format: "der", type: "spki" }));
  if (!spkiOf(key).equals(certSpki)) fail(`${source}: the private key does not belong to the certificate "${info.subject}"`);
  if (info.selfSigned && !(await verifyIssuedBy(certDer, certDer))) fail(`${source}: the self-signed certificate's signature does not verify`);
  for (let i = 0; i < chain.length; i++) {
    const child = i === 0 ? certDer : chain[i - 1]!;
    if (!(await verifyIssuedBy(child, chain[i]!))) fail(`${source}: certificate ${i + 2} of the file did not issue certificate ${i + 1} (order: the CA first, then its issuers up to the root)`);
  }
  return { certDer, key, chain, info };
}

/** Reads and checks a CA certificate file and key file (see ImportCaOptions). Throws CaImportError. */
export async function readCaFiles(certFile: string, keyFile: string, clock: Clock = systemClock): Promise<CheckedCa> {
  const certs = readCertificates(await readInput(certFile, "certificate"), certFile);
  const key = readPrivateKey(await readInput(keyFile, "key"), keyFile);
  return checkCaMaterial(certs[0]!, key, certs.slice(1), clock, `${certFile} + ${keyFile}`);
}

/**
 * Imports a CA into `<dataDir>/ca/<group>/`. Refuses (CaImportError with statusName
 * "BadEntryExists") when the group already has a CA, unless `force`.
 */
export async function importCa(opts: ImportCaOptions): Promise<ImportCaResult> {
  if (!CERTIFICATE_GROUP_NAMES.includes(opts.group)) fail(`unknown certificate group ${JSON.stringify(opts.group)} (${CERTIFICATE_GROUP_NAMES.join(", ")})`);
  const existing = await caFilesState(opts.dataDir, opts.group);
  if (existing.state !== "none" && !opts.force) {
    throw new CaImportError(
      `${opts.group} already has a CA in ${caGroupDir(opts.dataDir, opts.group)}; replacing it would orphan every certificate it issued (force replaces it and keeps the old one beside it)`,
      "BadEntryExists",
    );
  }
  const ca = await readCaFiles(opts.certFile, opts.keyFile, opts.clock ?? systemClock);
  let written: { replacedTo?: string };
  try {
    written = await writeCaGroup(opts.dataDir, opts.group, ca, { replace: opts.force === true });
  } catch (e) {
    return fail(`cannot write the CA of ${opts.group} into ${caGroupDir(opts.dataDir, opts.group)}: ${(e as Error).message}`);
  }
  return {
    group: opts.group,
    subject: ca.info.subject,
    notBefore: ca.info.notBefore,
    notAfter: ca.info.notAfter,
    keyAlgorithm: keyDescriptionText(ca.info),
    thumbprint: ca.info.thumbprint,
    chainLength: ca.chain.length,
    ...written,
  };
}
