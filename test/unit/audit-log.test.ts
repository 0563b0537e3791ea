import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AddressSpace, generateAddressSpace, NodeId, nodesets, StatusCodes, type Variant } from "node-opcua";
import type { AuditEntry, AuditEventName } from "../../src/audit/audit-log.types.js";
import { AUDIT_LOG_FILE_NAME, FileAuditLog, readAuditLogFile, REDACTED } from "../../src/audit/file-audit-log.js";
import { createLogger, type Logger } from "../../src/log.js";
import { describeAuditEvent, raiseAuditEvents } from "../../src/opcua/audit-events.js";
import { GDS_NAMESPACE_URI } from "../../src/users/roles.js";
import { compiledModuleUrl, runAndKill } from "./helpers/kill-nine.js";
import { ManualClock } from "./helpers/manual-clock.js";

let dir: string;
let logs: FileAuditLog[];
let logLines: Array<Record<string, unknown>>;
let logger: Logger;

const T0 = Date.parse("2025-03-01T10:00:00.000Z");
let clock: ManualClock;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gds-audit-"));
  logs = [];
  logLines = [];
  logger = createLogger("debug", {
    destination: { write: (msg: string) => void logLines.push(JSON.parse(msg) as Record<string, unknown>) },
  });
  clock = new ManualClock(T0);
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
function fileLines(): string[] {
  const text = fs.readFileSync(auditFile(), "utf8");
  expect(text === "" || text.endsWith("\n")).toBe(true);
  return text.split("\n").filter((l) => l !== "");
}

async function openLog(): Promise<FileAuditLog> {
  const l = await FileAuditLog.open({ dataDir: dataDir(), clock, log: logger });
  logs.push(l);
  return l;
}

function entry(n: number, extra: Partial<AuditEntry> = {}): AuditEntry {
  return { event: "ApplicationRegistered", actor: "admin", outcome: "Good", applicationId: `app-${n}`, ...extra };
}

describe("FileAuditLog", () => {
  it("round-trips entries with times from the clock, as JSON lines", async () => {
    const log = await openLog();
    await log.record(entry(1, { applicationUri: "urn:a", detail: "first" }));
    clock.advance(60_000);
    await log.record({ event: "CertificateDelivered", actor: "app:app-1", outcome: "Good", group: "DefaultApplicationGroup", serialHex: "0a1b" });

    const entries = await log.read();
    expect(entries).toEqual([
      { time: "2025-03-01T10:00:00.000Z", event: "ApplicationRegistered", actor: "admin", outcome: "Good", applicationId: "app-1", applicationUri: "urn:a", detail: "first" },
      { time: "2025-03-01T10:01:00.000Z", event: "CertificateDelivered", actor: "app:app-1", outcome: "Good", group: "DefaultApplicationGroup", serialHex: "0a1b" },
    ]);
    const lines = fileLines();
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toEqual(entries[0]);

    // Survives close and reopen; new entries go after the old ones.
    await log.close();
    const again = await openLog();
    clock.advance(1000);
    await again.record(entry(3, { outcome: "BadUserAccessDenied" }));
    expect((await again.read()).map((e) => e.applicationId)).toEqual(["app-1", undefined, "app-3"]);
  });

  it("stamps the time itself and keeps only the known fields", async () => {
    const log = await openLog();
    const input = { ...entry(1), time: "1999-01-01T00:00:00.000Z", password: "hunter2", nested: { a: 1 } } as unknown as AuditEntry;
    await log.record(input);
    const [got] = await log.read();
    expect(got).toEqual({ time: "2025-03-01T10:00:00.000Z", event: "ApplicationRegistered", actor: "admin", outcome: "Good", applicationId: "app-1" });
    expect(fs.readFileSync(auditFile(), "utf8")).not.toContain("hunter2");
  });

  it("rejects malformed entries without writing them", async () => {
    const log = await openLog();
    await expect(log.record({ event: "ApplicationRegistered", outcome: "Good" } as unknown as AuditEntry)).rejects.toThrow(/actor/);
    await expect(log.record({ ...entry(1), requestId: 42 } as unknown as AuditEntry)).rejects.toThrow(/requestId/);
    expect(fileLines()).toEqual([]);
  });

  it("filters with since (inclusive)", async () => {
    const log = await openLog();
    for (let i = 0; i < 5; i++) {
      await log.record(entry(i));
      clock.advance(60_000);
    }
    const since = new Date(T0 + 2 * 60_000);
    expect((await log.read({ since })).map((e) => e.applicationId)).toEqual(["app-2", "app-3", "app-4"]);
    expect(await log.read({ since: new Date(T0 + 10 * 60_000) })).toEqual([]);
    expect(await log.read({ since: new Date(0) })).toHaveLength(5);
  });

  it("writes 100 concurrent records as 100 intact lines in call order", async () => {
    const log = await openLog();
    const resolved: number[] = [];
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => log.record(entry(i, { detail: "x".repeat(500) })).then(() => resolved.push(i))),
    );
    expect(resolved).toHaveLength(100);
    const lines = fileLines();
    expect(lines).toHaveLength(100);
    expect(lines.map((l) => (JSON.parse(l) as AuditEntry).applicationId)).toEqual(Array.from({ length: 100 }, (_, i) => `app-${i}`));
    expect(resolved).toEqual([...resolved].sort((a, b) => a - b));
    expect(await log.read()).toHaveLength(100);
  });

  it("cuts off a torn last line on reopen and keeps appending cleanly", async () => {
    const log = await openLog();
    await log.record(entry(1));
    await log.record(entry(2));
    await log.close();
    // An append interrupted by a crash: part of a line, no newline.
    fs.appendFileSync(auditFile(), '{"time":"2025-03-01T10:00:00.000Z","event":"Applicat');

    const again = await openLog();
    expect(logLines.some((l) => l.msg === "audit log: cut off a torn last line (an append interrupted by a crash)")).toBe(true);
    expect((await again.read()).map((e) => e.applicationId)).toEqual(["app-1", "app-2"]);
    await again.record(entry(3));
    expect(fileLines().map((l) => (JSON.parse(l) as AuditEntry).applicationId)).toEqual(["app-1", "app-2", "app-3"]);
    const result = await again.readWithDamage();
    expect(result.damagedLines).toBe(0);
  });

  it("repairs a file that holds only a torn line", async () => {
    fs.mkdirSync(dataDir(), { recursive: true });
    fs.writeFileSync(auditFile(), '{"time":"2025', { mode: 0o600 });
    const log = await openLog();
    expect(fs.statSync(auditFile()).size).toBe(0);
    await log.record(entry(1));
    expect(fileLines()).toHaveLength(1);
  });

  it("skips and counts a damaged middle line instead of failing", async () => {
    const log = await openLog();
    await log.record(entry(1));
    await log.record(entry(2));
    await log.record(entry(3));
    await log.close();
    const lines = fs.readFileSync(auditFile(), "utf8").split("\n");
    lines[1] = lines[1]!.slice(0, 20) + "\u0000\u0000garbage";
    lines.splice(2, 0, '{"event":"ApplicationRegistered"}'); // valid JSON, not an entry (no time/actor/outcome)
    fs.writeFileSync(auditFile(), lines.join("\n"));

    const again = await openLog();
    expect((await again.read()).map((e) => e.applicationId)).toEqual(["app-1", "app-3"]);
    const warning = logLines.find((l) => l.msg === "audit log: skipped damaged lines");
    expect(warning).toMatchObject({ damagedLines: 2, lineNumbers: [2, 3] });
    const result = await again.readWithDamage();
    expect(result).toMatchObject({ damagedLines: 2, damagedLineNumbers: [2, 3] });
    // Appending still works after the damage.
    await again.record(entry(4));
    expect((await again.read()).map((e) => e.applicationId)).toEqual(["app-1", "app-3", "app-4"]);
  });

  it("creates the file with mode 0600 and tightens an existing one", async () => {
    const log = await openLog();
    await log.record(entry(1));
    expect(fs.statSync(auditFile()).mode & 0o777).toBe(0o600);
    await log.close();

    fs.chmodSync(auditFile(), 0o644);
    await openLog();
    expect(fs.statSync(auditFile()).mode & 0o777).toBe(0o600);
  });

  it("redacts fields that look like a PEM private key or CSR", async () => {
    const log = await openLog();
    const key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
    const rsaKey = "oops -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecret\n-----END RSA PRIVATE KEY-----";
    const csr = "-----BEGIN CERTIFICATE REQUEST-----\nMIICsecretcsr\n-----END CERTIFICATE REQUEST-----";
    await log.record(entry(1, { detail: key, applicationUri: rsaKey, requestId: csr, serialHex: "01" }));
    const [got] = await log.read();
    expect(got).toMatchObject({ detail: REDACTED, applicationUri: REDACTED, requestId: REDACTED, serialHex: "01", applicationId: "app-1" });
    const text = fs.readFileSync(auditFile(), "utf8");
    expect(text).not.toMatch(/PRIVATE KEY|CERTIFICATE REQUEST|MII/);
    // The warning names the field, never the value.
    const warnings = logLines.filter((l) => typeof l.msg === "string" && (l.msg as string).includes("redacted"));
    expect(warnings.map((w) => w.field).sort()).toEqual(["applicationUri", "detail", "requestId"]);
    expect(JSON.stringify(logLines)).not.toContain("MII");
  });

  it("runs listeners after the entry is durable; a throwing listener does not fail record()", async () => {
    const log = await openLog();
    const seen: string[] = [];
    log.onEntry(() => {
      throw new Error("listener boom");
    });
    log.onEntry(async () => {
      throw new Error("async listener boom");
    });
    log.onEntry((e) => {
      // Durable before listeners run: the line is already in the file.
      expect(fs.readFileSync(auditFile(), "utf8")).toContain(`"applicationId":"${e.applicationId}"`);
      seen.push(`${e.time} ${e.applicationId}`);
    });
    await expect(log.record(entry(1))).resolves.toBeUndefined();
    await expect(log.record(entry(2))).resolves.toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(["2025-03-01T10:00:00.000Z app-1", "2025-03-01T10:00:00.000Z app-2"]);
    const failures = logLines.filter((l) => l.msg === "audit log listener failed");
    expect(failures).toHaveLength(4);
    expect(failures.map((f) => (f.err as { message: string }).message).sort()).toEqual([
      "async listener boom",
      "async listener boom",
      "listener boom",
      "listener boom",
    ]);
  });

  it("stops calling a listener once unsubscribed", async () => {
    const log = await openLog();
    const seen: string[] = [];
    const off = log.onEntry((e) => seen.push(e.applicationId!));
    await log.record(entry(1));
    off();
    await log.record(entry(2));
    expect(seen).toEqual(["app-1"]);
  });

  it("close() flushes pending records, then refuses new ones", async () => {
    const log = await openLog();
    const pending = [log.record(entry(1)), log.record(entry(2))];
    await log.close();
    await Promise.all(pending);
    expect(fileLines()).toHaveLength(2);
    await expect(log.record(entry(3))).rejects.toThrow(/closed/);
    await log.close(); // idempotent
  });

  it("refuses a second instance on the same file in one process", async () => {
    await openLog();
    await expect(FileAuditLog.open({ dataDir: dataDir(), clock, log: logger })).rejects.toThrow(/already open/);
  });

  it("readAuditLogFile reads without changing the file, and an absent file is empty", async () => {
    expect(await readAuditLogFile(path.join(dir, "nope.log"))).toEqual({ entries: [], damagedLines: 0, damagedLineNumbers: [] });
    const log = await openLog();
    await log.record(entry(1));
    await log.close();
    fs.appendFileSync(auditFile(), '{"time":"20');
    const before = fs.readFileSync(auditFile());
    const result = await readAuditLogFile(auditFile());
    expect(result.entries).toHaveLength(1);
    expect(result.damagedLines).toBe(1);
    expect(fs.readFileSync(auditFile())).toEqual(before);
  });
});

describe("FileAuditLog under kill -9", () => {
  const childScript = `
const [, , modUrl, dataDir, prefix] = process.argv;
const { FileAuditLog } = await import(modUrl);
const quiet = { warn() {}, error() {}, info() {}, debug() {} };
const log = await FileAuditLog.open({ dataDir, clock: { now: () => new Date() }, log: quiet });
process.stdout.write("ready\\n");
const detail = "x".repeat(700);
async function writer(w) {
  for (let i = 0; ; i++) {
    const requestId = prefix + "-" + w + "-" + i;
    await log.record({ event: "CertificateRequested", actor: "admin", outcome: "Good", requestId, detail });
    process.stdout.write(requestId + "\\n");
  }
}
await Promise.all([0, 1, 2, 3].map(writer));
`;

  it("keeps every acknowledged record after SIGKILL, and the log stays readable and appendable", async () => {
    const moduleUrl = compiledModuleUrl("audit/file-audit-log", ["audit/audit-log.types", "log", "clock", "durable-fs"]);
    const script = path.join(dir, "writer.mjs");
    fs.writeFileSync(script, childScript);
    const acked: string[] = [];
    for (const [round, ms] of [120, 250, 400].entries()) {
      const got = await runAndKill(script, [moduleUrl, dataDir(), `r${round}`], ms);
      expect(got.length).toBeGreaterThan(10);
      acked.push(...got);

      const log = await FileAuditLog.open({ dataDir: dataDir(), clock, log: logger });
      const result = await log.readWithDamage();
      expect(result.damagedLines).toBe(0);
      const present = new Set(result.entries.map((e) => e.requestId));
      for (const id of acked) expect(present.has(id)).toBe(true);
      await log.close();
    }
  });
});

/**
 * The OPC UA side on a real address space with the standard and GDS nodesets (no server, no
 * client): the events are raised on the Server object and carry the Part 5/Part 12 fields.
 */
describe("raiseAuditEvents", () => {
  let addressSpace: AddressSpace;
  let gdsNamespace: number;
  let raised: Array<Record<string, Variant | undefined>>;

  beforeAll(async () => {
    addressSpace = AddressSpace.create();
    await generateAddressSpace(addressSpace, [nodesets.standard, nodesets.gds], { trustSiblingImages: true });
    gdsNamespace = addressSpace.getNamespaceIndex(GDS_NAMESPACE_URI);
    addressSpace.rootFolder.objects.server.on("event", (e) => raised.push(e as unknown as Record<string, Variant | undefined>));
  });
  afterAll(() => addressSpace.dispose());
  beforeEach(() => {
    raised = [];
  });

  const gds = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, gdsNamespace);
  const ns0 = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, 0);
  const valueOf = (e: Record<string, Variant | undefined>, field: string) => e[field]?.value as unknown;

  it("raises CertificateRequestedAuditEventType with group, type and the AuditEventType fields", async () => {
    const log = await openLog();
    const off = raiseAuditEvents({ addressSpace, audit: log, gdsNamespace, log: logger, serverUri: "urn:test:gds" });
    await log.record({
      event: "CertificateRequested",
      actor: "app:a1",
      outcome: "Good",
      applicationId: "a1",
      requestId: "r1",
      group: "DefaultApplicationGroup",
      certificateType: "EccNistP256ApplicationCertificateType",
    });
    off();
    expect(raised).toHaveLength(1);
    const e = raised[0]!;
    expect((valueOf(e, "eventType") as NodeId).toString()).toBe(gds(91).toString());
    expect((valueOf(e, "sourceNode") as NodeId).toString()).toBe("ns=0;i=2253");
    expect((valueOf(e, "certificateGroup") as NodeId).toString()).toBe(gds(615).toString());
    expect((valueOf(e, "certificateType") as NodeId).toString()).toBe(ns0(23538).toString());
    expect(valueOf(e, "status")).toBe(true);
    expect(valueOf(e, "serverId")).toBe("urn:test:gds");
    expect(valueOf(e, "clientUserId")).toBe("app:a1");
    expect((valueOf(e, "actionTimeStamp") as Date).toISOString()).toBe("2025-03-01T10:00:00.000Z");
    expect(valueOf(e, "sourceName")).toBe("CertificateManager/CertificateRequested");
    expect((valueOf(e, "message") as { text: string }).text).toBe("CertificateRequested application a1 request r1 group DefaultApplicationGroup type EccNistP256ApplicationCertificateType by app:a1");
    expect(valueOf(e, "severity")).toBe(100);
  });

  it("maps registration changes, failures and the other events; every field given exists on the type", async () => {
    const log = await openLog();
    const off = raiseAuditEvents({ addressSpace, audit: log, gdsNamespace, log: logger, serverUri: "urn:test:gds" });
    const names: AuditEventName[] = [
      "ApplicationRegistered",
      "ApplicationUpdated",
      "ApplicationUnregistered",
      "CertificateRequested",
      "RequestApproved",
      "RequestRejected",
      "CertificateDelivered",
      "CertificateRevoked",
      "TrustListUpdated",
      "CaImported",
      "CaCreated",
    ];
    for (const event of names) {
      await log.record({ event, actor: "admin", outcome: "BadUserAccessDenied", group: "DefaultHttpsGroup", certificateType: "HttpsCertificateType" });
    }
    off();
    expect(raised).toHaveLength(names.length);
    const types = raised.map((e) => (valueOf(e, "eventType") as NodeId).toString());
    expect(types).toEqual(
      [gds(26), gds(26), gds(26), gds(91), ns0(2127), ns0(2127), gds(109), gds(27), ns0(12561), ns0(2127), ns0(2127)].map(String),
    );
    for (const [i, e] of raised.entries()) {
      expect(valueOf(e, "status")).toBe(false);
      expect(valueOf(e, "severity")).toBe(500);
      expect((valueOf(e, "statusCodeId") as { value: number }).value).toBe(StatusCodes.BadUserAccessDenied.value);
      // A field node-opcua does not find in the type's layout is silently dropped: make sure none is.
      const { data } = describeAuditEvent({ time: "2025-03-01T10:00:00.000Z", event: names[i]!, actor: "admin", outcome: "Bad" }, { gdsNamespace, serverUri: "" });
      for (const field of Object.keys(data)) expect(e[field]).toBeDefined();
    }
    expect((valueOf(raised[0]!, "methodId") as NodeId).toString()).toBe(gds(146).toString());
    expect(valueOf(raised[0]!, "sourceName")).toBe("Method/RegisterApplication");
    expect((valueOf(raised[6]!, "certificateGroup") as NodeId).toString()).toBe(gds(649).toString());
    expect((valueOf(raised[6]!, "certificateType") as NodeId).toString()).toBe(ns0(12558).toString());
    expect((valueOf(raised[8]!, "trustListId") as NodeId).toString()).toBe(gds(650).toString());
    expect((valueOf(raised[0]!, "message") as { text: string }).text).toMatch(/by admin: BadUserAccessDenied$/);
  });

  it("logs, never throws, when an event cannot be raised", async () => {
    const log = await openLog();
    const off = raiseAuditEvents({ addressSpace, audit: log, gdsNamespace, log: logger });
    await expect(log.record({ event: "NoSuchEvent" as AuditEventName, actor: "admin", outcome: "Good" })).resolves.toBeUndefined();
    off();
    expect(raised).toHaveLength(0);
    expect(logLines.find((l) => l.msg === "could not raise the OPC UA audit event")).toMatchObject({ event: "NoSuchEvent" });
  });
});
