// Query-flood benchmark: how long another session's Read of Server_ServerStatus_CurrentTime takes
// while 8 anonymous sessions flood the Directory with worst-case QueryServers/QueryApplications
// calls, against the same Reads without the flood in the same run (the baseline).
//
// A `gds start` child with BENCH_FLOOD_APPS (1,000) registered servers whose names are 250
// non-ASCII characters; the flood runs in its own process (query-flood-client.ts) so that decoding
// its answers does not delay the measuring client. Two server configurations: the defaults
// (GDS_MAX_RECORDS_PER_QUERY 1000, GDS_QUERY_BUDGET_MS 100) and the budget off
// (GDS_QUERY_BUDGET_MS=0: only the per-call cap, the sliced scans and the matcher protect Reads).
// Called by run.ts (`npm run bench -- query-flood`). See docs/benchmarks.md.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AttributeIds } from "node-opcua";
import { BenchClient, type BenchApp } from "./bench-client.js";
import { BENCH_ADMIN_PASSWORD, freePort, gdsChildEnv, removeTempDir, startChild, tempDir, type StartedChild } from "./child.js";
import { median, percentile } from "./stats.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/scripts/bench
const ROOT = path.resolve(here, "../../..");
const GDS_CLI = path.join(ROOT, "dist/src/cli.js");
const FLOOD_CLIENT = path.join(here, "query-flood-client.js");

const APPS = Number(process.env.BENCH_FLOOD_APPS) || 1000;
const READS = Number(process.env.BENCH_FLOOD_READS) || 300;
const FLOOD_SESSIONS = 8;
const FLOOD_IN_FLIGHT = 3;
const TARGET_P99_MS = 250;

export interface QueryFloodBenchResult {
  lines: string[];
  targets: { target: string; measured: string; pass: boolean | null }[];
}

const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "-");

function table(header: string[], rows: (string | number)[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

/** 250 non-ASCII characters (CJK, Cyrillic, Greek), different for each application. */
function longName(i: number): string {
  let s = "";
  for (let k = 0; s.length < 250; k++) {
    const base = [0x4e00, 0x0410, 0x0391][(i + k) % 3]!;
    s += String.fromCodePoint(base + ((i * 31 + k * 7) % (base === 0x4e00 ? 3000 : 30)));
  }
  return s.slice(0, 250);
}

async function readLatencies(reader: BenchClient, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const dv = await reader.session.read({ nodeId: "ns=0;i=2258", attributeId: AttributeIds.Value });
    out.push(performance.now() - t0);
    if (dv.statusCode.isNotGood()) throw new Error(`Read CurrentTime: ${dv.statusCode.name}`);
  }
  return out;
}

interface RunResult {
  label: string;
  baseline: number[];
  flood: number[];
  stats: { statuses: Record<string, number>; maxRecords: number; calls: number; seconds: number } | undefined;
}

async function runConfig(label: string, env: Record<string, string>, progress: (l: string) => void): Promise<RunResult> {
  const dataDir = tempDir("gds-bench-flood-data-");
  const port = await freePort();
  const gds: StartedChild = await startChild([GDS_CLI, "start"], { ...gdsChildEnv(port, dataDir), ...env });
  const endpointUrl = `opc.tcp://127.0.0.1:${port}`;
  const pki = tempDir("gds-bench-flood-client-pki-");
  let admin: BenchClient | undefined;
  let reader: BenchClient | undefined;
  let flood: StartedChild | undefined;
  try {
    admin = await BenchClient.connect(endpointUrl, { userName: "admin", password: BENCH_ADMIN_PASSWORD }, pki);
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < APPS) {
          const i = next++;
          const app: BenchApp = { applicationUri: `urn:bench:flood:${"x".repeat(200)}:${i}`, name: longName(i), discoveryUrl: `opc.tcp://flood-${i}.local:4840` };
          await admin!.register(await admin!.record(app));
        }
      }),
    );
    progress(`query flood (${label}): ${APPS} applications with 250-character non-ASCII names registered`);
    reader = await BenchClient.connect(endpointUrl, null, pki);
    await readLatencies(reader, 50); // warm-up
    const baseline = await readLatencies(reader, READS);
    progress(`query flood (${label}): baseline Read p50 ${f(median(baseline))} ms, p99 ${f(percentile(baseline, 99))} ms`);
    flood = await startChild([FLOOD_CLIENT], { FLOOD_ENDPOINT: endpointUrl, FLOOD_SESSIONS: String(FLOOD_SESSIONS), FLOOD_IN_FLIGHT: String(FLOOD_IN_FLIGHT) }, 120_000);
    const during = await readLatencies(reader, READS);
    await flood.stop(15_000);
    const statsLine = flood
      .tail()
      .split("\n")
      .find((l) => l.includes('"floodStats"'));
    const stats = statsLine ? (JSON.parse(statsLine) as { floodStats: RunResult["stats"] }).floodStats : undefined;
    progress(`query flood (${label}): under flood Read p50 ${f(median(during))} ms, p99 ${f(percentile(during, 99))} ms; flood ${JSON.stringify(stats)}`);
    return { label, baseline, flood: during, stats };
  } finally {
    await flood?.stop();
    await reader?.close();
    await admin?.close();
    await gds.stop();
    removeTempDir(dataDir);
    removeTempDir(pki);
  }
}

export async function benchQueryFlood(progress: (line: string) => void): Promise<QueryFloodBenchResult> {
  const runs = [
    await runConfig("defaults", {}, progress),
    await runConfig("budget off", { GDS_QUERY_BUDGET_MS: "0" }, progress),
  ];
  const lines: string[] = [];
  lines.push(`Read of Server_ServerStatus_CurrentTime (i=2258), ${READS} sequential reads on an anonymous session (Basic256Sha256 SignAndEncrypt),`);
  lines.push(`without and with ${FLOOD_SESSIONS} anonymous sessions x ${FLOOD_IN_FLIGHT} in flight of worst-case QueryServers/QueryApplications`);
  lines.push(`(MaxRecordsToReturn 0, 1,000-character list-heavy LIKE patterns) over ${APPS} servers with 250-character non-ASCII names (ms)`);
  const rows = runs.flatMap((r) => {
    const st = r.stats;
    const flood = st ? `${st.calls} calls in ${f(st.seconds, 0)} s: ${Object.entries(st.statuses).map(([k, v]) => `${k} ${v}`).join(", ")}; largest page ${st.maxRecords}` : "-";
    return [
      [`${r.label}: no flood`, f(median(r.baseline)), f(percentile(r.baseline, 99)), f(Math.max(...r.baseline)), "", ""],
      [`${r.label}: flood`, f(median(r.flood)), f(percentile(r.flood, 99)), f(Math.max(...r.flood)), `${f(median(r.flood) / median(r.baseline), 2)} / ${f(percentile(r.flood, 99) / percentile(r.baseline, 99), 2)}`, flood],
    ];
  });
  lines.push(...table(["", "p50", "p99", "max", "ratio p50 / p99", "flood answers"], rows));
  const targets = runs.map((r) => {
    const p99 = percentile(r.flood, 99);
    return {
      target: `query flood (${r.label}): Read p99 under flood < ${TARGET_P99_MS} ms`,
      measured: `${f(p99)} ms (baseline ${f(percentile(r.baseline, 99))}; p50 ${f(median(r.flood))} vs ${f(median(r.baseline))})`,
      pass: r.label === "defaults" ? p99 < TARGET_P99_MS : null,
    };
  });
  return { lines, targets };
}
