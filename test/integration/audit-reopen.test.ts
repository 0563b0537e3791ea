import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { StatusCodes } from "node-opcua";
import type { AuditEntry } from "../../src/audit/audit-log.types.js";
import { connect, tempDir } from "./helpers/gds-harness.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";
import { getApplication, registerOk, sampleServer } from "./helpers/directory-client.js";
import { startGdsProcess, type GdsProcess } from "./helpers/gds-process.js";

// Needs `npm run build` first: this runs the compiled `gds start` as an operator would.

const started: GdsProcess[] = [];
const cliPki = tempDir("gds-audit-reopen-cli-");
const gds = gdsCli(() => cliPki);
afterAll(() => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill("SIGKILL");
});

function entries(file: string): AuditEntry[] {
  const text = fs.readFileSync(file, "utf8");
  expect(text === "" || text.endsWith("\n")).toBe(true);
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as AuditEntry);
}
const registeredUris = (file: string) => entries(file).filter((e) => e.event === "ApplicationRegistered").map((e) => e.applicationUri);

async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("gds start: log rotation of audit.log with SIGHUP", () => {
  it("mv audit.log audit.log.1 + kill -HUP: the old file keeps the first registration, a new audit.log gets the next; the server keeps serving", async () => {
    assertCliBuilt();
    const p = await startGdsProcess();
    started.push(p);
    const audit = path.join(p.dataDir, "audit.log");
    // The README's logrotate example signals the pid in gds.lock.
    expect(Number.parseInt(fs.readFileSync(path.join(p.dataDir, "gds.lock"), "utf8").trim(), 10)).toBe(p.child.pid);

    const s = await connect(p.endpointUrl);
    try {
      const first = sampleServer();
      const firstId = await registerOk(s, first);
      expect(registeredUris(audit)).toEqual([first.applicationUri]);

      fs.renameSync(audit, audit + ".1");
      process.kill(p.child.pid!, "SIGHUP");
      await waitFor("the audit log reopened line", () => /"msg":"audit log reopened"/.test(p.stdout()));
      const line = p
        .stdout()
        .split("\n")
        .map((l) => (l.startsWith("{") ? (JSON.parse(l) as Record<string, unknown>) : {}))
        .find((l) => l.msg === "audit log reopened");
      expect(line?.file).toBe(path.join(path.resolve(p.dataDir), "audit.log"));
      expect(fs.existsSync(audit)).toBe(true);
      expect(fs.statSync(audit).mode & 0o777).toBe(0o600);

      const second = sampleServer();
      await registerOk(s, second);
      expect(registeredUris(audit + ".1")).toEqual([first.applicationUri]);
      expect(registeredUris(audit)).toEqual([second.applicationUri]);
      // `gds audit` (ReadAuditLog) reads only the current file.
      const r = await gds(["audit", "--json", "--endpoint", p.endpointUrl]);
      expect(r.code).toBe(0); // stderr: the trust-on-first-use line for the server certificate
      const listed = (JSON.parse(r.stdout) as { entries: AuditEntry[] }).entries;
      expect(listed.filter((e) => e.event === "ApplicationRegistered").map((e) => e.applicationUri)).toEqual([second.applicationUri]);

      // Still serving: the first application is there, and a second HUP without a move is harmless.
      expect((await getApplication(s, firstId)).statusCode).toBe(StatusCodes.Good);
      process.kill(p.child.pid!, "SIGHUP");
      await waitFor("a second reopened line", () => (p.stdout().match(/"msg":"audit log reopened"/g) ?? []).length === 2);
      const third = sampleServer();
      await registerOk(s, third);
      expect(registeredUris(audit)).toEqual([second.applicationUri, third.applicationUri]);
      expect(p.child.exitCode).toBeNull();
    } finally {
      await s.close().catch(() => undefined);
    }
    // SIGTERM still stops it cleanly.
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 120_000);
});
