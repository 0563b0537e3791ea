import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ADMIN_PASSWORD } from "./gds-harness.js";

/** The compiled CLI, as an operator runs it (`npm run build` first). */
export const CLI = path.resolve("dist/src/cli.js");

/** Fails early, with the fix, when dist is missing or older than the CLI sources. */
export function assertCliBuilt(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the integration tests`);
  const built = fs.statSync(CLI).mtimeMs;
  const sources = ["src/cli.ts", ...fs.readdirSync("src/cli").map((f) => path.join("src/cli", f))];
  const newer = sources.filter((f) => f.endsWith(".ts") && fs.statSync(f).mtimeMs > built);
  if (newer.length > 0) throw new Error(`dist is older than ${newer.join(", ")}: run \`npm run build\``);
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export type GdsCli = (args: string[], env?: Record<string, string | undefined>) => Promise<CliRun>;

/**
 * A `gds …` runner with the admin password and the given CLI PKI dir; `undefined` in `env` unsets
 * a variable. jest's NODE_OPTIONS (--experimental-vm-modules) is not for the CLI, and GDS_* of
 * the caller's shell must not leak in.
 */
export function gdsCli(cliPki: () => string): GdsCli {
  return (args, env = {}) => {
    const inherited = Object.entries(process.env).filter(([k]) => k !== "NODE_OPTIONS" && !k.startsWith("GDS_"));
    const childEnv: NodeJS.ProcessEnv = { ...Object.fromEntries(inherited), GDS_ADMIN_PASSWORD: ADMIN_PASSWORD, GDS_CLI_PKI_DIR: cliPki() };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete childEnv[k];
      else childEnv[k] = v;
    }
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })));
  };
}

/**
 * A self-signed certificate and its unencrypted PEM key from openssl, as an operator brings them
 * to `gds ca import`. `ca` false gives an end-entity certificate (basicConstraints CA:FALSE).
 */
export function opensslSelfSigned(dir: string, name: string, opts: { ca: boolean; subject?: string; days?: number }): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  const extensions = opts.ca
    ? ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    : ["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature,keyEncipherment"];
  const r = spawnSync(
    "/usr/bin/openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", String(opts.days ?? 3650), "-subj", opts.subject ?? `/CN=${name}`, "-sha256", ...extensions],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`openssl failed (${r.status}): ${r.stderr}`);
  return { cert, key };
}
