// Push benchmark (issue 4): full push cycles (src/push/push-cycle.ts) of an in-process GDS against
// demo devices (scripts/demo-device, node-opcua 2.157, one child process per device):
//  a. one device: the median of BENCH_PUSH_CYCLES (20) sequential full cycles (trust list +
//     renewal), each step's median, against a baseline on the same device in the same run: the bare
//     cost of talking to it (secure connect + session + GetEndpoints + one ServerConfiguration call
//     + close);
//  b. BENCH_PUSH_DEVICES (20) devices renewed at once: wall time, devices/s, each step's median,
//     against the same bare cost done for all devices at once.
// Called by run.ts (`npm run bench -- push`). See docs/benchmarks.md, "Push cycle (issue 4)".
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { MessageSecurityMode, NodeId, OPCUAClient, SecurityPolicy, UserTokenType } from "node-opcua";
import { defaultSettings, type GdsConfig } from "../../src/config.js";
import { startGds, type RunningGds } from "../../src/server.js";
import { DevicePushCycle } from "../../src/push/push-cycle.js";
import type { PushCycleResult, PushStep, PushTarget } from "../../src/push/push-cycle.types.js";
import { freePort, removeTempDir, rssOf, startChild, tempDir, type StartedChild } from "./child.js";
import { median, percentile } from "./stats.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/scripts/bench
const ROOT = path.resolve(here, "../../..");
const DEVICE = path.join(ROOT, "scripts/demo-device/device.mjs");
const DEVICE_USER = "secadmin";
const DEVICE_PASSWORD = "bench-device-password-1";
const CALL_TIMEOUT_MS = 30_000;

const CYCLES = Number(process.env.BENCH_PUSH_CYCLES) || 20;
const DEVICES = Number(process.env.BENCH_PUSH_DEVICES) || 20;
const STEPS: PushStep[] = ["connect", "readConfiguration", "pushTrustList", "verifyTrustList", "createSigningRequest", "sign", "updateCertificate", "applyChanges", "verifyCertificate"];

export interface PushBenchResult {
  lines: string[];
  targets: { target: string; measured: string; pass: boolean | null }[];
}

const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "-");

function table(header: string[], rows: (string | number)[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

interface Device {
  child: StartedChild;
  endpointUrl: string;
  applicationUri: string;
  pkiDir: string;
  applicationId: string;
}

async function startDevice(i: number): Promise<Omit<Device, "applicationId">> {
  const port = await freePort();
  const pkiDir = tempDir(`push-bench-device-${i}-`);
  const applicationUri = `urn:opcua-gds:bench:push-device-${i}`;
  const child = await startChild(
    [DEVICE, "--port", String(port), "--hostname", "127.0.0.1", "--pki-dir", pkiDir, "--user", DEVICE_USER, "--password-env", "PUSH_BENCH_DEVICE_PASSWORD", "--application-uri", applicationUri, "--accept-unknown"],
    { PUSH_BENCH_DEVICE_PASSWORD: DEVICE_PASSWORD },
    120_000,
  );
  return { child, endpointUrl: `opc.tcp://127.0.0.1:${port}`, applicationUri, pkiDir };
}

function targetOf(d: Device): PushTarget {
  return {
    applicationId: d.applicationId,
    applicationUri: d.applicationUri,
    endpointUrl: d.endpointUrl,
    securityPolicy: "Basic256Sha256",
    securityMode: "SignAndEncrypt",
    identity: { kind: "userName", userName: DEVICE_USER, password: DEVICE_PASSWORD },
    regeneratePrivateKey: true,
    group: "DefaultApplicationGroup",
  };
}

/**
 * The bare cost of talking to a device as the push does, without the push: the same client setup
 * (GDS certificate, the push trust store), secure connect + session as SecurityAdmin, GetEndpoints,
 * one ServerConfiguration call (GetRejectedList), close.
 */
const ownCache = new Map<string, { certificateFile: string; privateKeyFile: string; uri: string }>();
function ownOf(gdsDataDir: string): { certificateFile: string; privateKeyFile: string; uri: string } {
  let own = ownCache.get(gdsDataDir);
  if (!own) {
    const ownDir = path.join(gdsDataDir, "server-pki", "own");
    const certificateFile = path.join(ownDir, "certs", "certificate.pem");
    const uri = /URI:([^\s,]+)/.exec(new X509Certificate(fs.readFileSync(certificateFile)).subjectAltName ?? "")?.[1] ?? "urn:opcua-gds";
    own = { certificateFile, privateKeyFile: path.join(ownDir, "private", "private_key.pem"), uri };
    ownCache.set(gdsDataDir, own);
  }
  return own;
}

async function bareContact(cycle: DevicePushCycle, gdsDataDir: string, d: Device): Promise<number> {
  const { certificateFile, privateKeyFile, uri } = ownOf(gdsDataDir);
  const t0 = performance.now();
  const client = OPCUAClient.create({
    applicationName: "opcua-gds",
    applicationUri: uri,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    certificateFile,
    privateKeyFile,
    clientCertificateManager: cycle.trust.storeFor(targetOf(d)),
  });
  await client.connect(d.endpointUrl);
  try {
    const session = await client.createSession({ type: UserTokenType.UserName, userName: DEVICE_USER, password: DEVICE_PASSWORD });
    await client.getEndpoints();
    const r = await session.call({ objectId: new NodeId(NodeId.NodeIdType.NUMERIC, 12637, 0), methodId: new NodeId(NodeId.NodeIdType.NUMERIC, 12777, 0), inputArguments: [] });
    if (!r.statusCode.isGood()) throw new Error(`GetRejectedList: ${r.statusCode.name}`);
    await session.close();
  } finally {
    await client.disconnect();
  }
  return performance.now() - t0;
}

function stepMedians(results: PushCycleResult[]): Map<PushStep, number> {
  const out = new Map<PushStep, number>();
  for (const step of STEPS) {
    const values = results.flatMap((r) => r.steps.filter((s) => s.step === step).map((s) => s.ms));
    out.set(step, median(values));
  }
  return out;
}

function total(r: PushCycleResult): number {
  return r.steps.reduce((sum, s) => sum + s.ms, 0);
}

/** A cycle is good for the benchmark when the device serves the new certificate (2.157 cannot take CRLs: that error is expected). */
function renewed(r: PushCycleResult): boolean {
  return r.certificate !== undefined && (r.ok || r.error?.step === "verifyTrustList");
}

export async function benchPush(progress: (line: string) => void): Promise<PushBenchResult> {
  if (!fs.existsSync(path.join(ROOT, "scripts/demo-device/node_modules/node-opcua-server-configuration"))) {
    throw new Error("scripts/demo-device has no node_modules: run `npm run demo:install` first");
  }
  const lines: string[] = [];
  const targets: PushBenchResult["targets"] = [];
  const dataDir = tempDir("push-bench-gds-");
  const config: GdsConfig = { ...defaultSettings(), caKeySize: 2048, port: await freePort(), hostname: "127.0.0.1", dataDir, adminPassword: "bench-admin-password-1", logLevel: "warn", httpPort: 0 };
  const logger = pino({ level: "warn" }, pino.destination({ dest: path.join(dataDir, "bench.log"), sync: false }));
  let gds: RunningGds | undefined;
  const devices: Device[] = [];
  try {
    gds = await startGds(config, { logger });
    const cycle = new DevicePushCycle({ certificates: gds.certificates, dataDir, log: logger });
    const register = async (d: Omit<Device, "applicationId">): Promise<Device> => {
      const record = await gds!.directory.register(
        { applicationUri: d.applicationUri, applicationType: 0, applicationNames: [{ text: `Bench push device ${d.applicationUri}`, locale: "en" }], productUri: "urn:opcua-gds:demo-device", discoveryUrls: [d.endpointUrl], serverCapabilities: [] },
        "bench",
      );
      return { ...d, applicationId: record.applicationId };
    };
    const run = (d: Device) => cycle.run({ target: targetOf(d), pushTrustList: true, renewCertificate: true, reason: "admin", callTimeoutMs: CALL_TIMEOUT_MS });

    // --- a. one device, sequential ---
    const one = await register(await startDevice(0));
    devices.push(one);
    progress(`push: device 0 listening after ${f(one.child.startMs, 0)} ms`);
    const first = await run(one); // first contact (TOFU) and first renewal: warm-up, not counted
    if (!renewed(first)) throw new Error(`warm-up push cycle failed: ${JSON.stringify(first.error)}`);
    const bare: number[] = [];
    const full: PushCycleResult[] = [];
    for (let i = 0; i < CYCLES; i++) {
      // Alternated, so that load changes on the shared machine hit both alike.
      bare.push(await bareContact(cycle, dataDir, one));
      const r = await run(one);
      if (!renewed(r)) throw new Error(`push cycle ${i} failed: ${JSON.stringify(r.error)}`);
      full.push(r);
      if ((i + 1) % 5 === 0) progress(`push: ${i + 1}/${CYCLES} cycles, last ${f(total(r), 0)} ms, bare ${f(bare.at(-1)!, 0)} ms`);
    }
    const fullTotals = full.map(total);
    const med = stepMedians(full);
    const waitAfterApply = median(full.map((r) => r.steps.find((s) => s.step === "verifyCertificate")!.ms));
    lines.push(`a. One device, ${CYCLES} sequential full cycles (trust list + renewal with RegeneratePrivateKey; Basic256Sha256 SignAndEncrypt, user name identity)`);
    lines.push(`   baseline "bare" = secure connect + ActivateSession + GetEndpoints + GetRejectedList + close, same device, same client setup, alternated with the cycles`);
    for (const l of table(
      ["", "median ms", "p90 ms", "min ms", "max ms"],
      [
        ["full push cycle", f(median(fullTotals)), f(percentile(fullTotals, 90)), f(Math.min(...fullTotals)), f(Math.max(...fullTotals))],
        ["  without verifyCertificate", f(median(full.map((r) => total(r) - r.steps.find((s) => s.step === "verifyCertificate")!.ms))), "", "", ""],
        ["bare contact (baseline)", f(median(bare)), f(percentile(bare, 90)), f(Math.min(...bare)), f(Math.max(...bare))],
      ],
    ))
      lines.push(`   ${l}`);
    lines.push(`   ratio full/bare = ${f(median(fullTotals) / median(bare), 2)}; without the reconnect wait: ${f((median(fullTotals) - waitAfterApply) / median(bare), 2)}`);
    lines.push(`   per step (median ms):`);
    for (const l of table(["step", "median ms", "x bare"], STEPS.map((s) => [s, f(med.get(s)!), f(med.get(s)! / median(bare), 2)]))) lines.push(`     ${l}`);
    lines.push(
      `   verifyCertificate is mostly the device's own wait: node-opcua-server-configuration 2.157 suspends its endpoints at ApplyChanges and closes channels / resumes 2 s later.`,
    );
    targets.push({ target: `push: one full cycle (median of ${CYCLES})`, measured: `${f(median(fullTotals), 0)} ms (${f(median(fullTotals) / median(bare), 1)}x bare contact ${f(median(bare), 0)} ms)`, pass: null });

    // --- b. many devices at once ---
    progress(`push: starting ${DEVICES - 1} more device processes`);
    const startedAt = performance.now();
    const more: Device[] = [];
    for (let batch = 1; batch < DEVICES; batch += 5) {
      const ids = Array.from({ length: Math.min(5, DEVICES - batch) }, (_, k) => batch + k);
      more.push(...(await Promise.all(ids.map(async (i) => register(await startDevice(i))))));
    }
    devices.push(...more);
    progress(`push: ${devices.length} devices listening after ${f((performance.now() - startedAt) / 1000, 1)} s`);
    const all = devices;
    // First contact for the new ones (TOFU + a first renewal), so that b measures renewals.
    const warm = await Promise.all(more.map(run));
    const warmFailed = warm.filter((r) => !renewed(r));
    if (warmFailed.length) throw new Error(`${warmFailed.length} warm-up cycles failed: ${JSON.stringify(warmFailed[0]!.error)}`);

    const bareT0 = performance.now();
    const bareAll = await Promise.all(all.map((d) => bareContact(cycle, dataDir, d)));
    const bareWall = performance.now() - bareT0;
    const loadBefore = os.loadavg()[0]!;
    const t0 = performance.now();
    const results = await Promise.all(all.map(run));
    const wall = performance.now() - t0;
    const okCount = results.filter(renewed).length;
    const medAll = stepMedians(results);
    const serials = new Set(results.map((r) => r.certificate?.serialHex).filter(Boolean));
    lines.push("");
    lines.push(`b. ${all.length} devices renewed at once (${all.length} device processes; in-process GDS, no concurrency limit)`);
    for (const l of table(
      ["", "wall ms", "devices/s", "median per device ms", "max per device ms"],
      [
        [`${all.length} full cycles at once (${okCount} renewed, ${serials.size} new serials)`, f(wall, 0), f((okCount / wall) * 1000, 2), f(median(results.map(total)), 0), f(Math.max(...results.map(total)), 0)],
        [`${all.length} bare contacts at once (baseline)`, f(bareWall, 0), f((all.length / bareWall) * 1000, 2), f(median(bareAll), 0), f(Math.max(...bareAll), 0)],
      ],
    ))
      lines.push(`   ${l}`);
    lines.push(`   ratio wall(full)/wall(bare) = ${f(wall / bareWall, 2)}; load average (1 min) before: ${f(loadBefore, 2)}`);
    lines.push(`   per step (median ms over the ${all.length} devices):`);
    for (const l of table(["step", "median ms", "vs one device"], STEPS.map((s) => [s, f(medAll.get(s)!), f(medAll.get(s)! / med.get(s)!, 2)]))) lines.push(`     ${l}`);
    const rss = rssOf(process.pid);
    lines.push(`   GDS process (bench runner, in-process GDS) RSS ${f(rss.rssMiB, 0)} MiB, peak ${f(rss.hwmMiB, 0)} MiB; a device process ${f(rssOf(all[0]!.child.pid).rssMiB, 0)} MiB`);
    targets.push({ target: `push: ${all.length} devices renewed at once`, measured: `${f(wall / 1000, 1)} s wall, ${f((okCount / wall) * 1000, 2)} devices/s (${okCount}/${all.length} ok)`, pass: okCount === all.length ? null : false });
    return { lines, targets };
  } finally {
    await Promise.all(devices.map((d) => d.child.stop()));
    for (const d of devices) removeTempDir(d.pkiDir);
    await gds?.stop();
    removeTempDir(dataDir);
  }
}
