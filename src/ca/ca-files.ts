import crypto, { type KeyObject } from "node:crypto";
import { chmod, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log.js";
import { fsyncDir, mkdirIfMissing, writeNewFileSynced } from "../durable-fs.js";
import type { CertificateGroupName } from "./certificate-types.js";
import { toPem } from "./certificate-info.js";

/**
 * The CA's files in the data dir, one directory per certificate group:
 *
 *   <dataDir>/ca/                      0700
 *   <dataDir>/ca/<group>/              0700
 *     ca.cert.der                      the CA certificate (what the server reads)
 *     ca.cert.pem                      the same, for humans and openssl
 *     ca.key.pem                       PKCS#8 PEM, unencrypted, 0600
 *     ca.chain.pem                     only for an imported intermediate: its issuers up to the root
 *
 * A group directory is written as a whole: the files go into a staging directory
 * (`.<group>.staging-*`), each fsync'd, then the staging directory is renamed into place and
 * `ca/` fsync'd. A crash leaves either no CA or a complete one, never a key without its
 * certificate. A replaced CA (import --force), or anything else found in the group's directory,
 * is kept as `<group>.replaced-<time>`, never deleted.
 */
export const CA_DIR = "ca";
export const CA_CERT_DER = "ca.cert.der";
export const CA_CERT_PEM = "ca.cert.pem";
export const CA_KEY_PEM = "ca.key.pem";
export const CA_CHAIN_PEM = "ca.chain.pem";
export const DIR_MODE = 0o700;
export const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const STAGING = ".staging-";

export function caRootDir(dataDir: string): string {
  return path.join(dataDir, CA_DIR);
}

export function caGroupDir(dataDir: string, group: CertificateGroupName): string {
  return path.join(dataDir, CA_DIR, group);
}

export interface CaMaterial {
  certDer: Buffer;
  key: KeyObject;
  /** Issuers of the CA certificate up to the root (empty for a self-signed CA). */
  chain: Buffer[];
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/** "none": no CA files; "complete": certificate and key; "partial": one without the other. */
export async function caFilesState(dataDir: string, group: CertificateGroupName): Promise<{ state: "none" | "complete" | "partial"; missing: string[] }> {
  const dir = caGroupDir(dataDir, group);
  const cert = await exists(path.join(dir, CA_CERT_DER));
  const key = await exists(path.join(dir, CA_KEY_PEM));
  if (cert && key) return { state: "complete", missing: [] };
  if (!cert && !key) return { state: "none", missing: [CA_CERT_DER, CA_KEY_PEM] };
  return { state: "partial", missing: [cert ? CA_KEY_PEM : CA_CERT_DER] };
}

/** Removes staging directories left by a process that died while writing a CA. */
export async function removeStaleStaging(dataDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(caRootDir(dataDir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  for (const name of names) {
    if (name.startsWith(".") && name.includes(STAGING)) await rm(path.join(caRootDir(dataDir), name), { recursive: true, force: true });
  }
}

/**
 * Writes a group's CA files atomically (see above). Without `replace`, refuses when the group
 * already has CA files. Returns where a replaced CA was moved to.
 */
export async function writeCaGroup(dataDir: string, group: CertificateGroupName, m: CaMaterial, opts: { replace?: boolean } = {}): Promise<{ replacedTo?: string }> {
  const root = caRootDir(dataDir);
  if (await mkdirIfMissing(root, DIR_MODE)) await fsyncDir(dataDir);
  const target = caGroupDir(dataDir, group);
  const staging = path.join(root, `.${group}${STAGING}${process.pid}-${crypto.randomBytes(4).toString("hex")}`);
  let moved = false;
  try {
    await mkdirIfMissing(staging, DIR_MODE);
    await chmod(staging, DIR_MODE);
    const keyPem = m.key.export({ type: "pkcs8", format: "pem" }) as string;
    await writeNewFileSynced(path.join(staging, CA_KEY_PEM), keyPem, KEY_MODE);
    await writeNewFileSynced(path.join(staging, CA_CERT_DER), m.certDer, CERT_MODE);
    await writeNewFileSynced(path.join(staging, CA_CERT_PEM), toPem(m.certDer, "CERTIFICATE"), CERT_MODE);
    if (m.chain.length > 0) await writeNewFileSynced(path.join(staging, CA_CHAIN_PEM), m.chain.map((c) => toPem(c, "CERTIFICATE")).join(""), CERT_MODE);
    await fsyncDir(staging);

    let replacedTo: string | undefined;
    if (await exists(target)) {
      const { state } = await caFilesState(dataDir, group);
      if (state !== "none" && !opts.replace) throw new Error(`${target} already holds a CA`);
      if (state !== "none" || (await readdir(target)).length > 0) {
        // never delete what might be someone's key material: move it aside
        replacedTo = `${target}.replaced-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        await rename(target, replacedTo);
      } else {
        await rm(target, { recursive: true }); // an empty directory
      }
    }
    await rename(staging, target);
    moved = true;
    await fsyncDir(root);
    return replacedTo ? { replacedTo } : {};
  } finally {
    if (!moved) await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}

export interface CaFilesRead {
  certDer: Buffer;
  keyPem: string;
  chain: Buffer[];
}

/**
 * Reads a group's CA files. A key file readable by group or others, or a directory open to them,
 * is logged as a warning and tightened (0600 / 0700).
 */
export async function readCaGroup(dataDir: string, group: CertificateGroupName, log?: Logger): Promise<CaFilesRead> {
  const dir = caGroupDir(dataDir, group);
  const keyFile = path.join(dir, CA_KEY_PEM);
  for (const [p, want] of [
    [dir, DIR_MODE],
    [keyFile, KEY_MODE],
  ] as const) {
    const mode = (await stat(p)).mode & 0o777;
    if (mode & 0o077) {
      log?.warn({ group, file: p, mode: "0" + mode.toString(8) }, `CA ${p === dir ? "directory" : "key file"} was accessible to group/others; permissions set to 0${want.toString(8)}`);
      await chmod(p, want);
    }
  }
  const certDer = await readFile(path.join(dir, CA_CERT_DER));
  const keyPem = await readFile(keyFile, "utf8");
  let chain: Buffer[] = [];
  try {
    const text = await readFile(path.join(dir, CA_CHAIN_PEM), "latin1");
    chain = [...text.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  return { certDer, keyPem, chain };
}
