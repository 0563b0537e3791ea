/**
 * Starting and stopping the server the ways the README tells operators to: `npm start`,
 * `npx gds start`, `npm run demo:device`, with real npm processes (npm runs scripts through
 * `sh -c`, and signals only its own child). And a first start that cannot listen leaves nothing
 * behind: no user, no CA, no password, so the next start is a first start again.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { connect, freePort, tempDir } from "./helpers/gds-harness.js";
import { CLI, runGds, startGdsProcess, type GdsProcess } from "./helpers/gds-process.js";

const REPO = process.cwd();
const NODE_BIN = path.join(REPO, "node_modules/.bin");
const groups: ChildProcess[] = [];
const servers: GdsProcess[] = [];

afterAll(() => {
  for (const c of groups) {
    try {
      process.kill(-c.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  for (const p of servers) if (p.child.exitCode === null) p.child.kill("SIGKILL");
});

interface NpmRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** npm (the one on PATH, as an operator types it) in its own process group, like a terminal's job. */
function runNpm(args: string[], env: Record<string, string>, cwd = REPO): NpmRun {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_OPTIONS" && !k.startsWith("GDS_") && !k.startsWith("npm_")));
  const child = spawn("npm", args, {
    cwd,
    env: { ...inherited, PATH: `${NODE_BIN}${path.delimiter}${process.env.PATH}`, NODE_ENV: "production", GDS_HTTP_PORT: "0", npm_config_update_notifier: "false", npm_config_fund: "false", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  groups.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function lockPid(dataDir: string): number | undefined {
  try {
    return Number.parseInt(fs.readFileSync(path.join(dataDir, "gds.lock"), "utf8"), 10);
  } catch {
    return undefined;
  }
}

/** Starts the server through npm; resolves with the server's pid (from gds.lock) once it listens. */
async function npmServer(args: string[], cwd = REPO): Promise<{ run: NpmRun; dataDir: string; serverPid: number }> {
  const dataDir = tempDir("gds-npm-");
  const run = runNpm(args, { GDS_DATA_DIR: dataDir, GDS_PORT: String(await freePort()), GDS_HOSTNAME: "127.0.0.1", GDS_CA_KEY_SIZE: "2048", GDS_ADMIN_PASSWORD: "npm-admin-password" }, cwd);
  let ended = false;
  void run.exited.then(() => (ended = true));
  await waitFor("listening", () => /"msg":"listening on/.test(run.output()) || ended, 90_000, run.output);
  expect(ended).toBe(false);
  const serverPid = lockPid(dataDir)!;
  expect(alive(serverPid)).toBe(true);
  return { run, dataDir, serverPid };
}

/** After a stop request: the server process is gone and the data dir is free, within 5 s. */
async function expectStopped(dataDir: string, serverPid: number, t0: number, output: () => string): Promise<void> {
  await waitFor("the server's end", () => !alive(serverPid) && !fs.existsSync(path.join(dataDir, "gds.lock")), 10_000, output);
  expect(Date.now() - t0).toBeLessThan(5000);
  expect(output()).toMatch(/"msg":"stopped"/);
}

describe("stopping what npm started", () => {
  it("npm start: SIGTERM to npm stops the server; npm exits 0 within 5 s and the data dir is free", async () => {
    const { run, dataDir, serverPid } = await npmServer(["start"]);
    const t0 = Date.now();
    run.child.kill("SIGTERM");
    expect(await run.exited).toEqual({ code: 0, signal: null });
    await expectStopped(dataDir, serverPid, t0, run.output);
  }, 120_000);

  it("npm start: Ctrl-C (SIGINT to npm and the server at once, then npm's copy) stops it cleanly, exit 0", async () => {
    const { run, dataDir, serverPid } = await npmServer(["start"]);
    const t0 = Date.now();
    process.kill(-run.child.pid!, "SIGINT");
    expect(await run.exited).toEqual({ code: 0, signal: null });
    await expectStopped(dataDir, serverPid, t0, run.output);
  }, 120_000);

  it("npx gds start (npm exec runs the bin through sh -c): SIGTERM to npx stops the server within 5 s", async () => {
    // npx with the bin's path: the same npm exec → `sh -c "'<bin>' start"` → node chain as
    // `npx gds start`, without npx installing this checkout into its cache first.
    const { run, dataDir, serverPid } = await npmServer(["exec", "--no", "--", CLI, "start"], tempDir("gds-npx-cwd-"));
    const t0 = Date.now();
    run.child.kill("SIGTERM");
    await run.exited; // npm re-raises the signal its shell died of
    await expectStopped(dataDir, serverPid, t0, run.output);
  }, 120_000);

  it("npm run demo:device: SIGTERM to npm stops the device; npm exits 0 and the port is free", async () => {
    const port = await freePort();
    const run = runNpm(["run", "demo:device", "--", "--port", String(port), "--pki-dir", tempDir("gds-demo-npm-")], {});
    let ended = false;
    void run.exited.then(() => (ended = true));
    await waitFor("device listening", () => /demo-device: listening/.test(run.output()) || ended, 90_000, run.output);
    const t0 = Date.now();
    run.child.kill("SIGTERM");
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(5000);
    // nothing listens on the port any more
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(port, "127.0.0.1", resolve);
    });
    await new Promise((r) => probe.close(r));
  }, 120_000);
});

describe("a first start that cannot listen", () => {
  async function busyPort(): Promise<{ port: number; close: () => Promise<void> }> {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, resolve));
    return { port: (busy.address() as net.AddressInfo).port, close: () => new Promise((r) => busy.close(() => r())) };
  }

  function expectNothingCreated(dataDir: string, output: string): void {
    expect(fs.existsSync(path.join(dataDir, "ca", "DefaultApplicationGroup"))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, "initial-admin-password"))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, "gds.lock"))).toBe(false);
    expect(output).not.toMatch(/created user admin|CA created/);
  }

  /** The next start with free ports is a first start: it makes the admin user and tells where the password is. */
  async function expectFirstStart(dataDir: string): Promise<void> {
    const p = await startGdsProcess({ dataDir, env: { GDS_ADMIN_PASSWORD: "", GDS_CA_KEY_SIZE: "2048" } });
    servers.push(p);
    try {
      expect(p.stdout()).toMatch(/created user admin with a generated password/);
      const password = fs.readFileSync(path.join(dataDir, "initial-admin-password"), "utf8").replace(/\n$/, "");
      const s = await connect(p.endpointUrl, { user: { userName: "admin", password } });
      await s.close();
    } finally {
      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    }
  }

  it.each(["GDS_PORT", "GDS_HTTP_PORT"])("with %s taken: exit 2 naming it, and no user, CA or password behind", async (setting) => {
    const busy = await busyPort();
    const dataDir = tempDir("gds-busy-");
    try {
      const free = String(await freePort());
      const ports = setting === "GDS_PORT" ? { GDS_PORT: String(busy.port), GDS_HTTP_PORT: "0" } : { GDS_PORT: free, GDS_HTTP_PORT: String(busy.port) };
      const r = runGds(["start"], { GDS_DATA_DIR: dataDir, GDS_HOSTNAME: "127.0.0.1", GDS_CA_KEY_SIZE: "2048", ...ports });
      expect(await r.exited).toBe(2);
      expect(r.stderr()).toMatch(new RegExp(`^gds start: ${setting}: cannot listen on .*${busy.port}`));
      expect(r.stderr().trimEnd().split("\n")).toHaveLength(1);
      expectNothingCreated(dataDir, r.stdout());
    } finally {
      await busy.close();
    }
    await expectFirstStart(dataDir);
  }, 120_000);

  it("with GDS_CA_CERT_FILE that cannot be imported: exit 2, and no user, CA or password behind", async () => {
    const dataDir = tempDir("gds-badimport-");
    const notACa = path.join(tempDir("gds-badimport-files-"), "ca.pem");
    fs.writeFileSync(notACa, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const r = runGds(["start"], { GDS_DATA_DIR: dataDir, GDS_PORT: String(await freePort()), GDS_CA_KEY_SIZE: "2048", GDS_CA_CERT_FILE: notACa, GDS_CA_KEY_FILE: notACa });
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/^gds start: .*ca\.pem/);
    expectNothingCreated(dataDir, r.stdout());
    expect(fs.existsSync(path.join(dataDir, "ca"))).toBe(false);
  }, 60_000);
});

describe("the admin password and the settings in the start log", () => {
  it("a generated password goes to a 0600 file the log names, never into the log", async () => {
    const p = await startGdsProcess({ env: { GDS_ADMIN_PASSWORD: "", GDS_CA_KEY_SIZE: "2048" } });
    servers.push(p);
    const file = path.join(p.dataDir, "initial-admin-password");
    try {
      const password = fs.readFileSync(file, "utf8");
      expect(password).toMatch(/^[A-Za-z0-9_-]{24}\n$/);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const line = p.stdout().split("\n").find((l) => l.includes("created user admin"))!;
      expect(line).toContain(file);
      expect(p.stdout() + p.stderr()).not.toContain(password.trim());
      const s = await connect(p.endpointUrl, { user: { userName: "admin", password: password.trim() } });
      await s.close();
    } finally {
      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    }
    // the next start makes no new password and leaves the file alone
    const again = await startGdsProcess({ dataDir: p.dataDir, env: { GDS_ADMIN_PASSWORD: "" } });
    servers.push(again);
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
    expect(again.stdout()).not.toMatch(/created user admin/);
  }, 120_000);

  it("--admin-password-file sets the password (its trailing newline is not part of it), and the log states the settings in force without it", async () => {
    const secret = "from-a-file-pw-42";
    const pwFile = path.join(tempDir("gds-pwfile-"), "admin-pw");
    fs.writeFileSync(pwFile, `${secret}\n`, { mode: 0o600 });
    const port = await freePort();
    const dataDir = tempDir("gds-pwfile-data-");
    const r = runGds(["start", "--admin-password-file", pwFile], { GDS_DATA_DIR: dataDir, GDS_PORT: String(port), GDS_HOSTNAME: "127.0.0.1", GDS_CA_KEY_SIZE: "2048", GDS_AUTO_APPROVE: "false" });
    try {
      await waitFor("listening", () => /"msg":"listening on/.test(r.stdout()) || r.child.exitCode !== null, 60_000, () => r.stdout() + r.stderr());
      const s = await connect(`opc.tcp://127.0.0.1:${port}`, { user: { userName: "admin", password: secret } });
      await s.close();
      const lines = r.stdout().trim().split("\n").map((l) => JSON.parse(l) as { msg: string; settings?: Record<string, string> });
      const settingsLine = lines.find((l) => l.msg.startsWith("settings in force"))!;
      expect(settingsLine.msg).toContain("GDS_AUTO_APPROVE=false");
      expect(settingsLine.settings).toMatchObject({ GDS_AUTO_APPROVE: "false", GDS_ADMIN_PASSWORD: "(set)", GDS_ADMIN_PASSWORD_FILE: pwFile, GDS_CERT_LIFETIME: "1y" });
      expect(r.stdout() + r.stderr()).not.toContain(secret);
      expect(fs.existsSync(path.join(dataDir, "initial-admin-password"))).toBe(false);
    } finally {
      r.child.kill("SIGTERM");
      expect(await r.exited).toBe(0);
    }
  }, 120_000);

  it("gds start --help lists every setting, those of the CA and of issuance too", async () => {
    const r = runGds(["start", "--help"], {});
    expect(await r.exited).toBe(0);
    for (const flag of ["--auto-approve", "--cert-lifetime", "--renew-before", "--ca-key-size", "--ca-lifetime", "--ca-subject", "--ca-cert-file", "--ca-key-file", "--crl-lifetime", "--admin-password-file"]) {
      expect(r.stdout()).toContain(flag);
    }
  }, 60_000);
});
