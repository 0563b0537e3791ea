import crypto from "node:crypto";
import { GdsError } from "../errors.js";
import { parseCertificate } from "./certificate-info.js";
import { DER_NULL, derExplicit, derOctetString, derOid, derSequence, derSetOf, derSmallInteger } from "./der.js";
import { spkiOf } from "./public-key.js";

/**
 * The private key of a StartNewKeyPairRequest, as FinishRequest hands it out (OPC 10000-12 §7.9.3):
 *
 * - "PEM": PKCS#8 ("BEGIN PRIVATE KEY"); with a password, encrypted PKCS#8 ("BEGIN ENCRYPTED
 *   PRIVATE KEY": PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC, as node:crypto/OpenSSL 3 write it).
 * - "PFX": PKCS#12 (DER) holding the key (pkcs8ShroudedKeyBag, same PBES2/AES-256-CBC), the
 *   certificate and the issuer chain (certBags), integrity by HMAC-SHA256 (the PKCS#12 KDF) —
 *   OpenSSL 3's own defaults, readable without `-legacy`, by .NET and by Windows 10+. The password
 *   is "" when none is given. Built here rather than with node-forge because forge handles only
 *   RSA keys and certificates, and the ECC certificate types need ECDSA keys in a PFX too.
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

const PBE_CIPHER = "aes-256-cbc";
const MAC_ITERATIONS = 2048;

export function encodePrivateKey(opts: EncodePrivateKeyOptions): Buffer {
  const format = privateKeyFormatOf(opts.format);
  const key = crypto.createPrivateKey({ key: opts.pkcs8Der, format: "der", type: "pkcs8" });
  const cert = parseCertificate(opts.certificateDer);
  if (!spkiOf(key).equals(spkiOf(crypto.createPublicKey({ key: cert.info.publicKeySpki, format: "der", type: "spki" })))) {
    throw new Error("encodePrivateKey: the private key does not belong to the certificate");
  }
  const password = opts.password ?? "";
  if (format === "PEM") {
    const pem = password === "" ? key.export({ type: "pkcs8", format: "pem" }) : key.export({ type: "pkcs8", format: "pem", cipher: PBE_CIPHER, passphrase: password });
    return Buffer.from(pem as string, "utf8");
  }
  return buildPfx(key, opts.certificateDer, opts.issuerChain, password);
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

function buildPfx(key: crypto.KeyObject, certDer: Buffer, chain: Buffer[], password: string): Buffer {
  const localKeyId = crypto.createHash("sha1").update(certDer).digest();
  const attrs = localKeyIdAttrs(localKeyId);
  const encryptedKey = key.export({ type: "pkcs8", format: "der", cipher: PBE_CIPHER, passphrase: password });
  const keyBag = derSequence(derOid(OID.pkcs8ShroudedKeyBag), derExplicit(0, encryptedKey), attrs);
  const certBags = [certBag(certDer, attrs), ...chain.map((c) => certBag(c))];
  const authSafe = derSequence(dataContentInfo(derSequence(...certBags)), dataContentInfo(derSequence(keyBag)));

  const salt = crypto.randomBytes(16);
  const macKey = pkcs12Kdf("sha256", password, salt, 3, MAC_ITERATIONS, 32);
  const mac = crypto.createHmac("sha256", macKey).update(authSafe).digest();
  const macData = derSequence(derSequence(derSequence(derOid(OID.sha256), DER_NULL), derOctetString(mac)), derOctetString(salt), derSmallInteger(MAC_ITERATIONS));
  return derSequence(derSmallInteger(3), dataContentInfo(authSafe), macData);
}

/** RFC 7292 Appendix B.2 key derivation (password as NUL-terminated BMPString). */
export function pkcs12Kdf(hash: "sha256" | "sha1", password: string, salt: Buffer, id: number, iterations: number, length: number): Buffer {
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
    for (let r = 1; r < iterations; r++) A = crypto.createHash(hash).update(A).digest();
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
