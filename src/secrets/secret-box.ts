import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/**
 * Encrypts small secrets at rest (a PFX password waiting for approval; later, push credentials)
 * with AES-256-GCM under a random key in `<data dir>/secrets.key` (mode 0600). The store holds
 * only the sealed form; whoever can read the data dir's key file can read them, exactly as with
 * the CA keys, which is why the data dir is 0700.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static KEY_FILE = "secrets.key";

  /** Loads the key, creating it (atomically, 0600) on first use. */
  static open(dataDir: string): SecretBox {
    const file = path.join(dataDir, SecretBox.KEY_FILE);
    try {
      const key = fs.readFileSync(file);
      if (key.length !== 32) throw new Error(`${file} must hold 32 bytes, it holds ${key.length}`);
      return new SecretBox(key);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const key = crypto.randomBytes(32);
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, "w", 0o600);
    try {
      fs.writeSync(fd, key);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dirFd = fs.openSync(dataDir, "r");
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
    return new SecretBox(key);
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64url parts; `context` binds the secret to its record. */
  seal(plaintext: string, context: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), ct.toString("base64url")].join(".");
  }

  open(sealed: string, context: string): string {
    const [v, iv, tag, ct] = sealed.split(".");
    if (v !== "v1" || iv === undefined || tag === undefined || ct === undefined) throw new Error("not a sealed secret");
    const decipher = crypto.createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ct, "base64url")), decipher.final()]).toString("utf8");
  }
}
