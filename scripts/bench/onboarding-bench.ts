// Pull-onboarding benchmark (issue 3, part 2): N simulated devices, each its own OPCUAClient and
// session over Basic256Sha256 SignAndEncrypt, doing StartSigningRequest -> FinishRequest ->
// GetTrustList + reading the trust list, with 1, 10 and 50 in flight, against a GDS child process;
// and the same session churn around one trivial method against a bare node-opcua server (the
// stack's own limit). See docs/benchmarks.md, "Pull onboarding (issue 3)".
//
// Called by run.ts (`npm run bench`, or `npm run bench -- onboarding` for this section alone).
//   BENCH_ONB_LEVELS   in-flight:devices pairs (default "1:20,10:100,50:200")
//   BENCH_ONB_SCRYPT   0 skips the third target, the bare server checking the password with the
//                      GDS's scrypt hash (default 1)
//   BENCH_ONB_PROFILE  1 adds a profiling pass: a second GDS child and a second bare server, each under
//                      `--cpu-prof`, the 10-in-flight level again against each, and their main threads'
//                      costs per run over that window (top frames of the GDS)
//   BENCH_ONB_PROFILE_KEEP  a directory to keep that .cpuprofile in (open it in Chrome DevTools)
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DataType, NodeId, Variant, VariantArrayType } from "node-opcua";
import { ADMIN_METHODS, ADMIN_NAMESPACE_URI, ADMIN_OBJECT_ID } from "../../src/admin/admin-model.js";
import { BenchClient } from "./bench-client.js";
import { BENCH_ADMIN_PASSWORD, freePort, gdsChildEnv, removeTempDir, rssOf, startChild, tempDir, type StartedChild } from "./child.js";
import { makeDeviceCsrs, type DeviceIdentity } from "./onboarding-csrs.js";
import { bareChurn, onboardDevice, SharedClientPki, type Phases, type User } from "./onboarding-device.js";
import { inclusiveOf, monotonicUs, summarizeProfile, type ProfileSummary } from "./onboarding-profile.js";
import { median, percentile } from "./stats.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/scripts/bench
const ROOT = path.resolve(here, "../../..");
const GDS_CLI = path.join(ROOT, "dist/src/cli.js");
const BARE_SERVER = path.join(here, "bare-server.js");
const ADMIN_PASSWORD = BENCH_ADMIN_PASSWORD;
/** The devices' user: holds CertificateAuthorityAdmin only. */
const DEVICE_USER: User = { userName: "bench-ca", password: "bench-ca-password-1" };

export const ONBOARDING_TARGET = { vsBare: 0.5 };

const WARMUP = 10;
const REGISTER_IN_FLIGHT = 20;
const PAUSE_MS = 500;

export interface OnboardingBenchResult {
  lines: string[];
  targets: { target: string; measured: string; pass: boolean | null }[];
}

const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "-");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function table(header: string[], rows: (string | number)[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

function parseLevels(): { inFlight: number; devices: number }[] {
  const raw = process.env.BENCH_ONB_LEVELS ?? "1:20,10:100,50:200";
  return raw.split(",").map((pair) => {
    const [c, n] = pair.split(":").map(Number);
    if (!Number.isInteger(c) || !Number.isInteger(n) || c! < 1 || n! < 1) throw new Error(`BENCH_ONB_LEVELS: bad pair "${pair}" (want inFlight:devices)`);
    return { inFlight: c!, devices: n! };
  });
}

const identity = (i: number): DeviceIdentity => ({ applicationUri: `urn:bench:onboarding:device-${i}`, name: `Bench Device ${i}`, dnsName: `device-${i}.bench.local` });

// --- servers ---------------------------------------------------------------------------------

interface Server {
  child: StartedChild;
  endpointUrl: string;
  dataDir: string;
}

async function startGds(extraEnv: Record<string, string> = {}): Promise<Server> {
  const dataDir = tempDir("gds-bench-onb-");
  const port = await freePort();
  const child = await startChild(
    [GDS_CLI, "start"],
    { ...gdsChildEnv(port, dataDir), GDS_AUTO_APPROVE: "true", ...extraEnv },
    180_000, // the first start creates the RSA-3072 CAs
  );
  return { child, endpointUrl: `opc.tcp://127.0.0.1:${port}`, dataDir };
}

async function startBare(passwordCheck: "compare" | "scrypt", extraEnv: Record<string, string> = {}): Promise<Server> {
  const dataDir = tempDir("gds-bench-onb-bare-");
  const port = await freePort();
  const child = await startChild([BARE_SERVER], {
    BARE_PORT: String(port),
    BARE_DATA_DIR: dataDir,
    BARE_USER: DEVICE_USER.userName,
    BARE_PASSWORD: DEVICE_USER.password,
    ...(passwordCheck === "scrypt" ? { BARE_PASSWORD_CHECK: "scrypt" } : {}),
    ...extraEnv,
  });
  return { child, endpointUrl: `opc.tcp://127.0.0.1:${port}`, dataDir };
}

async function stop(server: Server | undefined, progress: (l: string) => void): Promise<void> {
  if (!server) return;
  // `gds start` installs its SIGTERM handler just after logging `listening` (see run.ts); long past here.
  const code = await server.child.stop();
  if (code !== 0) progress(`warning: child ${server.child.pid} exited with ${code} after SIGTERM`);
  removeTempDir(server.dataDir);
}

/**
 * Over one admin session: the devices' user (CertificateAuthorityAdmin only) and one registered
 * application per device. Returns the ApplicationIds by device index.
 */
async function prepareGds(gds: Server, indices: number[]): Promise<Map<number, NodeId>> {
  const pkiDir = tempDir("gds-bench-onb-admin-pki-");
  const admin = await BenchClient.connect(gds.endpointUrl, { userName: "admin", password: ADMIN_PASSWORD }, pkiDir);
  try {
    const ns = ((await admin.session.readNamespaceArray()) as string[]).indexOf(ADMIN_NAMESPACE_URI);
    const addUser = ADMIN_METHODS.find((m) => m.name === "AddUser")!;
    const r = await admin.session.call({
      objectId: new NodeId(NodeId.NodeIdType.NUMERIC, ADMIN_OBJECT_ID, ns),
      methodId: new NodeId(NodeId.NodeIdType.NUMERIC, addUser.id, ns),
      inputArguments: [
        new Variant({ dataType: DataType.String, value: DEVICE_USER.userName }),
        new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: ["CertificateAuthorityAdmin"] }),
        new Variant({ dataType: DataType.String, value: DEVICE_USER.password }),
      ],
    });
    if (!r.statusCode.isGood()) throw new Error(`AddUser ${DEVICE_USER.userName}: ${r.statusCode.toString()}`);

    const ids = new Map<number, NodeId>();
    let next = 0;
    await Promise.all(
      Array.from({ length: REGISTER_IN_FLIGHT }, async () => {
        while (next < indices.length) {
          const i = indices[next++]!;
          const id = identity(i);
          ids.set(i, await admin.register(await admin.record({ applicationUri: id.applicationUri, name: id.name, discoveryUrl: `opc.tcp://${id.dnsName}:4840` })));
        }
      }),
    );
    return ids;
  } finally {
    await admin.close();
    removeTempDir(pkiDir);
  }
}

// --- runs ------------------------------------------------------------------------------------

interface Target {
  label: string;
  /** The server process (its CPU time is read from /proc around each run). */
  pid: number;
  /** Runs one device / churn with device index i; resolves to its phases and total. */
  run(i: number): Promise<{ phases: Phases; totalMs: number }>;
}

interface RunResult {
  label: string;
  inFlight: number;
  devices: number;
  wallMs: number;
  totalsMs: number[];
  phases: Phases[];
  errors: string[];
  load1: number;
  /** CPU time (user + system, all threads) of the server process and of this (client) process. */
  serverCpuMs: number;
  clientCpuMs: number;
}

async function runLevel(target: Target, inFlight: number, indices: number[]): Promise<RunResult> {
  const totalsMs: number[] = [];
  const phases: Phases[] = [];
  const errors: string[] = [];
  let next = 0;
  const server0 = cpuMsOf(target.pid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, indices.length) }, async () => {
      while (next < indices.length) {
        const i = indices[next++]!;
        try {
          const r = await target.run(i);
          totalsMs.push(r.totalMs);
          phases.push(r.phases);
        } catch (err) {
          errors.push(`device ${i}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const client = process.cpuUsage(client0);
  return {
    label: target.label,
    inFlight,
    devices: indices.length,
    wallMs,
    totalsMs,
    phases,
    errors,
    load1: os.loadavg()[0]!,
    serverCpuMs: cpuMsOf(target.pid) - server0,
    clientCpuMs: (client.user + client.system) / 1000,
  };
}

/** utime + stime of a process, all threads (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

/** Two halves of a level as one run: counts and wall times add up, samples pool. */
function merge(runs: RunResult[]): RunResult {
  return {
    ...runs[0]!,
    devices: runs.reduce((a, r) => a + r.devices, 0),
    wallMs: runs.reduce((a, r) => a + r.wallMs, 0),
    totalsMs: runs.flatMap((r) => r.totalsMs),
    phases: runs.flatMap((r) => r.phases),
    errors: runs.flatMap((r) => r.errors),
    load1: Math.max(...runs.map((r) => r.load1)),
    serverCpuMs: runs.reduce((a, r) => a + r.serverCpuMs, 0),
    clientCpuMs: runs.reduce((a, r) => a + r.clientCpuMs, 0),
  };
}

const rate = (r: RunResult) => (r.totalsMs.length / r.wallMs) * 1000;

/** Median duration of each phase (ms), in order of appearance. */
function phaseMedians(runs: Phases[]): [string, number][] {
  const names: string[] = [];
  const durations = new Map<string, number[]>();
  for (const p of runs) {
    let prev = 0;
    for (const [name, end] of p) {
      if (!durations.has(name)) {
        names.push(name);
        durations.set(name, []);
      }
      durations.get(name)!.push(end - prev);
      prev = end;
    }
  }
  return names.map((n) => [n, median(durations.get(n)!)]);
}

/** What a device got is a certificate for its own ApplicationUri, and a trust list with the CA. */
function checkDevice(i: number, certificate: Buffer, trusted: number): void {
  const san = new X509Certificate(certificate).subjectAltName ?? "";
  if (!san.includes(`URI:${identity(i).applicationUri}`)) throw new Error(`device ${i}: certificate SAN "${san}" lacks its ApplicationUri`);
  if (trusted < 1) throw new Error(`device ${i}: the trust list has no trusted certificate`);
}

function gdsTarget(gds: Server, pki: SharedClientPki, appIds: Map<number, NodeId>, csrs: Buffer[], label = "gds"): Target {
  return {
    label,
    pid: gds.child.pid,
    async run(i) {
      const r = await onboardDevice(gds.endpointUrl, pki, DEVICE_USER, appIds.get(i)!, csrs[i]!);
      checkDevice(i, r.certificate, r.trustedCertificates);
      return r;
    },
  };
}

function bareTarget(bare: Server, pki: SharedClientPki, label: string): Target {
  return { label, pid: bare.child.pid, run: () => bareChurn(bare.endpointUrl, pki, DEVICE_USER) };
}

async function warmUp(target: Target, indices: number[]): Promise<void> {
  // One alone first: the first client creates the shared client certificate.
  const first = await runLevel(target, 1, indices.slice(0, 1));
  const rest = await runLevel(target, 5, indices.slice(1));
  const errors = [...first.errors, ...rest.errors];
  if (errors.length > 0) throw new Error(`${target.label} warm-up failed: ${errors[0]}`);
}

/** Cost of the GDS's own password verification (src/users/password-hash.ts), measured here. */
async function scryptCost(): Promise<{ oneMs: number; parallelPerSec: number; parallel: number }> {
  const { hashPassword, verifyPassword } = await import("../../src/users/password-hash.js");
  const hash = await hashPassword(DEVICE_USER.password);
  const one: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    if (!(await verifyPassword(DEVICE_USER.password, hash))) throw new Error("verifyPassword refused the right password");
    one.push(performance.now() - t0);
  }
  const parallel = 16;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: parallel }, () => verifyPassword(DEVICE_USER.password, hash)));
  return { oneMs: median(one), parallelPerSec: (parallel / (performance.now() - t0)) * 1000, parallel };
}

// --- profile ---------------------------------------------------------------------------------

interface Profiled {
  label: string;
  runs: number;
  rate: number;
  summary: ProfileSummary;
}

/** One server under `--cpu-prof`: warm-up, then `indices` at `inFlight`; its profile over that window. */
async function profiled(kind: "gds" | "bare" | "bare+scrypt", inFlight: number, warm: number[], timed: number[], csrs: Buffer[], pki: SharedClientPki, progress: (l: string) => void): Promise<Profiled> {
  const profDir = tempDir("gds-bench-onb-prof-");
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --cpu-prof --cpu-prof-dir=${profDir}`.trim() };
  let server: Server | undefined;
  try {
    let target: Target;
    if (kind === "gds") {
      server = await startGds(env);
      target = gdsTarget(server, pki, await prepareGds(server, [...warm, ...timed]), csrs, "gds --cpu-prof");
    } else {
      server = await startBare(kind === "bare" ? "compare" : "scrypt", env);
      target = bareTarget(server, pki, `${kind} --cpu-prof`);
    }
    await warmUp(target, warm);
    await sleep(PAUSE_MS);
    const fromUs = monotonicUs();
    const r = await runLevel(target, inFlight, timed);
    const toUs = monotonicUs();
    progress(`profile pass: ${target.label}, ${timed.length} runs, ${inFlight} in flight: ${f(rate(r))}/s, ${r.errors.length} errors`);
    await stop(server, progress); // the profile is written at exit
    server = undefined;
    const file = fs.readdirSync(profDir).find((n) => n.endsWith(".cpuprofile"));
    if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
    const keep = process.env.BENCH_ONB_PROFILE_KEEP;
    if (keep) {
      fs.mkdirSync(keep, { recursive: true });
      fs.copyFileSync(path.join(profDir, file), path.join(keep, `${kind}-${file}`));
      fs.writeFileSync(path.join(keep, `${kind}-${file}.window.json`), JSON.stringify({ fromUs, toUs }));
      progress(`profile pass: kept ${path.join(keep, `${kind}-${file}`)}`);
    }
    return { label: target.label, runs: r.totalsMs.length, rate: rate(r), summary: summarizeProfile(path.join(profDir, file), { fromUs, toUs }) };
  } finally {
    await stop(server, progress);
    removeTempDir(profDir);
  }
}

/** Frames compared between the two profiles, per run (inclusive main-thread ms). */
const COMPARED_FRAMES: [string, RegExp][] = [
  ["session object in the address space (node-opcua: SessionDiagnostics nodes)", /^_createSessionObjectInAddressSpace /],
  ["CreateSession handler", /^_on_CreateSessionRequest /],
  ["CloseSession handler", /^_on_CloseSessionRequest /],
  ["GetEndpoints handler", /^_on_GetEndpointsRequest /],
  ["decode requests (decrypt, verify, decode)", /^_decodeMessageBody /],
  ["encode responses (encode, sign, encrypt)", /^chunkSecureMessage /],
  ["socket writes (writeBuffer)", /^writeBuffer$/],
  ["password check on the main thread (isValidUser)", /^isValidUser node-opcua-server/],
  ["GDS method handlers (dist/src/opcua/method-handler.js)", /^\(anonymous\) dist\/src\/opcua\/method-handler\.js/],
  ["audit events raised by node-opcua (Server.Auditing)", /^raiseEvent node-opcua-server/],
  ["garbage collector", /^\(garbage collector\)$/],
];

async function profilePass(level: { inFlight: number; devices: number }, indices: number[], csrs: Buffer[], pki: SharedClientPki, progress: (l: string) => void): Promise<string[]> {
  const warm = indices.slice(0, WARMUP);
  const timed = indices.slice(WARMUP);
  const gds = await profiled("gds", level.inFlight, warm, timed, csrs, pki, progress);
  const bare = await profiled("bare", level.inFlight, warm, timed, csrs, pki, progress);
  const scrypt = await profiled("bare+scrypt", level.inFlight, warm, timed, csrs, pki, progress);
  const lines: string[] = [];
  const busy = (p: Profiled) => p.summary.byOrigin.filter((o) => o.origin !== "(idle)").reduce((a, o) => a + o.ms, 0);
  const idle = (p: Profiled) => p.summary.byOrigin.find((o) => o.origin === "(idle)")?.ms ?? 0;
  lines.push(`Profiles (--cpu-prof, main thread only), ${level.inFlight} in flight, ${timed.length} runs each, over the timed window (the profiler slows both):`);
  lines.push(`  gds ${f(gds.rate)} devices/s; bare ${f(bare.rate)}, bare+scrypt ${f(scrypt.rate)} sessions/s. Thread-pool work (scrypt, webcrypto, fsync) is not in these`);
  lines.push(`  profiles, but it takes cores from the main thread, whose sampled time then includes the waits for a core.`);
  const per = (p: Profiled, v: number) => f(v / p.runs, 2);
  const rows: (string | number)[][] = [
    ["main thread busy (not idle)", ...[gds, bare, scrypt].map((p) => per(p, busy(p)))],
    ["main thread idle", ...[gds, bare, scrypt].map((p) => per(p, idle(p)))],
    ...COMPARED_FRAMES.map(([name, re]) => [name, ...[gds, bare, scrypt].map((p) => per(p, inclusiveOf(p.summary, re)))]),
  ];
  for (const l of table(["ms per run (inclusive)", "gds", "bare", "bare+scrypt"], rows)) lines.push(`  ${l}`);
  const s = gds.summary;
  lines.push(`  gds: ${f(s.totalMs, 0)} ms sampled${s.wholeProfile ? " (window matched no sample: whole process life)" : ""}; self time by origin and top functions:`);
  for (const l of table(["origin", "self ms", "share"], s.byOrigin.map((o) => [o.origin, f(o.ms, 0), `${f(o.share * 100)}%`]))) lines.push(`  ${l}`);
  for (const l of table(["function (self time)", "origin", "self ms", "share"], s.byFunction.map((o) => [o.frame.slice(0, 110), o.origin, f(o.ms, 0), `${f(o.share * 100)}%`]))) lines.push(`  ${l}`);
  return lines;
}

// --- the section -----------------------------------------------------------------------------

export async function benchOnboarding(progress: (line: string) => void): Promise<OnboardingBenchResult> {
  const levels = parseLevels();
  const withScrypt = process.env.BENCH_ONB_SCRYPT !== "0";
  const profile = process.env.BENCH_ONB_PROFILE === "1";
  const lines: string[] = [];
  const targets: OnboardingBenchResult["targets"] = [];

  // Device indices: WARMUP for the warm-up, then one slice per level.
  const warmIdx = Array.from({ length: WARMUP }, (_, i) => i);
  const levelIdx: number[][] = [];
  let n = WARMUP;
  for (const l of levels) {
    levelIdx.push(Array.from({ length: l.devices }, (_, k) => n + k));
    n += l.devices;
  }
  let t = performance.now();
  const csrsPromise = makeDeviceCsrs(Array.from({ length: n }, (_, i) => identity(i)));
  csrsPromise.catch(() => undefined); // awaited below

  let gds: Server | undefined;
  let bare: Server | undefined;
  let bareScrypt: Server | undefined;
  const pki = new SharedClientPki({ rootFolder: tempDir("gds-bench-onb-device-pki-"), automaticallyAcceptUnknownCertificate: true });
  try {
    gds = await startGds();
    progress(`onboarding: gds pid ${gds.child.pid} listening after ${f(gds.child.startMs, 0)} ms (first start: creates the RSA-3072 CAs)`);
    bare = await startBare("compare");
    if (withScrypt) bareScrypt = await startBare("scrypt");
    const csrs = await csrsPromise;
    progress(`onboarding: ${n} device keys (RSA-2048) and CSRs made in ${f(performance.now() - t, 0)} ms (not timed)`);
    t = performance.now();
    const appIds = await prepareGds(gds, [...warmIdx, ...levelIdx.flat()]);
    progress(`onboarding: user ${DEVICE_USER.userName} (CertificateAuthorityAdmin) added, ${appIds.size} applications registered in ${f(performance.now() - t, 0)} ms (not timed)`);
    await pki.initialize();

    const tGds = gdsTarget(gds, pki, appIds, csrs);
    const tBare = bareTarget(bare, pki, "bare");
    const tScrypt = bareScrypt ? bareTarget(bareScrypt, pki, "bare+scrypt") : undefined;
    const all = [tGds, tBare, ...(tScrypt ? [tScrypt] : [])];
    for (const target of all) await warmUp(target, warmIdx);
    progress(`onboarding: warm-up done (${WARMUP} runs per server)`);

    // Each level runs in two halves, the servers in one order and then in the reverse order
    // (A B C C B A), so that a drift in the machine's load hits every server alike.
    const results: RunResult[][] = [];
    for (const [k, level] of levels.entries()) {
      const idx = levelIdx[k]!;
      const halves = [idx.slice(0, Math.ceil(idx.length / 2)), idx.slice(Math.ceil(idx.length / 2))].filter((h) => h.length > 0);
      const byLabel = new Map<string, RunResult[]>();
      for (const [h, half] of halves.entries()) {
        const order = (k + h) % 2 === 0 ? all : [...all].reverse();
        for (const target of order) {
          await sleep(PAUSE_MS);
          // The bare churns use the device indices only for counting: they send no CSR.
          const r = await runLevel(target, level.inFlight, half);
          byLabel.set(target.label, [...(byLabel.get(target.label) ?? []), r]);
          progress(
            `onboarding: ${target.label}, ${level.inFlight} in flight, half ${h + 1}/${halves.length} (${half.length} devices): ${f(rate(r))}/s, p50 ${f(median(r.totalsMs))} ms, p99 ${f(percentile(r.totalsMs, 99))} ms` +
              `; phase p50 ${phaseMedians(r.phases).map(([n, v]) => `${n} ${f(v, 0)}`).join(", ")}` +
              `${r.errors.length ? `, ${r.errors.length} ERRORS (first: ${r.errors[0]})` : ""}`,
          );
        }
      }
      results.push(all.map((x) => merge(byLabel.get(x.label)!)));
    }
    const rss = rssOf(gds.child.pid);

    // Report.
    const user = `UserName token ${DEVICE_USER.userName}`;
    lines.push(`Each device: a new OPCUAClient (GetEndpoints, then a Basic256Sha256 SignAndEncrypt channel), createSession (${user}, role CertificateAuthorityAdmin only),`);
    lines.push(`  read NamespaceArray, StartSigningRequest (own RSA-2048 CSR), FinishRequest (GDS_AUTO_APPROVE), GetTrustList, Open/Read/Close of the trust list, close, disconnect.`);
    lines.push(`bare: the same client life cycle against a bare node-opcua server (standard nodeset; user checked by string compare) calling one trivial method (Ping).`);
    if (tScrypt) lines.push(`bare+scrypt: the same bare server, but the password checked with the GDS's scrypt hash (N=2^15, r=8): the stack limit with the GDS's password cost.`);
    lines.push(`All devices share one client application certificate (one client PKI folder, one in-memory certificate manager). Client and servers share the machine's ${os.cpus().length} cores.`);
    lines.push(`rate = completed runs / wall time (two halves per level, servers in order A B C, then C B A); latency = one run, connect to disconnect (ms).`);
    const header = ["in flight", "devices", "gds dev/s", "gds p50", "gds p99", "bare sess/s", "bare p50", "bare p99", "gds/bare"];
    if (tScrypt) header.push("bare+scrypt sess/s", "p50", "p99", "gds/bare+scrypt");
    header.push("errors", "load 1m");
    const rows = results.map((rs, k) => {
      const [g, b, s] = rs as [RunResult, RunResult, RunResult | undefined];
      const row: (string | number)[] = [levels[k]!.inFlight, levels[k]!.devices, f(rate(g)), f(median(g.totalsMs)), f(percentile(g.totalsMs, 99)), f(rate(b)), f(median(b.totalsMs)), f(percentile(b.totalsMs, 99)), f(rate(g) / rate(b), 2)];
      if (s) row.push(f(rate(s)), f(median(s.totalsMs)), f(percentile(s.totalsMs, 99)), f(rate(g) / rate(s), 2));
      row.push(rs.map((r) => r.errors.length).join("/"), f(Math.max(...rs.map((r) => r.load1)), 2));
      return row;
    });
    for (const l of table(header, rows)) lines.push(l);
    lines.push("");
    lines.push(`CPU time per run (ms; user + system, all threads: /proc/<pid>/stat of the server, process.cpuUsage() of the client side,`);
    lines.push(`  which runs every device of the level in this process). ${os.cpus().length} cores = ${os.cpus().length * 1000} ms of CPU per second for server + client together.`);
    const perRun = (r: RunResult, cpu: number) => f(cpu / Math.max(1, r.totalsMs.length));
    const cpuOf = (r: RunResult) => (r.serverCpuMs + r.clientCpuMs) / Math.max(1, r.totalsMs.length);
    const cpuHeader = ["in flight", "gds server", "gds client", "bare server", "bare client", ...(tScrypt ? ["bare+scrypt server", "bare+scrypt client"] : []), "bare/gds (server+client)"];
    const cpuRows = results.map((rs, k) => [levels[k]!.inFlight, ...rs.flatMap((r) => [perRun(r, r.serverCpuMs), perRun(r, r.clientCpuMs)]), f(cpuOf(rs[1]!) / cpuOf(rs[0]!), 2)]);
    for (const l of table(cpuHeader, cpuRows)) lines.push(l);

    const mid = levels.findIndex((l) => l.inFlight === 10);
    const k = mid >= 0 ? mid : Math.min(1, levels.length - 1);
    const [b, s] = [results[k]![1]!, results[k]![2]];
    lines.push("");
    lines.push(`Where the time goes: median ms per phase (client side; a phase ends where the next begins); gds at every level, the bare servers at ${levels[k]!.inFlight} in flight`);
    const gps = results.map((rs) => new Map(phaseMedians(rs[0]!.phases)));
    const bp = new Map(phaseMedians(b.phases));
    const sp = s ? new Map(phaseMedians(s.phases)) : undefined;
    const names = [...new Set([...phaseMedians(results[0]![0]!.phases).map(([n]) => n), ...bp.keys()])];
    const prows = names.map((name) => [name, ...gps.map((m) => f(m.get(name) ?? NaN)), f(bp.get(name) ?? NaN), ...(sp ? [f(sp.get(name) ?? NaN)] : [])]);
    prows.push(["total (median of runs)", ...results.map((rs) => f(median(rs[0]!.totalsMs))), f(median(b.totalsMs)), ...(s ? [f(median(s.totalsMs))] : [])]);
    const lvl = (l: { inFlight: number }) => `${l.inFlight} in flight`;
    for (const l of table(["phase", ...levels.map((l) => `gds ${lvl(l)}`), `bare ${lvl(levels[k]!)}`, ...(sp ? [`bare+scrypt ${lvl(levels[k]!)}`] : [])], prows)) lines.push(`  ${l}`);
    const sc = await scryptCost();
    lines.push(
      `The GDS's password check alone (verifyPassword, scrypt N=2^15 r=8 p=1, libuv thread pool of ${process.env.UV_THREADPOOL_SIZE ?? 4}), in this process: ` +
        `${f(sc.oneMs)} ms one at a time; ${f(sc.parallelPerSec)}/s with ${sc.parallel} at once.`,
    );
    lines.push(`GDS process after the runs: VmRSS ${f(rss.rssMiB, 0)} MiB, VmHWM ${f(rss.hwmMiB, 0)} MiB; every device's certificate checked (SAN URI = its ApplicationUri) and its trust list non-empty.`);

    for (const [k2, rs] of results.entries()) {
      const [g2, b2] = rs as [RunResult, RunResult];
      const ratio = rate(g2) / rate(b2);
      const errs = rs.reduce((a, r) => a + r.errors.length, 0);
      targets.push({
        target: `pull onboarding, ${levels[k2]!.inFlight} in flight: gds devices/s / bare sessions/s >= ${ONBOARDING_TARGET.vsBare}`,
        measured: `${f(ratio, 2)} (${f(rate(g2))} / ${f(rate(b2))}/s; p99 ${f(percentile(g2.totalsMs, 99), 0)} / ${f(percentile(b2.totalsMs, 99), 0)} ms)${errs ? `, ${errs} errors` : ""}`,
        pass: ratio >= ONBOARDING_TARGET.vsBare && errs === 0,
      });
    }

    await stop(bareScrypt, progress);
    bareScrypt = undefined;
    await stop(bare, progress);
    bare = undefined;
    await stop(gds, progress);
    gds = undefined;

    if (profile) {
      const pl = levels[k]!;
      lines.push("");
      lines.push(...(await profilePass(pl, [...warmIdx, ...levelIdx[k]!], csrs, pki, progress)));
    }
    lines.push(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (1/5/15 min)`);
    return { lines, targets };
  } catch (err) {
    if (gds) progress(`gds output (last lines):\n${gds.child.tail()}`);
    throw err;
  } finally {
    await stop(bareScrypt, progress);
    await stop(bare, progress);
    await stop(gds, progress);
    await pki.close();
  }
}
