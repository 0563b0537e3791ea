import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { ADMIN_PASSWORD, freePort, tempDir } from "./gds-harness.js";

export const CLI = path.resolve(process.cwd(), "dist/src/cli.js");

export interface GdsProcess {
  child: ChildProcess;
  port: number;
  dataDir: string;
  endpointUrl: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs the compiled `gds` CLI as a separate process, as an operator would. */
export function runGds(args: string[], env: Record<string, string>): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  // jest's NODE_OPTIONS and the developer's own GDS_* settings are not for the child.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_OPTIONS" && !k.startsWith("GDS_")));
  // GDS_HTTP_PORT=0 unless the test sets it: the default 4841 would collide between parallel servers.
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...inherited, NODE_ENV: "production", GDS_HTTP_PORT: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** `gds start` in a child process; resolves once the `listening` log line appears. */
export async function startGdsProcess(opts: { dataDir?: string; port?: number; env?: Record<string, string> } = {}): Promise<GdsProcess> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? tempDir("gds-proc-");
  const r = runGds(["start"], { GDS_PORT: String(port), GDS_DATA_DIR: dataDir, GDS_HOSTNAME: "127.0.0.1", GDS_ADMIN_PASSWORD: ADMIN_PASSWORD, ...opts.env });
  const deadline = Date.now() + 30_000;
  let exitCode: number | null | undefined;
  r.exited.then((c) => (exitCode = c));
  while (!/"msg":"[^"]*listening/.test(r.stdout())) {
    if (exitCode !== undefined) throw new Error(`gds exited with ${exitCode}: ${r.stderr()} ${r.stdout()}`);
    if (Date.now() > deadline) {
      r.child.kill("SIGKILL");
      throw new Error(`gds did not start within 30 s: ${r.stdout()} ${r.stderr()}`);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  return { ...r, port, dataDir, endpointUrl: `opc.tcp://127.0.0.1:${port}` };
}
