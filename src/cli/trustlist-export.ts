import fs from "node:fs";
import path from "node:path";
import { CliError, ExitCode } from "./cli-error.js";
import { expectArray, expectObject, formatJson, parseJsonResult } from "./format.js";

const KINDS = ["caCertificate", "crl", "gdsCertificate"] as const;
type Kind = (typeof KINDS)[number];

export interface WrittenFile {
  name: string;
  kind: Kind;
  path: string;
  bytes: number;
}

/** A file name from the server: a plain name in DIR, nothing that walks out of it. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/**
 * Writes the files of an ExportTrustList answer ({group, files: [{name, kind, derBase64}]}) into
 * `outDir` (created when missing) and returns what to print.
 */
export function writeTrustListExport(out: unknown, outDir: string, json: boolean): string {
  const result = expectObject(parseJsonResult(out, "trust list export"), "trust list export");
  const files = expectArray(result.files, "trust list export files");
  const decoded = files.map((f, i) => {
    const file = expectObject(f, `trust list export file ${i}`);
    const { name, kind, derBase64 } = file as { name?: unknown; kind?: unknown; derBase64?: unknown };
    if (typeof name !== "string" || !SAFE_NAME.test(name)) throw new CliError(`the server sent an unusable file name ${JSON.stringify(name)}`, ExitCode.Failure);
    if (typeof kind !== "string" || !KINDS.includes(kind as Kind)) throw new CliError(`the server sent an unknown file kind ${JSON.stringify(kind)}`, ExitCode.Failure);
    if (typeof derBase64 !== "string" || derBase64 === "") throw new CliError(`the server sent no content for ${name}`, ExitCode.Failure);
    return { name, kind: kind as Kind, der: Buffer.from(derBase64, "base64") };
  });
  try {
    fs.mkdirSync(outDir, { recursive: true });
  } catch (err) {
    throw new CliError(`cannot create ${outDir}: ${(err as Error).message}`, ExitCode.Failure);
  }
  const written: WrittenFile[] = [];
  for (const f of decoded) {
    const target = path.join(outDir, f.name);
    try {
      fs.writeFileSync(target, f.der);
    } catch (err) {
      throw new CliError(`cannot write ${target}: ${(err as Error).message}`, ExitCode.Failure);
    }
    written.push({ name: f.name, kind: f.kind, path: target, bytes: f.der.length });
  }
  const group = typeof result.group === "string" ? result.group : "";
  if (json) return formatJson({ group, out: outDir, files: written });
  const label: Record<Kind, string> = { caCertificate: "CA certificate", crl: "CRL", gdsCertificate: "GDS certificate" };
  const width = Math.max(...written.map((w) => w.path.length));
  return [`${group}: wrote ${written.length} file(s) to ${outDir}`, ...written.map((w) => `  ${w.path.padEnd(width)}  ${label[w.kind]} (${w.bytes} bytes)`)].join("\n") + "\n";
}
