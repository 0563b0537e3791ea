import crypto from "node:crypto";
import { ArchiveError } from "./archive.js";

/**
 * The encrypted backup file: a short header, then the gzip'd tar encrypted and authenticated with
 * AES-256-GCM under a key derived from the passphrase with scrypt.
 *
 *   offset  size  field
 *   0       8     magic "GDSBKENC"
 *   8       1     format version (1)
 *   9       1     key derivation function (1 = scrypt)
 *   10      1     scrypt log2(N)
 *   11      1     scrypt r
 *   12      1     scrypt p
 *   13      16    scrypt salt (random per backup)
 *   29      12    GCM nonce (random per backup; one message per key, as the salt is fresh)
 *   41      …     ciphertext of the gzip'd tar
 *   end-16  16    GCM tag
 *
 * The whole header is the GCM additional data, so a changed parameter fails authentication like
 * any other changed byte. Restore refuses parameters weaker than MIN_SCRYPT (checked before any
 * key is derived) and larger than MAX_SCRYPT_LOG_N (a hostile file must not make it allocate
 * gigabytes). The passphrase is used as its UTF-8 bytes after Unicode NFC normalisation, so the
 * same passphrase typed on another system decrypts.
 */
export const ENCRYPTED_MAGIC = Buffer.from("GDSBKENC", "ascii");
export const ENCRYPTION_FORMAT_VERSION = 1;
const KDF_SCRYPT = 1;
const SALT_LENGTH = 16;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
export const HEADER_LENGTH = ENCRYPTED_MAGIC.length + 5 + SALT_LENGTH + NONCE_LENGTH;

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  logN: number;
  r: number;
  p: number;
}

/** N = 2^17, r = 8, p = 1: 128 MiB and about half a second per derivation (OWASP's recommendation). */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = { logN: 17, r: 8, p: 1 };
/** The weakest parameters restore accepts: N = 2^15, r = 8, p = 1. */
export const MIN_SCRYPT: Readonly<ScryptParams> = { logN: 15, r: 8, p: 1 };
/** N = 2^20 with r = 8 needs 1 GiB: the most a file may ask restore to spend. */
export const MAX_SCRYPT_LOG_N = 20;

export interface EncryptionHeader extends ScryptParams {
  version: number;
  salt: Buffer;
  nonce: Buffer;
}

/** Whether the bytes start like an encrypted backup (the magic), whatever follows. */
export function isEncryptedArchive(bytes: Buffer): boolean {
  return bytes.length >= ENCRYPTED_MAGIC.length && bytes.subarray(0, ENCRYPTED_MAGIC.length).equals(ENCRYPTED_MAGIC);
}

function checkScryptParams(p: ScryptParams): void {
  if (p.r !== MIN_SCRYPT.r || p.p !== MIN_SCRYPT.p) {
    throw new ArchiveError(`the archive asks for scrypt r=${p.r}, p=${p.p}; this GDS uses only r=${MIN_SCRYPT.r}, p=${MIN_SCRYPT.p}`);
  }
  if (p.logN < MIN_SCRYPT.logN) {
    throw new ArchiveError(`the archive's key derivation (scrypt N=2^${p.logN}) is weaker than the minimum N=2^${MIN_SCRYPT.logN}: refused`);
  }
  if (p.logN > MAX_SCRYPT_LOG_N) throw new ArchiveError(`the archive asks for scrypt N=2^${p.logN}, more than the maximum N=2^${MAX_SCRYPT_LOG_N}: refused`);
}

function encodeHeader(h: EncryptionHeader): Buffer {
  return Buffer.concat([ENCRYPTED_MAGIC, Buffer.from([h.version, KDF_SCRYPT, h.logN, h.r, h.p]), h.salt, h.nonce]);
}

/** Parses and checks the header; throws ArchiveError naming what is wrong. */
export function readEncryptionHeader(bytes: Buffer): EncryptionHeader {
  if (!isEncryptedArchive(bytes)) throw new ArchiveError("not an encrypted GDS backup (no GDSBKENC header)");
  if (bytes.length < HEADER_LENGTH + TAG_LENGTH) throw new ArchiveError("the encrypted archive is truncated");
  let at = ENCRYPTED_MAGIC.length;
  const version = bytes[at++]!;
  if (version !== ENCRYPTION_FORMAT_VERSION) {
    throw new ArchiveError(`the archive's encryption format version is ${version}; this GDS reads version ${ENCRYPTION_FORMAT_VERSION}`);
  }
  const kdf = bytes[at++]!;
  if (kdf !== KDF_SCRYPT) throw new ArchiveError(`the archive uses key derivation function ${kdf}; this GDS knows only scrypt (${KDF_SCRYPT})`);
  const params = { logN: bytes[at++]!, r: bytes[at++]!, p: bytes[at++]! };
  checkScryptParams(params);
  const salt = Buffer.from(bytes.subarray(at, at + SALT_LENGTH));
  at += SALT_LENGTH;
  const nonce = Buffer.from(bytes.subarray(at, at + NONCE_LENGTH));
  return { version, ...params, salt, nonce };
}

function deriveKey(passphrase: string, salt: Buffer, p: ScryptParams): Promise<Buffer> {
  const N = 2 ** p.logN;
  const maxmem = 128 * N * p.r * p.p + 32 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    crypto.scrypt(Buffer.from(passphrase.normalize("NFC"), "utf8"), salt, 32, { N, r: p.r, p: p.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Encrypts a plain (gzip'd tar) archive with the passphrase. */
export async function encryptArchive(plain: Buffer, passphrase: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<Buffer> {
  if (passphrase === "") throw new Error("encryptArchive: empty passphrase");
  checkScryptParams(params);
  const header = encodeHeader({ version: ENCRYPTION_FORMAT_VERSION, ...params, salt: crypto.randomBytes(SALT_LENGTH), nonce: crypto.randomBytes(NONCE_LENGTH) });
  const key = await deriveKey(passphrase, header.subarray(13, 13 + SALT_LENGTH), params);
  try {
    const cipher = crypto.createCipheriv("aes-256-gcm", key, header.subarray(HEADER_LENGTH - NONCE_LENGTH, HEADER_LENGTH));
    cipher.setAAD(header);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([header, body, cipher.getAuthTag()]);
  } finally {
    key.fill(0);
  }
}

/**
 * Decrypts and authenticates an encrypted archive; returns the plain (gzip'd tar) bytes only once
 * the GCM tag has verified. A wrong passphrase and a changed byte anywhere in the file look the
 * same (ArchiveError): GCM cannot tell them apart, and neither can anyone without the passphrase.
 */
export async function decryptArchive(bytes: Buffer, passphrase: string): Promise<Buffer> {
  const h = readEncryptionHeader(bytes);
  const key = await deriveKey(passphrase, h.salt, h);
  try {
    const decipher = crypto.createDecipheriv("aes-256-gcm", key, h.nonce);
    decipher.setAAD(bytes.subarray(0, HEADER_LENGTH));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_LENGTH));
    const plain = decipher.update(bytes.subarray(HEADER_LENGTH, bytes.length - TAG_LENGTH));
    try {
      decipher.final();
    } catch {
      plain.fill(0);
      throw new ArchiveError("cannot decrypt: wrong passphrase, or the archive was changed or damaged (authentication failed)");
    }
    return plain;
  } finally {
    key.fill(0);
  }
}
