import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { MessageSecurityMode, OPCUAClient } from "node-opcua";
import { freePort, tempDir } from "./gds-harness.js";

/** The push target of tests and demos: scripts/demo-device (node-opcua 2.157 in its own npm project). */
export const DEMO_DEVICE = path.resolve(process.cwd(), "scripts/demo-device/device.mjs");
export const DEMO_DEVICE_USER = "secadmin";
export const DEMO_DEVICE_PASSWORD = "device-secadmin-password-1";

export interface DemoDeviceOptions {
  /** Default: a free port. */
  port?: number;
  /** Default: secadmin. */
  user?: string;
  /** Default: DEMO_DEVICE_PASSWORD (given to the device through an env var, as an operator would). */
  password?: string;
  /** A folder of DER/PEM certificates and CRLs (what `gds trustlist export` writes) to trust at start. */
  trustDir?: string;
  /** Default true (the device's demo default); false = --strict. */
  acceptUnknown?: boolean;
  /** The device's PKI/state folder; default a fresh temp dir. */
  pkiDir?: string;
  /** Default urn:opcua-gds:demo-device. */
  applicationUri?: string;
  /** X509 user certificates (DER/PEM files, e.g. an export's gds-server.der) that get SecurityAdmin. */
  adminCertFiles?: string[];
  /** Appends one JSON line {time, userName, accepted} per user-name login attempt (never the password). */
  logLoginsFile?: string;
  /** Start-up timeout; default 60 s. */
  timeoutMs?: number;
}

export interface DemoDevice {
  endpointUrl: string;
  port: number;
  pkiDir: string;
  user: string;
  password: string;
  applicationUri: string;
  /** The device's stdout and stderr since the last (re)start. */
  output(): string;
  /** SIGTERM, waits for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** SIGKILL ("the device crashed / lost power"), waits for the exit. */
  kill(): Promise<void>;
  /** Stops (if running) and starts again on the same port with the same PKI dir. */
  restart(): Promise<void>;
}

/** Fails early, with the fix, when the device's own dependencies are not installed. */
function assertInstalled(): void {
  const marker = path.resolve(process.cwd(), "scripts/demo-device/node_modules/node-opcua-server-configuration/package.json");
  if (!fs.existsSync(marker)) throw new Error("scripts/demo-device has no node_modules: run `npm run demo:install` (npm test's pretest does it)");
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  alive: () => boolean;
}

/** Starts scripts/demo-device/device.mjs as a child process; resolves once it prints `listening`. */
export async function startDemoDevice(opts: DemoDeviceOptions = {}): Promise<DemoDevice> {
  assertInstalled();
  const port = opts.port ?? (await freePort());
  const pkiDir = opts.pkiDir ?? tempDir("demo-device-");
  const user = opts.user ?? DEMO_DEVICE_USER;
  const password = opts.password ?? DEMO_DEVICE_PASSWORD;
  const applicationUri = opts.applicationUri ?? "urn:opcua-gds:demo-device";
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const args = [DEMO_DEVICE, "--port", String(port), "--hostname", "127.0.0.1", "--pki-dir", pkiDir, "--user", user, "--password-env", "DEMO_DEVICE_TEST_PASSWORD", "--application-uri", applicationUri];
  if (opts.trustDir) args.push("--trust", opts.trustDir);
  for (const file of opts.adminCertFiles ?? []) args.push("--admin-cert", file);
  if (opts.logLoginsFile) args.push("--log-logins", opts.logLoginsFile);
  args.push(opts.acceptUnknown === false ? "--strict" : "--accept-unknown");

  let out = "";
  let running: Running | undefined;

  const launch = async (): Promise<void> => {
    out = "";
    // jest's NODE_OPTIONS and the caller's DEMO_DEVICE_* settings are not for the child.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_OPTIONS" && !k.startsWith("DEMO_DEVICE_")));
    const child = spawn(process.execPath, args, {
      cwd: path.dirname(DEMO_DEVICE),
      // stdin stays open while this process lives: the device stops when it closes, so a test
      // run that is killed (or force-exited by jest) leaves no device behind.
      env: { ...inherited, DEMO_DEVICE_TEST_PASSWORD: password, DEMO_DEVICE_STOP_ON_STDIN_EOF: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let exitCode: number | string | null | undefined;
    const exited = new Promise<void>((resolve) =>
      child.on("exit", (code, signal) => {
        exitCode = code ?? signal;
        resolve();
      }),
    );
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    running = { child, exited, alive: () => exitCode === undefined };
    const deadline = Date.now() + timeoutMs;
    while (!/listening on opc\.tcp:/.test(out)) {
      if (exitCode !== undefined) throw new Error(`demo device exited with ${exitCode} before listening:\n${out}`);
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await exited;
        throw new Error(`demo device did not start within ${timeoutMs} ms:\n${out}`);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const r = running;
    if (!r || !r.alive()) return;
    r.child.kill(signal);
    const timer = setTimeout(() => r.child.kill("SIGKILL"), 10_000);
    await r.exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    endpointUrl: `opc.tcp://127.0.0.1:${port}`,
    port,
    pkiDir,
    user,
    password,
    applicationUri,
    output: () => out,
    stop: () => terminate("SIGTERM"),
    kill: () => terminate("SIGKILL"),
    async restart() {
      await terminate("SIGTERM");
      await launch();
    },
  };
}

/**
 * The certificate a server announces for SignAndEncrypt (GetEndpoints on a fresh channel,
 * security None): what a device is really serving, independent of the push cycle's own check.
 */
export async function announcedCertificate(endpointUrl: string): Promise<Buffer> {
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  await client.connect(endpointUrl);
  try {
    const endpoints = await client.getEndpoints();
    return Buffer.from(endpoints.find((e) => e.securityMode === MessageSecurityMode.SignAndEncrypt)!.serverCertificate!);
  } finally {
    await client.disconnect();
  }
}
