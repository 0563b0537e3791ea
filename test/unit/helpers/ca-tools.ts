import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** openssl 3 (the system binary) as the independent verifier of what src/ca produces. */
export const OPENSSL = "/usr/bin/openssl";

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function openssl(args: string[], input?: Buffer | string): RunResult {
  const r = spawnSync(OPENSSL, args, { input, encoding: "latin1", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Like `openssl` but throws with stderr when the exit status is not 0. */
export function opensslOk(args: string[], input?: Buffer | string): string {
  const r = openssl(args, input);
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function pem(der: Buffer, label = "CERTIFICATE"): string {
  return `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
}

export type TestKeyKind = "rsa:2048" | "rsa:1024" | "rsa:3072" | "P-256" | "P-384";

function newKeyArgs(kind: TestKeyKind): string[] {
  if (kind.startsWith("rsa:")) return ["-newkey", kind];
  return ["-newkey", "ec", "-pkeyopt", `ec_paramgen_curve:${kind}`];
}

/** A CSR made by `openssl req` (DER) and its key (PEM). `san` like "URI:urn:x,DNS:host,IP:10.0.0.1". */
export function opensslCsr(dir: string, kind: TestKeyKind, subj: string, san?: string, extra: string[] = []): { der: Buffer; keyPem: string; keyFile: string } {
  const base = path.join(dir, `csr-${Math.random().toString(36).slice(2)}`);
  const args = ["req", "-new", ...newKeyArgs(kind), "-nodes", "-keyout", `${base}.key`, "-subj", subj, "-outform", "DER", "-out", `${base}.der`, ...extra];
  if (san) args.push("-addext", `subjectAltName=${san}`);
  opensslOk(args);
  return { der: fs.readFileSync(`${base}.der`), keyPem: fs.readFileSync(`${base}.key`, "utf8"), keyFile: `${base}.key` };
}

/** Writes `der` as a PEM file in `dir` and returns its path. */
export function writePem(dir: string, name: string, der: Buffer, label = "CERTIFICATE"): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, pem(der, label));
  return file;
}

export const fixedClock = (iso: string) => ({ now: () => new Date(iso) });
