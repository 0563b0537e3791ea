// The yardsticks of the CA benchmark: `openssl speed` (RSA signatures per second of the openssl
// binary, the physical limit the issue names), the same signature through node's own OpenSSL, and
// node-opcua-pki's CertificateAuthority with its default backend (which runs the openssl binary
// for each certificate).
import { execFile } from "node:child_process";
import { X509Certificate, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { BenchCsr } from "./ca-csrs.js";

const run = promisify(execFile);

export interface OpensslSpeed {
  bits: number;
  /** Number of processes (`-multi`); 1 = one core. */
  processes: number;
  signPerSec: number;
  verifyPerSec: number;
}

/** `openssl speed -seconds <s> [-multi n] rsa<bits>...`, its `sign/s` and `verify/s` columns. */
export async function opensslSpeed(bits: number[], seconds: number, processes = 1): Promise<OpensslSpeed[]> {
  const args = ["speed", "-seconds", String(seconds), ...(processes > 1 ? ["-multi", String(processes)] : []), ...bits.map((b) => `rsa${b}`)];
  const { stdout } = await run("openssl", args, { maxBuffer: 1 << 20 });
  return bits.map((b) => {
    // "rsa 3072 bits 0.001811s 0.000035s    552.3  28567.5"
    const m = new RegExp(`^rsa\\s+${b} bits\\s+\\S+\\s+\\S+\\s+([\\d.]+)\\s+([\\d.]+)\\s*$`, "m").exec(stdout);
    if (!m) throw new Error(`openssl ${args.join(" ")}: no rsa ${b} line in\n${stdout}`);
    return { bits: b, processes, signPerSec: Number(m[1]), verifyPerSec: Number(m[2]) };
  });
}

export async function opensslVersion(): Promise<string> {
  return (await run("openssl", ["version"])).stdout.trim();
}

export interface PkiRun {
  inFlight: number;
  /** ms per certificate (wall time of each signCertificateRequest call). */
  perCertMs: number[];
  totalMs: number;
  certsPerSec: number;
}

export interface PkiBaseline {
  keySize: number;
  initMs: number;
  runs: PkiRun[];
  /** An issued certificate (PEM file, possibly followed by the CA chain). */
  sampleCertFile: string;
  caCertFile: string;
}

/**
 * node-opcua-pki's `CertificateAuthority` as its users get it (`backend` left at its default,
 * "openssl"), a `keySize`-bit CA key, signing CSR files with `signCertificateRequest`; one pass
 * over `csrs` per entry of `inFlight` (calls outstanding at once; it takes a directory lock per
 * signature, so more than one mostly queues). `csrs[0]` is signed first as an untimed warm-up.
 */
export async function benchNodeOpcuaPki(csrs: BenchCsr[], dir: string, keySize: 2048 | 3072, inFlight: number[]): Promise<PkiBaseline> {
  const { CertificateAuthority } = await import("node-opcua-pki");
  const csrDir = path.join(dir, "csr");
  const outDir = path.join(dir, "issued");
  fs.mkdirSync(csrDir, { recursive: true });
  fs.mkdirSync(outDir, { recursive: true });
  const csrFiles = csrs.map((c) => {
    const f = path.join(csrDir, `device-${c.index}.csr`);
    fs.writeFileSync(f, c.pem);
    return f;
  });

  const ca = new CertificateAuthority({ keySize, location: path.join(dir, "CA") });
  let t0 = performance.now();
  await ca.initialize();
  const initMs = performance.now() - t0;
  const caBits = new X509Certificate(fs.readFileSync(ca.caCertificate)).publicKey.asymmetricKeyDetails?.modulusLength;
  if (caBits !== keySize) throw new Error(`node-opcua-pki made a ${caBits}-bit CA key, asked for ${keySize}`);

  // It will not overwrite an existing certificate file: one output name per pass and CSR.
  const sign = async (i: number, tag: string) => {
    const certFile = path.join(outDir, `${tag}-device-${csrs[i]!.index}.pem`);
    const out = await ca.signCertificateRequest(certFile, csrFiles[i]!, { validity: 365 });
    if (!out || !fs.existsSync(certFile)) throw new Error(`node-opcua-pki did not write ${certFile}`);
    return certFile;
  };
  const sampleCertFile = await sign(0, "warmup"); // first use checks the openssl binary, loads modules
  const runs: PkiRun[] = [];
  for (const n of inFlight) {
    const perCertMs: number[] = [];
    let next = 1;
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: n }, async () => {
        while (next < csrs.length) {
          const i = next++;
          const t = performance.now();
          await sign(i, `x${n}`);
          perCertMs.push(performance.now() - t);
        }
      }),
    );
    const totalMs = performance.now() - t0;
    runs.push({ inFlight: n, perCertMs, totalMs, certsPerSec: (perCertMs.length / totalMs) * 1000 });
  }
  return { keySize, initMs, runs, sampleCertFile, caCertFile: ca.caCertificate };
}

/** `openssl verify -CAfile ca cert...`; throws unless every certificate verifies. */
export async function opensslVerify(caPemFile: string, certPemFiles: string[]): Promise<void> {
  const { stdout } = await run("openssl", ["verify", "-CAfile", caPemFile, ...certPemFiles]).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`openssl verify failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  });
  const ok = stdout.split("\n").filter((l) => l.endsWith(": OK")).length;
  if (ok !== certPemFiles.length) throw new Error(`openssl verify: ${ok}/${certPemFiles.length} OK:\n${stdout}`);
}

/**
 * The same RSA signature in this process: `crypto.sign("sha256", ~1 KB, key)`, synchronous (one
 * core), for `seconds`. Node bundles its own OpenSSL (`process.versions.openssl`), which need not
 * be as fast as the `openssl` binary's library (different versions have different assembly).
 */
export function nodeSignRate(bits: number, seconds: number): { bits: number; openssl: string; signPerSec: number } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const tbs = randomBytes(1024);
  for (let i = 0; i < 50; i++) sign("sha256", tbs, privateKey);
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) sign("sha256", tbs, privateKey);
    n += 20;
  }
  return { bits, openssl: process.versions.openssl, signPerSec: (n / (performance.now() - t0)) * 1000 };
}
