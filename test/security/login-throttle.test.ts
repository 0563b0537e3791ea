import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  VariantArrayType,
  type ClientSession,
} from "node-opcua";
import type { AuditEntry } from "../../src/audit/audit-log.types.js";
import { ADMIN_PASSWORD, callAdmin, freePort, isGood, sharedClientPkiDir, startTestGds, type TestGds } from "../integration/helpers/gds-harness.js";
import { loopbackRelay } from "./helpers/loopback-relay.js";

const ATTACK_SIZE = 60;
const FLOOD = path.resolve("test/security/helpers/guess-flood.mjs");

/** A connected client (secure channel open, no session yet) to `endpointUrl`. */
async function openClient(endpointUrl: string, pkiName: string): Promise<{ client: OPCUAClient; close(): Promise<void> }> {
  const clientCertificateManager = new OPCUACertificateManager({ rootFolder: sharedClientPkiDir(pkiName), automaticallyAcceptUnknownCertificate: true });
  const client = OPCUAClient.create({
    applicationName: `login-throttle-${pkiName}`,
    applicationUri: `urn:opcua-gds-test-client:${pkiName}`,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager,
  });
  await client.connect(endpointUrl);
  return {
    client,
    async close() {
      await client.disconnect().catch(() => undefined);
      await clientCertificateManager.dispose();
    },
  };
}

function readAudit(t: TestGds): AuditEntry[] {
  return fs
    .readFileSync(path.join(t.config.dataDir, "audit.log"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as AuditEntry);
}

async function metric(t: TestGds, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${t.gds.httpUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = new RegExp(`^${name}(?:\\{reason="([^"]*)"\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? "", Number(m[2]));
  }
  return out;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("password guessing: throttled, bounded, audited; the real admin still gets in", () => {
  let t: TestGds;
  beforeAll(async () => {
    // The guesser holds 60 anonymous sessions to change user on; the per-address session caps
    // (test/security/session-flood.test.ts) would stop it at 16, so they are raised here to
    // test the login throttle on its own.
    t = await startTestGds({ httpPort: await freePort(), maxAnonymousSessionsPerAddress: 100 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it(`${ATTACK_SIZE} pipelined wrong guesses from 127.0.0.1 are refused fast; the admin from 127.0.0.2 logs in and calls GetStatus within 2 s`, async () => {
    const port = Number(new URL(t.endpointUrl.replace("opc.tcp:", "http:")).port);
    const relay = await loopbackRelay("127.0.0.2", port);
    const admin = await openClient(relay.url, "default");
    // The attacker is another process (its client-side crypto must not share the server's CPU
    // time in this process): ATTACK_SIZE sessions on one channel, activated at once as admin.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_OPTIONS"));
    const attacker = spawn(process.execPath, [FLOOD, t.endpointUrl, sharedClientPkiDir("guess-flood"), String(ATTACK_SIZE), "admin"], {
      env: inherited,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    attacker.stdout.on("data", (d) => (out += d));
    attacker.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => attacker.on("close", resolve));
    let adminSession: ClientSession | undefined;
    try {
      await waitFor("the attacker's sessions", () => out.includes("ready\n") || attacker.exitCode !== null, 120_000);
      expect(err.includes("Error") ? err : "").toBe("");
      const attackStarted = Date.now();
      attacker.stdin.write("go\n");
      // Once the server is answering the attack, the admin logs in from the other machine.
      await waitFor("the first refused guess", () => out.includes("result "));
      const started = Date.now();
      adminSession = await admin.client.createSession({ type: UserTokenType.UserName, userName: "admin", password: ADMIN_PASSWORD });
      const status = await callAdmin({ client: admin.client, session: adminSession, gdsNs: -1, close: async () => undefined }, "GetStatus", []);
      const adminMs = Date.now() - started;
      expect(isGood(status)).toBe(true);
      expect(adminMs).toBeLessThan(2000);

      await waitFor("the attack's end", () => out.includes("done\n") || attacker.exitCode !== null);
      const attackMs = Date.now() - attackStarted;
      const results = out.split("\n").filter((l) => l.startsWith("result ")).map((l) => l.split(" ")[2]);
      expect(results).toEqual(Array(ATTACK_SIZE).fill("BadUserAccessDenied"));
      // Refused, not queued: the whole attack is answered in a few scrypts' time, not 60 of them.
      expect(attackMs).toBeLessThan(15_000);

      // Every guess left a LoginFailed record (user, address, ApplicationUri), never the password.
      await waitFor("60 LoginFailed records", () => readAudit(t).filter((e) => e.event === "LoginFailed").length >= ATTACK_SIZE);
      const failed = readAudit(t).filter((e) => e.event === "LoginFailed");
      expect(failed.length).toBe(ATTACK_SIZE);
      for (const e of failed) {
        expect(e).toMatchObject({ actor: "admin", clientAddress: "127.0.0.1", applicationUri: "urn:opcua-gds-test-client:guess-flood", outcome: "BadUserAccessDenied" });
      }
      const raw = fs.readFileSync(path.join(t.config.dataDir, "audit.log"), "utf8");
      expect(raw).not.toContain("wrong-guess");
      expect(raw).not.toContain(ADMIN_PASSWORD);
      // Most guesses never reached scrypt.
      const verified = failed.filter((e) => /wrong password/.test(e.detail ?? "")).length;
      expect(verified).toBeLessThanOrEqual(20);

      const counts = await metric(t, "gds_login_failures_total");
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      expect(total).toBe(ATTACK_SIZE);
      expect((counts.get("busy") ?? 0) + (counts.get("throttled") ?? 0)).toBeGreaterThanOrEqual(ATTACK_SIZE - 20);
    } finally {
      if (attacker.exitCode === null) attacker.kill();
      await exited;
      await adminSession?.close().catch(() => undefined);
      await admin.close();
      await relay.close();
    }
  });

  it("a throttled address is refused even with the right password, while another address is not", async () => {
    // After the attack above, 127.0.0.1 has failures on record: it waits between attempts.
    const port = Number(new URL(t.endpointUrl.replace("opc.tcp:", "http:")).port);
    const relay = await loopbackRelay("127.0.0.2", port);
    const fromOther = await openClient(relay.url, "default");
    try {
      const before = readAudit(t).filter((e) => e.event === "LoginFailed").length;
      // Enough wrong guesses from 127.0.0.1 to be locked out for minutes (the delay doubles per failure).
      t.gds.users.throttle.recordFailure({ userName: "admin", clientAddress: "127.0.0.1" });
      for (let i = 0; i < 10; i++) t.gds.users.throttle.recordFailure({ userName: "nobody", clientAddress: "127.0.0.1" });
      const attacker = await openClient(t.endpointUrl, "default");
      try {
        await expect(attacker.client.createSession({ type: UserTokenType.UserName, userName: "admin", password: ADMIN_PASSWORD })).rejects.toThrow(/BadUserAccessDenied/);
      } finally {
        await attacker.close();
      }
      const s = await fromOther.client.createSession({ type: UserTokenType.UserName, userName: "admin", password: ADMIN_PASSWORD });
      await s.close();
      const after = readAudit(t).filter((e) => e.event === "LoginFailed").slice(before);
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ actor: "admin", clientAddress: "127.0.0.1" });
      expect(after[0].detail).toMatch(/too many failed logins/);
    } finally {
      await fromOther.close();
      await relay.close();
    }
  });

  it("user changes are audited with the acting admin: UserAdded, UserRolesChanged, UserRemoved", async () => {
    // 127.0.0.1 is throttled by the tests above: the admin works from the other machine.
    const port = Number(new URL(t.endpointUrl.replace("opc.tcp:", "http:")).port);
    const relay = await loopbackRelay("127.0.0.2", port);
    const admin = await openClient(relay.url, "default");
    const s = await admin.client.createSession({ type: UserTokenType.UserName, userName: "admin", password: ADMIN_PASSWORD });
    const ts = { client: admin.client, session: s, gdsNs: -1, close: async () => undefined };
    const roles = (names: string[]) => ({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: names });
    const str = (value: string) => ({ dataType: DataType.String, value });
    try {
      expect(isGood(await callAdmin(ts, "AddUser", [str("carol"), roles(["Observer"]), str("carol-password-1")]))).toBe(true);
      expect(isGood(await callAdmin(ts, "SetUserRoles", [str("carol"), roles(["DiscoveryAdmin"])]))).toBe(true);
      expect(isGood(await callAdmin(ts, "RemoveUser", [str("carol")]))).toBe(true);
      const changes = readAudit(t).filter((e) => e.userName === "carol");
      expect(changes.map((e) => e.event)).toEqual(["UserAdded", "UserRolesChanged", "UserRemoved"]);
      for (const e of changes) expect(e).toMatchObject({ actor: "admin", outcome: "Good" });
      expect(JSON.stringify(changes)).not.toContain("carol-password-1");
    } finally {
      await s.close().catch(() => undefined);
      await admin.close();
      await relay.close();
    }
  });
});
