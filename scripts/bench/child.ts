// Child processes and temp dirs for the benchmark, with cleanup that also runs on error.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** The admin password of every GDS child the benchmarks start. */
export const BENCH_ADMIN_PASSWORD = "bench-admin-password-1";

/** The environment of a `gds start` child: its port and data dir, on 127.0.0.1, no HTTP listener. */
export function gdsChildEnv(port: number, dataDir: string): Record<string, string> {
  return {
    GDS_PORT: String(port),
    GDS_HTTP_PORT: "0", // no /metrics listener: 4841 would collide between the children
    GDS_DATA_DIR: dataDir,
    GDS_HOSTNAME: "127.0.0.1",
    GDS_ADMIN_PASSWORD: BENCH_ADMIN_PASSWORD,
    GDS_LOG_LEVEL: "info",
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartedChild {
  child: ChildProcess;
  pid: number;
  /** ms from spawn() to the `listening` line on stdout. */
  startMs: number;
  /** The last lines of stdout/stderr, for error messages. */
  tail(): string;
  /** SIGTERM, then wait for exit (SIGKILL after `graceMs`). Idempotent. */
  stop(graceMs?: number): Promise<number | null>;
}

/** True for a stdout line that says the endpoint accepts connections: JSON `msg` or plain text. */
function isListeningLine(line: string): boolean {
  const trimmed = line.trim();
  if (trimmed.startsWith("{")) {
    try {
      const msg = (JSON.parse(trimmed) as { msg?: unknown }).msg;
      return typeof msg === "string" && msg.includes("listening");
    } catch {
      return false;
    }
  }
  return trimmed.includes("listening");
}

/**
 * Spawns `process.execPath <args>` and resolves when stdout prints the listening line. Stdout
 * keeps being drained afterwards (the GDS logs synchronously to fd 1; a full pipe would stall it).
 */
export async function startChild(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<StartedChild> {
  const lines: string[] = [];
  const remember = (l: string) => {
    lines.push(l.length > 400 ? `${l.slice(0, 400)}…` : l);
    if (lines.length > 30) lines.shift();
  };
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? -1 : null));
    });
  });
  readline.createInterface({ input: child.stderr! }).on("line", (l) => remember(`[stderr] ${l}`));
  const out = readline.createInterface({ input: child.stdout! });
  const tail = () => lines.join("\n");

  const startMs = await new Promise<number>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no listening line within ${timeoutMs} ms; output:\n${tail()}`)), timeoutMs);
    const finish = (err: Error | null, ms?: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(ms!);
    };
    out.on("line", (l) => {
      if (!done && isListeningLine(l)) finish(null, performance.now() - t0);
      remember(l);
    });
    child.once("error", (err) => finish(err));
    void exited.then((code) => finish(new Error(`child exited (${code}) before listening; output:\n${tail()}`)));
  }).catch(async (err: unknown) => {
    child.kill("SIGKILL");
    await exited;
    throw err;
  });

  let stopping: Promise<number | null> | undefined;
  return {
    child,
    pid: child.pid!,
    startMs,
    tail,
    stop(graceMs = 8_000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

/** VmRSS and VmHWM of a process, in MiB. */
export function rssOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMiB: kb("VmRSS") / 1024, hwmMiB: kb("VmHWM") / 1024 };
}

/** Kills every child still running and removes every temp dir. Safe to call more than once. */
export async function cleanupAll(): Promise<void> {
  const waits = [...children].map(
    (c) =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        const timer = setTimeout(() => c.kill("SIGKILL"), 5_000);
        c.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        c.kill("SIGTERM");
      }),
  );
  await Promise.all(waits);
  for (const dir of [...tempDirs]) {
    try {
      removeTempDir(dir);
    } catch {
      // best effort
    }
  }
}
