// `npm run bench`: issue 2's benchmark (a benchmark, not a test). Plain text on stdout;
// progress lines start with `#`. See docs/benchmarks.md.
//
//  1. cold start of `gds start` vs a bare node-opcua server (child processes, first and warm start)
//  2. RegisterApplication latency with 100 / 1,000 / 10,000 applications registered
//  3. QueryServers with LIKE filters at the same levels
//  4. RSS of the GDS process with 10,000 registered
//  5. the store's own commit benchmark (scripts/bench/store-bench.ts)
//  6. issue 3: CSR-signing throughput of our CA backend (scripts/bench/ca-bench.ts)
//  7. issue 3: pull onboarding, devices/s vs a bare server's session churn (scripts/bench/onboarding-bench.ts)
//  8. issue 4: push cycle, one device (median of 20) and 20 devices at once (scripts/bench/push-bench.ts)
//  9. issue 10: Read latency under a flood of worst-case directory queries (scripts/bench/query-flood-bench.ts)
// `npm run bench -- ca` (or any of cold, directory, store, ca, onboarding, push, query-flood) runs only the named sections.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BenchClient, type BenchApp } from "./bench-client.js";
import { benchCa } from "./ca-bench.js";
import { benchOnboarding } from "./onboarding-bench.js";
import { benchPush } from "./push-bench.js";
import { benchQueryFlood } from "./query-flood-bench.js";
import { BENCH_ADMIN_PASSWORD, cleanupAll, gdsChildEnv, freePort, removeTempDir, rssOf, startChild, tempDir, type StartedChild } from "./child.js";
import { median, percentile } from "./stats.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/scripts/bench
const ROOT = path.resolve(here, "../../..");
const GDS_CLI = path.join(ROOT, "dist/src/cli.js");
const BARE_SERVER = path.join(here, "bare-server.js");
const ADMIN_PASSWORD = BENCH_ADMIN_PASSWORD;

// BENCH_ROUNDS / BENCH_LEVELS (e.g. "100,1000") shorten a run while working on the benchmark.
const COLD_START_ROUNDS = Number(process.env.BENCH_ROUNDS) || 5;
const LEVELS = process.env.BENCH_LEVELS ? process.env.BENCH_LEVELS.split(",").map(Number) : [100, 1_000, 10_000];
const FILL_CONCURRENCY = 20;
const WARMUP = 200;
const REGISTER_SAMPLES = 200;
const QUERY_SAMPLES = 100;
const NAME_PATTERN = "Bench Server 12%";
const URI_PATTERN = "urn:bench:%:77%";

const TARGET = {
  coldStartRatio: 1.5,
  registerRatio: 3,
  queryP50Ms: 50,
  rssMiB: 300,
};

// ---------------------------------------------------------------------------------------------

const out = (line = "") => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stdout.write(`# ${line}\n`);

const ms = (v: number, digits = 2) => v.toFixed(digits);
const pad = (s: string | number, n: number) => String(s).padStart(n);
const padEnd = (s: string | number, n: number) => String(s).padEnd(n);

function table(header: string[], rows: (string | number)[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => cells.map((c, i) => (i === 0 ? padEnd(c, widths[i]!) : pad(c, widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

interface SummaryRow {
  target: string;
  measured: string;
  pass: boolean | null;
}
const summary: SummaryRow[] = [];

// ---------------------------------------------------------------------------------------------
// 1. Cold start


/** The port each GDS child was started on. */
const gdsPorts = new WeakMap<StartedChild, number>();

async function startGdsChild(dataDir: string): Promise<StartedChild> {
  const port = await freePort();
  const c = await startChild([GDS_CLI, "start"], gdsChildEnv(port, dataDir));
  gdsPorts.set(c, port);
  return c;
}

async function startBareChild(dataDir: string): Promise<StartedChild> {
  return startChild([BARE_SERVER], { BARE_PORT: String(await freePort()), BARE_DATA_DIR: dataDir });
}

async function timeStart(start: (dir: string) => Promise<StartedChild>, dir: string): Promise<number> {
  const c = await start(dir);
  // `gds start` installs its SIGTERM handler just after logging `listening`; a SIGTERM in that
  // window would take the default action (killed by signal). Give it a moment.
  await new Promise((r) => setTimeout(r, 300));
  const code = await c.stop();
  if (code !== 0) progress(`warning: child exited with ${code} after SIGTERM`);
  return c.startMs;
}

async function coldStart(): Promise<void> {
  const t = { gdsFirst: [] as number[], gdsWarm: [] as number[], bareFirst: [] as number[], bareWarm: [] as number[] };
  for (let round = 1; round <= COLD_START_ROUNDS; round++) {
    const gdsDir = tempDir("gds-bench-cold-");
    const bareDir = tempDir("gds-bench-bare-");
    t.gdsFirst.push(await timeStart(startGdsChild, gdsDir));
    t.bareFirst.push(await timeStart(startBareChild, bareDir));
    t.gdsWarm.push(await timeStart(startGdsChild, gdsDir));
    t.bareWarm.push(await timeStart(startBareChild, bareDir));
    removeTempDir(gdsDir);
    removeTempDir(bareDir);
    progress(
      `cold start round ${round}/${COLD_START_ROUNDS}: gds first ${ms(t.gdsFirst.at(-1)!, 0)} warm ${ms(t.gdsWarm.at(-1)!, 0)}, ` +
        `bare first ${ms(t.bareFirst.at(-1)!, 0)} warm ${ms(t.bareWarm.at(-1)!, 0)} ms`,
    );
  }
  const row = (label: string, gds: number[], bare: number[]) => {
    const ratio = median(gds) / median(bare);
    return { ratio, cells: [label, ms(median(gds), 0), ms(median(bare), 0), ms(ratio), gds.map((v) => ms(v, 0)).join(" "), bare.map((v) => ms(v, 0)).join(" ")] };
  };
  const first = row("first start (new data dir)", t.gdsFirst, t.bareFirst);
  const warm = row("warm start (data dir reused)", t.gdsWarm, t.bareWarm);
  out();
  out(`1. Cold start: spawn -> endpoint accepts connections (ms, median of ${COLD_START_ROUNDS}, runs alternated)`);
  for (const l of table(["", "gds", "bare", "gds/bare", "gds runs", "bare runs"], [first.cells, warm.cells])) out(`   ${l}`);
  summary.push({ target: `cold start, first start: gds/bare <= ${TARGET.coldStartRatio}x`, measured: `${ms(first.ratio)}x (${ms(median(t.gdsFirst), 0)} / ${ms(median(t.bareFirst), 0)} ms)`, pass: first.ratio <= TARGET.coldStartRatio });
  summary.push({ target: `cold start, warm start: gds/bare <= ${TARGET.coldStartRatio}x`, measured: `${ms(warm.ratio)}x (${ms(median(t.gdsWarm), 0)} / ${ms(median(t.bareWarm), 0)} ms)`, pass: warm.ratio <= TARGET.coldStartRatio });
}

// ---------------------------------------------------------------------------------------------
// 2–4. Directory under load, against a GDS child process

function benchApp(i: number): BenchApp {
  return {
    applicationUri: `urn:bench:plant${i % 10}:${i}`,
    name: `Bench Server ${i}`,
    discoveryUrl: `opc.tcp://bench-${i}.plant${i % 10}.local:4840`,
  };
}

interface LevelResult {
  level: number;
  register: number[];
  find: number[];
  queryName: number[];
  queryUri: number[];
  nameHits: number;
  uriHits: number;
  rssMiB: number;
  hwmMiB: number;
  fillPerSec: number;
  /** 1-minute load average after the level (other processes on the machine skew latencies). */
  load1: number;
}

async function directoryLoad(): Promise<LevelResult[]> {
  const dataDir = tempDir("gds-bench-data-");
  const gds = await startGdsChild(dataDir);
  progress(`gds pid ${gds.pid} listening after ${ms(gds.startMs, 0)} ms; data dir ${dataDir}`);
  let client: BenchClient | undefined;
  try {
    const endpointUrl = `opc.tcp://127.0.0.1:${gdsPorts.get(gds)}`;
    client = await BenchClient.connect(endpointUrl, { userName: "admin", password: ADMIN_PASSWORD }, tempDir("gds-bench-client-pki-"));
    const c = client;
    let next = 0;

    // Warm-up, so that the first level is not measured on cold code (JIT, the client's DataType
    // cache): register and unregister WARMUP applications, then query. The directory is empty again.
    for (let i = 0; i < WARMUP; i++) {
      const id = await c.register(await c.record({ ...benchApp(i), applicationUri: `urn:bench-warmup:${i}` }));
      await c.findApplications(`urn:bench-warmup:${i}`);
      await c.queryServers({ name: NAME_PATTERN });
      await c.unregister(id);
    }
    progress(`warm-up: ${WARMUP} x register/find/query/unregister done`);

    const results: LevelResult[] = [];
    for (const level of LEVELS) {
      const fillStart = performance.now();
      const fillFrom = next;
      await Promise.all(
        Array.from({ length: FILL_CONCURRENCY }, async () => {
          while (next < level) {
            const i = next++;
            await c.register(await c.record(benchApp(i)));
          }
        }),
      );
      const fillPerSec = ((next - fillFrom) / (performance.now() - fillStart)) * 1000;
      progress(`filled ${fillFrom} -> ${next} applications (${ms(fillPerSec, 0)}/s with ${FILL_CONCURRENCY} in flight)`);

      const register: number[] = [];
      for (let k = 0; k < REGISTER_SAMPLES; k++) {
        const record = await c.record(benchApp(next++));
        const t0 = performance.now();
        await c.register(record);
        register.push(performance.now() - t0);
      }
      const find: number[] = [];
      for (let k = 0; k < REGISTER_SAMPLES; k++) {
        const uri = benchApp((k * 37) % next).applicationUri;
        const t0 = performance.now();
        const n = await c.findApplications(uri);
        find.push(performance.now() - t0);
        if (n !== 1) throw new Error(`FindApplications(${uri}) returned ${n} records`);
      }
      const queryName: number[] = [];
      const queryUri: number[] = [];
      let nameHits = 0;
      let uriHits = 0;
      for (let k = 0; k < QUERY_SAMPLES; k++) {
        let t0 = performance.now();
        nameHits = await c.queryServers({ name: NAME_PATTERN });
        queryName.push(performance.now() - t0);
        t0 = performance.now();
        uriHits = await c.queryServers({ uri: URI_PATTERN });
        queryUri.push(performance.now() - t0);
      }
      const { rssMiB, hwmMiB } = rssOf(gds.pid);
      results.push({ level, register, find, queryName, queryUri, nameHits, uriHits, rssMiB, hwmMiB, fillPerSec, load1: os.loadavg()[0]! });
      progress(
        `level ${level}: register p50 ${ms(median(register))} ms, QueryServers p50 ${ms(median(queryName))}/${ms(median(queryUri))} ms, RSS ${ms(rssMiB, 0)} MiB`,
      );
    }
    return results;
  } catch (err) {
    progress(`gds output (last lines):\n${gds.tail()}`);
    throw err;
  } finally {
    await client?.close();
    const code = await gds.stop();
    if (code !== 0) progress(`warning: gds exited with ${code} after SIGTERM`);
    removeTempDir(dataDir);
  }
}

function reportDirectory(results: LevelResult[]): void {
  out();
  out(`2. RegisterApplication latency, ${REGISTER_SAMPLES} sequential calls per level (ms; Basic256Sha256 SignAndEncrypt, user admin)`);
  out(`   FindApplications (an index lookup, same session) is the baseline cost of one method round trip.`);
  const rows = results.map((r) => [
    r.level,
    ms(percentile(r.register, 50)),
    ms(percentile(r.register, 99)),
    ms(Math.max(...r.register)),
    ms(percentile(r.find, 50)),
    ms(percentile(r.find, 99)),
    ms(r.fillPerSec, 0),
    ms(r.load1),
  ]);
  for (const l of table(["registered", "reg p50", "reg p99", "reg max", "find p50", "find p99", `fill/s (${FILL_CONCURRENCY} in flight)`, "load 1m"], rows)) out(`   ${l}`);
  const first = results[0]!;
  const last = results.at(-1)!;
  const ratio = median(last.register) / median(first.register);
  out(`   ratio p50(${last.level})/p50(${first.level}) = ${ms(ratio)} (target <= ${TARGET.registerRatio})`);
  summary.push({ target: `RegisterApplication p50(${last.level})/p50(${first.level}) <= ${TARGET.registerRatio}x`, measured: `${ms(ratio)}x (${ms(median(last.register))} / ${ms(median(first.register))} ms)`, pass: ratio <= TARGET.registerRatio });

  out();
  out(`3. QueryServers with a LIKE filter, ${QUERY_SAMPLES} calls per pattern and level (ms; entries = ServerOnNetwork returned)`);
  const qrows = results.flatMap((r) => [
    [r.level, `ApplicationName '${NAME_PATTERN}'`, r.nameHits, ms(percentile(r.queryName, 50)), ms(percentile(r.queryName, 99)), ms(Math.max(...r.queryName))],
    [r.level, `ApplicationUri '${URI_PATTERN}'`, r.uriHits, ms(percentile(r.queryUri, 50)), ms(percentile(r.queryUri, 99)), ms(Math.max(...r.queryUri))],
  ]);
  for (const l of table(["registered", "filter", "entries", "p50", "p99", "max"], qrows)) out(`   ${l}`);
  for (const [label, values] of [
    ["ApplicationName", last.queryName],
    ["ApplicationUri", last.queryUri],
  ] as const) {
    const p50 = median(values);
    summary.push({ target: `QueryServers (${label} LIKE) p50 at ${last.level} < ${TARGET.queryP50Ms} ms`, measured: `${ms(p50)} ms (p99 ${ms(percentile(values, 99))})`, pass: p50 < TARGET.queryP50Ms });
  }

  out();
  out(`4. Memory of the GDS process (/proc/<pid>/status, MiB)`);
  for (const l of table(["registered", "VmRSS", "VmHWM (peak)"], results.map((r) => [r.level + REGISTER_SAMPLES, ms(r.rssMiB, 0), ms(r.hwmMiB, 0)]))) out(`   ${l}`);
  summary.push({ target: `RSS with ${last.level} registered < ${TARGET.rssMiB} MB`, measured: `${ms(last.rssMiB, 0)} MiB (peak ${ms(last.hwmMiB, 0)})`, pass: last.rssMiB < TARGET.rssMiB });
}

// ---------------------------------------------------------------------------------------------
// 5. Store benchmark (another engineer's; included when present)

async function storeBench(): Promise<void> {
  const file = path.join(here, "store-bench.js");
  out();
  out("5. Store benchmark (scripts/bench/store-bench.ts)");
  if (!fs.existsSync(file)) {
    out("   not present; skipped");
    return;
  }
  const mod = (await import("./store-bench.js")) as { benchStore?: () => Promise<string> };
  if (typeof mod.benchStore !== "function") {
    out("   store-bench.js does not export benchStore(); skipped");
    return;
  }
  const text = await mod.benchStore();
  for (const l of text.split("\n")) out(`   ${l}`);
  const m = /ratio p50\((\d+)\)\/p50\((\d+)\) = ([\d.]+) \(target <= ([\d.]+)\)/.exec(text);
  if (m) summary.push({ target: `store commit p50(${m[1]})/p50(${m[2]}) <= ${m[4]}x (store-bench's own)`, measured: `${m[3]}x`, pass: Number(m[3]) <= Number(m[4]) });
}

// ---------------------------------------------------------------------------------------------

// 6. CA: CSR signing (issue 3)

async function caBench(): Promise<void> {
  const r = await benchCa(progress);
  out();
  out("6. CA: CSR signing (scripts/bench/ca-bench.ts)");
  for (const l of r.lines) out(`   ${l}`);
  summary.push(...r.targets);
}

// ---------------------------------------------------------------------------------------------

// 7. Pull onboarding (issue 3)

async function onboardingBench(): Promise<void> {
  const r = await benchOnboarding(progress);
  out();
  out("7. Pull onboarding (scripts/bench/onboarding-bench.ts)");
  for (const l of r.lines) out(`   ${l}`);
  summary.push(...r.targets);
}

// ---------------------------------------------------------------------------------------------

// 8. Push cycle (issue 4)

async function pushBench(): Promise<void> {
  const r = await benchPush(progress);
  out();
  out("8. Push cycle (scripts/bench/push-bench.ts)");
  for (const l of r.lines) out(`   ${l}`);
  summary.push(...r.targets);
}

// ---------------------------------------------------------------------------------------------

// 9. Query flood (issue 10)

async function queryFloodBench(): Promise<void> {
  const r = await benchQueryFlood(progress);
  out();
  out("9. Query flood (scripts/bench/query-flood-bench.ts)");
  for (const l of r.lines) out(`   ${l}`);
  summary.push(...r.targets);
}

// ---------------------------------------------------------------------------------------------

const SECTIONS = ["cold", "directory", "store", "ca", "onboarding", "push", "query-flood"];
const only = process.argv.slice(2);
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown bench section "${s}" (sections: ${SECTIONS.join(", ")})`);
const want = (section: string) => only.length === 0 || only.includes(section);

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(" ");

function machine(): string {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model ?? "?";
  return `node ${process.version}, ${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}`;
}

async function main(): Promise<void> {
  if ((want("cold") || want("directory") || want("onboarding") || want("query-flood")) && (!fs.existsSync(GDS_CLI) || !fs.existsSync(BARE_SERVER))) {
    throw new Error(`${GDS_CLI} or ${BARE_SERVER} is missing: run \`npm run build\` first`);
  }
  const started = performance.now();
  out(`opcua-gds benchmark, ${new Date().toISOString()}`);
  out(machine());
  out(`load average at start: ${loadavg()} (1/5/15 min)`);

  if (want("cold")) {
    progress("1/6 cold start");
    await coldStart();
  }
  if (want("directory")) {
    progress("2-4/6 directory load");
    reportDirectory(await directoryLoad());
  }
  if (want("store")) {
    progress("5/6 store benchmark");
    await storeBench();
  }
  if (want("ca")) {
    progress("6/6 CA: CSR signing");
    await caBench();
  }
  if (want("onboarding")) {
    progress("7/7 pull onboarding");
    await onboardingBench();
  }
  if (want("push")) {
    progress("8/8 push cycle");
    await pushBench();
  }
  if (want("query-flood")) {
    progress("9/9 query flood");
    await queryFloodBench();
  }

  out();
  out("Summary");
  for (const l of table(["target", "measured", "result"], summary.map((s) => [s.target, s.measured, s.pass === null ? "-" : s.pass ? "PASS" : "MISS"]))) out(`   ${l}`);
  out();
  out(`load average at end: ${loadavg()} (1/5/15 min)`);
  out(`total time ${ms((performance.now() - started) / 1000, 0)} s`);
}

let exiting = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    if (exiting) return;
    exiting = true;
    process.stderr.write(`bench: ${signal}, cleaning up\n`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
// node-opcua's client may leave timers behind; the run is over.
process.exit(process.exitCode ?? 0);
