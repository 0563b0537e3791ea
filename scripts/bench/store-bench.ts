import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LowdbStore } from "../../src/store/lowdb-store.js";

export interface StoreBenchOptions {
  /** Parent directory for the temporary store; use a real disk, not tmpfs, or fsync costs nothing. */
  parentDir?: string;
  sizes?: number[];
  commits?: number;
}

interface Row {
  stored: number;
  p50: number;
  p99: number;
  max: number;
  openMs: number;
  snapshotMs: number;
}

/** About 400 bytes of JSON, shaped like an ApplicationRecord. */
function appRecord(i: number): Record<string, unknown> {
  const id = `${i.toString(16).padStart(8, "0")}-4b1d-4c2e-9f3a-${(i * 7919).toString(16).padStart(12, "0")}`;
  return {
    applicationId: id,
    recordId: i + 1,
    applicationUri: `urn:plant-${i % 97}:line-${i}:opcua:server`,
    applicationType: i % 4,
    applicationNames: [{ locale: "en-US", text: `Filling line ${i} controller` }],
    productUri: "urn:example.com:products:plc-runtime",
    discoveryUrls: [`opc.tcp://line-${i}.plant-${i % 97}.example.com:4840`],
    serverCapabilities: ["DA", "HD"],
    createdAt: "2026-11-25T10:00:00.000Z",
    updatedAt: "2026-11-25T10:00:00.000Z",
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measure(parent: string, stored: number, commits: number): Promise<Row> {
  const dir = await mkdtemp(path.join(parent, "gds-store-bench-"));
  try {
    // Populate in large batches, then reopen so every size starts from a snapshot and an empty journal.
    const seedStore = new LowdbStore({ dir });
    await seedStore.open();
    for (let i = 0; i < stored; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(stored, i + 500); j++) {
        batch.push({ collection: "applications", key: `app-${j}`, value: appRecord(j) });
      }
      await seedStore.commit(batch);
    }
    await seedStore.close();

    const store = new LowdbStore({ dir });
    let t = performance.now();
    await store.open();
    const openMs = performance.now() - t;
    const lat: number[] = [];
    for (let i = 0; i < commits; i++) {
      const rec = appRecord(stored + i);
      t = performance.now();
      await store.commit([{ collection: "applications", key: `new-${i}`, value: rec }]);
      lat.push(performance.now() - t);
    }
    // close() writes a snapshot of everything: the cost paid once every compactEvery commits.
    t = performance.now();
    await store.close();
    const snapshotMs = performance.now() - t;
    lat.sort((a, b) => a - b);
    return { stored, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.at(-1)!, openMs, snapshotMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Commit latency of the embedded store (one record per commit, each awaited) against stored volume. */
export async function benchStore(options: StoreBenchOptions = {}): Promise<string> {
  const parent = options.parentDir ?? os.tmpdir();
  const sizes = options.sizes ?? [100, 1_000, 10_000];
  const commits = options.commits ?? 200;
  const rows: Row[] = [];
  for (const n of sizes) rows.push(await measure(parent, n, commits));

  const f = (ms: number) => ms.toFixed(2).padStart(9);
  const lines = [
    `store commit latency, ${commits} sequential single-record commits (ms)`,
    `${"stored".padStart(8)} ${"p50".padStart(9)} ${"p99".padStart(9)} ${"max".padStart(9)} ${"open".padStart(9)} ${"snapshot".padStart(9)}`,
    ...rows.map((r) => `${String(r.stored).padStart(8)} ${f(r.p50)} ${f(r.p99)} ${f(r.max)} ${f(r.openMs)} ${f(r.snapshotMs)}`),
  ];
  const first = rows[0]!;
  const last = rows.at(-1)!;
  lines.push(`ratio p50(${last.stored})/p50(${first.stored}) = ${(last.p50 / first.p50).toFixed(2)} (target <= 3)`);
  return lines.join("\n");
}
