import crypto from "node:crypto";
import { GdsError } from "../errors.js";
import { parseCertificate } from "./certificate-info.js";
import { DER_NULL, derExplicit, derOctetString, derOid, derSequence, derSetOf, derSmallInteger } from "./der.js";
import { spkiOf } from "./public-key.js";

/**
 * The private key of a StartNewKeyPairRequest, as FinishRequest hands it out (OPC 10000-12 §7.9.3):
 *
 * - "PEM": PKCS#8 ("BEGIN PRIVATE KEY"); with a password, encrypted PKCS#8 ("BEGIN ENCRYPTED
 *   PRIVATE KEY": PBES2 with PBKDF2-HMAC-SHA256, KEY_ITERATIONS iterations, AES-256-CBC).
 * - "PFX": PKCS#12 (DER) holding the key (pkcs8ShroudedKeyBag, the same PBES2), the certificate
 *   and the issuer chain (certBags), integrity by HMAC-SHA256 with a key from the PKCS#12 KDF
 *   (SHA-256, MAC_ITERATIONS iterations). The password is "" when none is given.
 *
 * OpenSSL 3 and node:crypto write 2,048 PBKDF2 iterations, far too few for a key that may sit in a
 * file: both iteration counts here are 100,000 (NIST SP 800-132's advice is "as large as
 * feasible"; the cost is paid once per delivery and once per import on the device). The result
 * stays readable by OpenSSL 3 without `-legacy`, node's createPrivateKey (PEM) and TLS contexts
 * (PFX), .NET and Windows 10+. Built here rather than with node-forge because forge handles only
 * RSA keys and certificates, and the ECC certificate types need ECDSA keys in a PFX too.
 * Encoding is async: the key derivations run off the event loop (PBKDF2 in libuv's pool, the
 * PKCS#12 KDF in slices that yield), so a delivery does not stall the server.
 */
export type PrivateKeyFormatName = "PEM" | "PFX";

export interface EncodePrivateKeyOptions {
  /** Unencrypted PKCS#8 DER. */
  pkcs8Der: Buffer;
  /** "PEM" or "PFX" (case-insensitive); anything else is BadInvalidArgument. */
  format: string;
  /** "" or undefined: PEM unencrypted, PFX with an empty password. */
  password?: string;
  certificateDer: Buffer;
  /** The CA chain, immediate issuer first (goes into the PFX; ignored for PEM). */
  issuerChain: Buffer[];
}

export const SUPPORTED_PRIVATE_KEY_FORMATS: readonly PrivateKeyFormatName[] = ["PEM", "PFX"];

/** "pem" → "PEM"; throws GdsError BadInvalidArgument for other formats. */
export function privateKeyFormatOf(format: string): PrivateKeyFormatName {
  const f = String(format ?? "").trim().toUpperCase();
  if (f === "PEM" || f === "PFX") return f;
  throw new GdsError("BadInvalidArgument", `private key format ${JSON.stringify(format)} is not supported (PEM or PFX)`);
}

/** PBKDF2-HMAC-SHA256 iterations for an encrypted PKCS#8 key (PEM, and the PFX key bag). */
export const KEY_ITERATIONS = 100_000;
/** PKCS#12 KDF (SHA-256) iterations for the PFX's MAC key. */
export const MAC_ITERATIONS = 100_000;

export async function encodePrivateKey(opts: EncodePrivateKeyOptions): Promise<Buffer> {
  const format = privateKeyFormatOf(opts.format);
  const key = crypto.createPrivateKey({ key: opts.pkcs8Der, format: "der", type: "pkcs8" });
  const cert = parseCertificate(opts.certificateDer);
  if (!spkiOf(key).equals(spkiOf(crypto.createPublicKey({ key: cert.info.publicKeySpki, format: "der", type: "spki" })))) {
    throw new Error("encodePrivateKey: the private key does not belong to the certificate");
  }
  const password = opts.password ?? "";
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  try {
    if (format === "PEM") {
      if (password === "") return Buffer.from(pemBlock(pkcs8, "PRIVATE KEY"), "utf8");
      return Buffer.from(pemBlock(await encryptPkcs8(pkcs8, password), "ENCRYPTED PRIVATE KEY"), "utf8");
    }
    return await buildPfx(await encryptPkcs8(pkcs8, password), opts.certificateDer, opts.issuerChain, password);
  } finally {
    pkcs8.fill(0);
  }
}

function pemBlock(der: Buffer, label: string): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * EncryptedPrivateKeyInfo (RFC 5208) with PBES2 (RFC 8018): PBKDF2-HMAC-SHA256 over the password's
 * UTF-8 bytes, random 16-byte salt, KEY_ITERATIONS; AES-256-CBC with a random IV.
 */
export async function encryptPkcs8(pkcs8Der: Buffer, password: string): Promise<Buffer> {
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(16);
  const key = await new Promise<Buffer>((resolve, reject) =>
    crypto.pbkdf2(Buffer.from(password, "utf8"), salt, KEY_ITERATIONS, 32, "sha256", (err, k) => (err ? reject(err) : resolve(k))),
  );
  try {
    const cipher = crypto.createCipheriv("aes-256-cbc", key, iv);
    const encrypted = Buffer.concat([cipher.update(pkcs8Der), cipher.final()]);
    const kdf = derSequence(derOid(OID.pbkdf2), derSequence(derOctetString(salt), derSmallInteger(KEY_ITERATIONS), derSequence(derOid(OID.hmacWithSha256), DER_NULL)));
    const scheme = derSequence(derOid(OID.aes256Cbc), derOctetString(iv));
    return derSequence(derSequence(derOid(OID.pbes2), derSequence(kdf, scheme)), derOctetString(encrypted));
  } finally {
    key.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// PKCS#12 (RFC 7292)
// ---------------------------------------------------------------------------------------------

const OID = {
  data: "1.2.840.113549.1.7.1",
  certBag: "1.2.840.113549.1.12.10.1.3",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  localKeyId: "1.2.840.113549.1.9.21",
  sha256: "2.16.840.1.101.3.4.2.1",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSha256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
};

function dataContentInfo(inner: Buffer): Buffer {
  return derSequence(derOid(OID.data), derExplicit(0, derOctetString(inner)));
}

function localKeyIdAttrs(id: Buffer): Buffer {
  return derSetOf(derSequence(derOid(OID.localKeyId), derSetOf(derOctetString(id))));
}

function certBag(der: Buffer, attrs?: Buffer): Buffer {
  const value = derSequence(derOid(OID.x509Certificate), derExplicit(0, derOctetString(der)));
  return derSequence(derOid(OID.certBag), derExplicit(0, value), ...(attrs ? [attrs] : []));
}

async function buildPfx(encryptedKey: Buffer, certDer: Buffer, chain: Buffer[], password: string): Promise<Buffer> {
  const localKeyId = crypto.createHash("sha1").update(certDer).digest();
  const attrs = localKeyIdAttrs(localKeyId);
  const keyBag = derSequence(derOid(OID.pkcs8ShroudedKeyBag), derExplicit(0, encryptedKey), attrs);
  const certBags = [certBag(certDer, attrs), ...chain.map((c) => certBag(c))];
  const authSafe = derSequence(dataContentInfo(derSequence(...certBags)), dataContentInfo(derSequence(keyBag)));

  const salt = crypto.randomBytes(16);
  const macKey = await pkcs12KdfAsync("sha256", password, salt, 3, MAC_ITERATIONS, 32);
  const mac = crypto.createHmac("sha256", macKey).update(authSafe).digest();
  const macData = derSequence(derSequence(derSequence(derOid(OID.sha256), DER_NULL), derOctetString(mac)), derOctetString(salt), derSmallInteger(MAC_ITERATIONS));
  return derSequence(derSmallInteger(3), dataContentInfo(authSafe), macData);
}

/** Hash iterations per slice of pkcs12KdfAsync before it yields to the event loop (a few ms). */
const KDF_SLICE = 5_000;

/** RFC 7292 Appendix B.2 key derivation (password as NUL-terminated BMPString). */
export function pkcs12Kdf(hash: "sha256" | "sha1", password: string, salt: Buffer, id: number, iterations: number, length: number): Buffer {
  const steps = pkcs12KdfSteps(hash, password, salt, id, iterations, length);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** pkcs12Kdf, yielding to the event loop every KDF_SLICE hash iterations. */
export async function pkcs12KdfAsync(hash: "sha256" | "sha1", password: string, salt: Buffer, id: number, iterations: number, length: number): Promise<Buffer> {
  const steps = pkcs12KdfSteps(hash, password, salt, id, iterations, length);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The KDF as a generator that pauses every KDF_SLICE iterations and returns the key. */
function* pkcs12KdfSteps(hash: "sha256" | "sha1", password: string, salt: Buffer, id: number, iterations: number, length: number): Generator<void, Buffer, void> {
  const u = hash === "sha256" ? 32 : 20;
  const v = 64;
  const pwUtf16be = Buffer.from(password + "\0", "utf16le").swap16();
  const fill = (src: Buffer): Buffer => {
    if (src.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let k = 0; k < out.length; k++) out[k] = src[k % src.length]!;
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([fill(salt), fill(pwUtf16be)]);
  const out: Buffer[] = [];
  let produced = 0;
  while (produced < length) {
    let A = crypto.createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) {
      A = crypto.createHash(hash).update(A).digest();
      if (r % KDF_SLICE === 0) yield;
    }
    out.push(A);
    produced += u;
    if (produced >= length) break;
    const B = fill(A);
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, length);
}
