import crypto from "node:crypto";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import type { AuditEntry, AuditLog } from "../../src/audit/audit-log.types.js";
import { hashStrength, verifyPassword, WeakPasswordHash } from "../../src/users/password-hash.js";
import { UserService } from "../../src/users/user-service.js";
import { opensslOk, tempDir } from "./helpers/ca-tools.js";
import { ManualClock } from "./helpers/manual-clock.js";
import { MemoryStore } from "./helpers/memory-store.js";

function scryptHash(password: string, N: number, r: number, p: number, saltLen = 16, keyLen = 32): string {
  const salt = crypto.randomBytes(saltLen);
  const hash = crypto.scryptSync(password, salt, keyLen, { N, r, p, maxmem: 256 * 1024 * 1024 });
  return ["scrypt", N, r, p, salt.toString("base64"), hash.toString("base64")].join("$");
}

function memoryAudit(): AuditLog & { entries: AuditEntry[] } {
  const entries: AuditEntry[] = [];
  return {
    entries,
    async record(e) {
      entries.push(e);
    },
    async read() {
      return entries;
    },
    onEntry: () => () => undefined,
    async close() {},
  };
}

describe("stored password hashes are never weaker than the server's", () => {
  it("refuses weak scrypt parameters, short salts and short keys as weak; absurd ones as malformed", () => {
    expect(hashStrength(scryptHash("pw-123456", 1 << 15, 8, 1))).toBe("ok");
    expect(hashStrength(scryptHash("pw-123456", 1 << 10, 8, 1))).toBe("weak");
    expect(hashStrength(scryptHash("pw-123456", 1 << 15, 1, 1))).toBe("weak");
    expect(hashStrength(scryptHash("pw-123456", 1 << 15, 8, 1, 4))).toBe("weak");
    expect(hashStrength(scryptHash("pw-123456", 1 << 15, 8, 1, 16, 1))).toBe("weak");
    expect(hashStrength("scrypt$1048576$8$1$" + Buffer.alloc(16).toString("base64") + "$" + Buffer.alloc(32).toString("base64"))).toBe("malformed");
    expect(hashStrength("md5$abc")).toBe("malformed");
  });

  it("verifyPassword does not verify a weak hash even with the right password", async () => {
    await expect(verifyPassword("right-password", scryptHash("right-password", 1 << 4, 1, 1))).rejects.toBeInstanceOf(WeakPasswordHash);
  });

  it("a user whose stored hash is weak (e.g. from a crafted backup) cannot log in: a failed, audited login", async () => {
    const store = new MemoryStore();
    await store.commit([{ collection: "users", key: "mallory", value: { name: "mallory", roles: ["SecurityAdmin"], passwordHash: scryptHash("cheap-password", 16, 1, 1), createdAt: "2026-01-01T00:00:00Z" } }]);
    const audit = memoryAudit();
    const reasons: string[] = [];
    const users = new UserService({ store, clock: new ManualClock(Date.parse("2026-01-02T00:00:00Z")), audit, onLoginFailure: (r) => reasons.push(r) });
    await users.init();
    const r = await users.authenticate("mallory", "cheap-password", { clientAddress: "10.0.0.9", applicationUri: "urn:x" });
    expect(r).toMatchObject({ ok: false, reason: "weak-hash", statusName: "BadUserAccessDenied" });
    expect(reasons).toEqual(["weak-hash"]);
    expect(audit.entries).toEqual([expect.objectContaining({ event: "LoginFailed", actor: "mallory", clientAddress: "10.0.0.9", applicationUri: "urn:x", outcome: "BadUserAccessDenied" })]);
    expect(JSON.stringify(audit.entries)).not.toContain("cheap-password");
  });
});

describe("UserService logins and changes", () => {
  it("audits failed logins without the password, throttles the guesser, lets the real user in from elsewhere", async () => {
    const store = new MemoryStore();
    const audit = memoryAudit();
    const clock = new ManualClock(Date.parse("2026-01-02T00:00:00Z"));
    const users = new UserService({ store, clock, audit, throttle: { addressFreeFailures: 2, pairFreeFailures: 2 } });
    await users.init();
    await users.add("admin", ["SecurityAdmin"], "the-right-password", "system");
    const from = (clientAddress: string) => ({ clientAddress });
    expect(await users.authenticate("admin", "guess-1", from("10.6.6.6"))).toMatchObject({ ok: false, reason: "wrong-password" });
    expect(await users.authenticate("ghost", "guess-2", from("10.6.6.6"))).toMatchObject({ ok: false, reason: "unknown-user" });
    expect(await users.authenticate("admin", "the-right-password", from("10.6.6.6"))).toMatchObject({ ok: false, reason: "throttled" });
    expect(await users.authenticate("admin", "the-right-password", from("10.0.0.1"))).toEqual({ ok: true, userName: "admin" });
    const failed = audit.entries.filter((e) => e.event === "LoginFailed");
    expect(failed.map((e) => [e.actor, e.clientAddress])).toEqual([
      ["admin", "10.6.6.6"],
      ["ghost", "10.6.6.6"],
      ["admin", "10.6.6.6"],
    ]);
    expect(JSON.stringify(audit.entries)).not.toMatch(/guess-|the-right-password/);
  });

  it("binds certificates by exact DER; audits UserAdded, UserRolesChanged, UserCertificateBound, UserRemoved with the actor", async () => {
    const store = new MemoryStore();
    const audit = memoryAudit();
    const users = new UserService({ store, clock: new ManualClock(0), audit });
    await users.init();
    await users.add("root", ["SecurityAdmin"], "root-password-1", "system");
    await users.add("op", ["Observer"], "op-password-1", "root");
    const dir = tempDir("user-cert-");
    const der = Buffer.from(
      opensslOk(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=root", "-days", "1", "-keyout", path.join(dir, "k.pem"), "-outform", "DER"]),
      "latin1",
    );
    expect(users.userForCertificate(der)).toBeUndefined();
    const bound = await users.bindCertificate("op", der, "root");
    expect(bound.thumbprint).toBe(crypto.createHash("sha1").update(der).digest("hex"));
    // Its CN says root; the binding says op.
    expect(users.userForCertificate(der)).toBe("op");
    await expect(users.bindCertificate("root", der, "root")).rejects.toMatchObject({ statusName: "BadEntryExists" });
    expect(users.list().find((u) => u.name === "op")?.certificates).toEqual([{ thumbprint: bound.thumbprint, subject: "CN=root" }]);
    await expect(users.bindCertificate("op", Buffer.from("not a certificate"), "root")).rejects.toMatchObject({ statusName: "BadCertificateInvalid" });
    await users.setRoles("op", ["DiscoveryAdmin"], "root");
    await expect(users.setRoles("root", ["Observer"], "root")).rejects.toMatchObject({ statusName: "BadInvalidState" });
    await users.remove("op", "root");
    expect(audit.entries.map((e) => [e.event, e.userName, e.actor])).toEqual([
      ["UserAdded", "root", "system"],
      ["UserAdded", "op", "root"],
      ["UserCertificateBound", "op", "root"],
      ["UserRolesChanged", "op", "root"],
      ["UserRemoved", "op", "root"],
    ]);
  });
});
