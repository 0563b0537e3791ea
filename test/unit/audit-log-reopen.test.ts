import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AuditEntry } from "../../src/audit/audit-log.types.js";
import { AUDIT_LOG_FILE_NAME, FileAuditLog, readAuditLogFile } from "../../src/audit/file-audit-log.js";
import { createLogger, type Logger } from "../../src/log.js";
import { ManualClock } from "./helpers/manual-clock.js";

// Log rotation: the file is moved aside (logrotate), then reopen() (SIGHUP in `gds start`).

let dir: string;
let logs: FileAuditLog[];
let logLines: Array<Record<string, unknown>>;
let logger: Logger;
let clock: ManualClock;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gds-audit-reopen-"));
  logs = [];
  logLines = [];
  logger = createLogger("debug", {
    destination: { write: (msg: string) => void logLines.push(JSON.parse(msg) as Record<string, unknown>) },
  });
  clock = new ManualClock(Date.parse("2025-03-01T10:00:00.000Z"));
});

afterEach(async () => {
  for (const l of logs) await l.close().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  return path.join(dir, "data");
}
function auditFile(): string {
  return path.join(dataDir(), AUDIT_LOG_FILE_NAME);
}
function rotated(): string {
  return auditFile() + ".1";
}
/** applicationIds of the lines in a file; every line must be whole. */
function idsIn(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  expect(text === "" || text.endsWith("\n")).toBe(true);
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (JSON.parse(l) as AuditEntry).applicationId!);
}
async function openLog(): Promise<FileAuditLog> {
  const l = await FileAuditLog.open({ dataDir: dataDir(), clock, log: logger });
  logs.push(l);
  return l;
}
function entry(n: number): AuditEntry {
  return { event: "ApplicationRegistered", actor: "admin", outcome: "Good", applicationId: `app-${n}` };
}
const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `app-${from + i}`);
const tick = () => new Promise((r) => setImmediate(r));

describe("FileAuditLog.reopen", () => {
  it("after a rename, the old file keeps the records before and a new 0600 audit.log gets the ones after", async () => {
    const log = await openLog();
    for (let i = 0; i < 3; i++) await log.record(entry(i));
    fs.renameSync(auditFile(), rotated());
    await log.reopen();
    expect(fs.statSync(auditFile()).mode & 0o777).toBe(0o600);
    expect(idsIn(auditFile())).toEqual([]);
    for (let i = 3; i < 5; i++) await log.record(entry(i));

    expect(idsIn(rotated())).toEqual(ids(0, 3));
    expect(idsIn(auditFile())).toEqual(ids(3, 5));
    // read() (gds audit, ReadAuditLog) reads only the current file, up to its durable size.
    expect((await log.read()).map((e) => e.applicationId)).toEqual(ids(3, 5));
  });

  it("loses and duplicates nothing with record() calls in flight around the reopen", async () => {
    const log = await openLog();
    for (let i = 0; i < 5; i++) await log.record(entry(i));
    const acked: number[] = [];
    const pending: Promise<void>[] = [];
    let reopened: Promise<void> | undefined;
    let issuedBeforeReopen = 0;
    for (let i = 5; i < 200; i++) {
      pending.push(log.record(entry(i)).then(() => void acked.push(i)));
      if (i % 7 === 0) await tick(); // let some batches reach the disk while others queue
      if (i === 100) {
        fs.renameSync(auditFile(), rotated()); // mid-stream, as logrotate does
        reopened = log.reopen();
        issuedBeforeReopen = i + 1;
      }
    }
    await Promise.all([...pending, reopened]);
    expect(acked.sort((a, b) => a - b)).toEqual(Array.from({ length: 195 }, (_, i) => i + 5));

    const before = idsIn(rotated());
    const after = idsIn(auditFile());
    // Together: every record once, in call order; the switch happens at one point in that order.
    expect([...before, ...after]).toEqual(ids(0, 200));
    // The old file got at least the records acknowledged before the rename; every record issued
    // after reopen() was called went to the new file.
    expect(before.length).toBeGreaterThanOrEqual(5);
    expect(before.length).toBeLessThanOrEqual(issuedBeforeReopen);
    expect(after.slice(-99)).toEqual(ids(101, 200));
  });

  it("records issued while a reopen waits go to the new file, in order", async () => {
    const log = await openLog();
    await log.record(entry(0));
    const first = log.record(entry(1)); // in the group commit the reopen waits for (or queued)
    fs.renameSync(auditFile(), rotated());
    const reopened = log.reopen();
    const later = [2, 3, 4].map((i) => log.record(entry(i)));
    await Promise.all([first, reopened, ...later]);
    const before = idsIn(rotated());
    const after = idsIn(auditFile());
    expect([...before, ...after]).toEqual(ids(0, 5));
    expect(after.slice(-3)).toEqual(ids(2, 5));
  });

  it("reopening a file that was not moved keeps appending to it", async () => {
    const log = await openLog();
    await log.record(entry(0));
    await log.reopen();
    await log.reopen();
    await log.record(entry(1));
    expect(idsIn(auditFile())).toEqual(ids(0, 2));
    expect((await log.read()).map((e) => e.applicationId)).toEqual(ids(0, 2));
  });

  it("two reopens in a row (rotated twice) each switch files", async () => {
    const log = await openLog();
    await log.record(entry(0));
    fs.renameSync(auditFile(), rotated());
    await log.reopen();
    await log.record(entry(1));
    fs.renameSync(auditFile(), auditFile() + ".0");
    await Promise.all([log.reopen(), log.reopen()]);
    await log.record(entry(2));
    expect(idsIn(rotated())).toEqual(["app-0"]);
    expect(idsIn(auditFile() + ".0")).toEqual(["app-1"]);
    expect(idsIn(auditFile())).toEqual(["app-2"]);
  });

  it("when the new file cannot be opened, rejects, logs, and keeps appending to the old one", async () => {
    const log = await openLog();
    await log.record(entry(0));
    fs.renameSync(auditFile(), rotated());
    fs.mkdirSync(auditFile()); // something that cannot be opened for appending
    await expect(log.reopen()).rejects.toThrow(/EISDIR|illegal operation on a directory/);
    expect(logLines.some((l) => l.msg === "audit log reopen failed; still appending to the file that was open")).toBe(true);
    await log.record(entry(1));
    expect(idsIn(rotated())).toEqual(ids(0, 2));
    // Once the obstacle is gone, the next reopen works.
    fs.rmdirSync(auditFile());
    await log.reopen();
    await log.record(entry(2));
    expect(idsIn(auditFile())).toEqual(["app-2"]);
  });

  it("close() during a reopen waits for it and for the queued records; reopen after close rejects", async () => {
    const log = await openLog();
    await log.record(entry(0));
    fs.renameSync(auditFile(), rotated());
    const r = log.record(entry(1));
    const reopened = log.reopen();
    const later = log.record(entry(2));
    await log.close();
    await Promise.all([r, reopened, later]);
    expect([...idsIn(rotated()), ...idsIn(auditFile())]).toEqual(ids(0, 3));
    await expect(log.reopen()).rejects.toThrow(/closed/);
  });

  it("a reopened log is opened again by the next start and continues the new file", async () => {
    const log = await openLog();
    await log.record(entry(0));
    fs.renameSync(auditFile(), rotated());
    await log.reopen();
    await log.record(entry(1));
    await log.close();
    const again = await openLog();
    await again.record(entry(2));
    expect(idsIn(auditFile())).toEqual(ids(1, 3));
  });
});

describe("readAuditLogFile and rotation", () => {
  it("a file renamed (and replaced) mid-read is read whole, as it was opened", async () => {
    fs.mkdirSync(dataDir(), { recursive: true });
    const n = 60_000;
    const line = (i: number) => JSON.stringify({ time: "2025-03-01T10:00:00.000Z", event: "ApplicationRegistered", actor: "admin", outcome: "Good", applicationId: `app-${i}` }) + "\n";
    fs.writeFileSync(auditFile(), Array.from({ length: n }, (_, i) => line(i)).join(""));
    let done = false;
    const reading = readAuditLogFile(auditFile()).finally(() => (done = true));
    // Wait until the reader holds the file open, then rotate under it.
    const target = fs.realpathSync(auditFile());
    const isOpen = () =>
      fs.readdirSync("/proc/self/fd").some((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === target;
        } catch {
          return false;
        }
      });
    while (!isOpen() && !done) await tick();
    const renamedMidRead = !done;
    fs.renameSync(auditFile(), rotated());
    fs.writeFileSync(auditFile(), line(-1));
    const result = await reading;
    expect(result.damagedLines).toBe(0);
    expect(result.entries).toHaveLength(n);
    expect(result.entries[n - 1]!.applicationId).toBe(`app-${n - 1}`);
    expect(renamedMidRead).toBe(true); // otherwise this test did not test anything
  });

  it("a file moved away before the read is an empty log, not an error", async () => {
    expect(await readAuditLogFile(path.join(dir, "nothing-here.log"))).toEqual({ entries: [], damagedLines: 0, damagedLineNumbers: [] });
  });
});
