import { describe, expect, it } from "@jest/globals";
import type { AdminCall } from "../../src/cli/admin-client.js";
import { runAdminCommand, type AdminCommand } from "../../src/cli/admin-commands.js";
import { parseCli, type Env } from "../../src/cli/args.js";
import { CliError, ExitCode } from "../../src/cli/cli-error.js";
import { formatAuditLog, formatCaInfo, formatCertificatesTable, formatRevoked } from "../../src/cli/format.js";
import { CA_USAGE, CERTS_USAGE, LEAF_USAGE, MAIN_USAGE } from "../../src/cli/usage.js";
import { parseSince } from "../../src/ops-cli/since.js";
import { certificateState, selectCertificates } from "../../src/requests/certificate-listing.js";
import type { CertificateRecord } from "../../src/requests/certificate-manager.types.js";

const ENV: Env = { GDS_ADMIN_PASSWORD: "pw-admin-123" };
const ADMIN = { endpoint: "opc.tcp://localhost:4840", user: "admin", password: "pw-admin-123", json: false };

function usageError(argv: string[], env: Env = ENV): CliError {
  try {
    parseCli(argv, env);
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error(`parseCli(${argv.join(" ")}) did not fail`);
}

describe("gds certs / ca show / audit: parsing", () => {
  it("certs list: no filter, each filter, filters combined", () => {
    expect(parseCli(["certs", "list"], ENV)).toEqual({ kind: "certs list", admin: ADMIN, revoked: false });
    expect(parseCli(["certs", "list", "--app", " ns=3;g=abc ", "--expiring-within", "30d", "--revoked", "--json", "--endpoint", "opc.tcp://h:1"], ENV)).toEqual({
      kind: "certs list",
      admin: { ...ADMIN, endpoint: "opc.tcp://h:1", json: true },
      applicationId: "ns=3;g=abc",
      expiringWithin: "30d",
      revoked: true,
    });
  });

  it("certs list: a bad duration, an empty --app or a stray argument is a usage error (exit 2)", () => {
    for (const argv of [
      ["certs", "list", "--expiring-within", "30"],
      ["certs", "list", "--expiring-within", "soon"],
      ["certs", "list", "--app", " "],
      ["certs", "list", "extra"],
      ["certs", "list", "--state", "valid"],
    ]) {
      const err = usageError(argv);
      expect(err.exitCode).toBe(ExitCode.Usage);
      expect(err.usage).toBe(LEAF_USAGE["certs list"]);
    }
    expect(usageError(["certs", "list", "--expiring-within", "soon"]).message).toMatch(/^invalid --expiring-within "soon": expected a duration/);
  });

  it("certs revoke: exactly one of --app and --serial", () => {
    expect(parseCli(["certs", "revoke", "--serial", "0A:1b:ff"], ENV)).toEqual({ kind: "certs revoke", admin: ADMIN, serial: "0A:1b:ff", reason: "" });
    expect(parseCli(["certs", "revoke", "--app", "ns=3;g=x", "--reason", "keyCompromise"], ENV)).toEqual({
      kind: "certs revoke",
      admin: ADMIN,
      applicationId: "ns=3;g=x",
      reason: "keyCompromise",
    });
    for (const argv of [["certs", "revoke"], ["certs", "revoke", "--app", "a", "--serial", "0a"], ["certs", "revoke", "--reason", "superseded"]]) {
      const err = usageError(argv);
      expect(err).toMatchObject({ exitCode: ExitCode.Usage, message: "give exactly one of --app ID and --serial HEX", usage: LEAF_USAGE["certs revoke"] });
    }
    expect(usageError(["certs", "revoke", "--serial", "xyz"]).message).toMatch(/^invalid --serial "xyz"/);
    expect(usageError(["certs", "revoke", "--serial", ""]).message).toBe("--serial must not be empty");
  });

  it("ca show is an online leaf beside the offline ca import", () => {
    expect(parseCli(["ca", "show", "--json"], ENV)).toEqual({ kind: "ca show", admin: { ...ADMIN, json: true } });
    // online: needs the admin password, unlike ca import
    expect(usageError(["ca", "show"], {})).toMatchObject({ exitCode: ExitCode.Usage, message: "GDS_ADMIN_PASSWORD is not set" });
    expect(usageError(["ca", "show", "--group", "x"]).exitCode).toBe(ExitCode.Usage);
  });

  it("audit: a command without subcommand; --since as a duration or a time; --limit", () => {
    expect(parseCli(["audit"], ENV)).toEqual({ kind: "audit", admin: ADMIN });
    expect(parseCli(["audit", "--since", "2h", "--limit", "50", "--json"], ENV)).toEqual({ kind: "audit", admin: { ...ADMIN, json: true }, since: "2h", limit: 50 });
    expect(parseCli(["audit", "--since", "2026-11-25T10:00:00Z"], ENV)).toMatchObject({ since: "2026-11-25T10:00:00Z" });
    for (const argv of [["audit", "--since", "yesterday"], ["audit", "--since", "2h ago"], ["audit", "--limit", "0"], ["audit", "--limit", "-3"], ["audit", "--limit", "100001"], ["audit", "list"]]) {
      const err = usageError(argv);
      expect(err.exitCode).toBe(ExitCode.Usage);
      expect(err.usage).toBe(LEAF_USAGE.audit);
    }
  });

  it("help for each new command and group", () => {
    expect(parseCli(["certs", "--help"], {})).toEqual({ kind: "help", text: CERTS_USAGE });
    expect(parseCli(["certs", "list", "-h"], {})).toEqual({ kind: "help", text: LEAF_USAGE["certs list"] });
    expect(parseCli(["certs", "revoke", "--help"], {})).toEqual({ kind: "help", text: LEAF_USAGE["certs revoke"] });
    expect(parseCli(["ca", "show", "--help"], {})).toEqual({ kind: "help", text: LEAF_USAGE["ca show"] });
    expect(parseCli(["ca", "--help"], {})).toEqual({ kind: "help", text: CA_USAGE });
    expect(parseCli(["audit", "--help"], {})).toEqual({ kind: "help", text: LEAF_USAGE.audit });
    for (const text of ["certs list", "certs revoke", "ca show", "audit [--since"]) expect(MAIN_USAGE).toContain(text);
    expect(CA_USAGE).toContain("show");
  });
});

describe("gds certs / ca show / audit: admin calls and output", () => {
  function recorder(outputs: Record<string, unknown[]>): { call: AdminCall; calls: [string, unknown[]][] } {
    const calls: [string, unknown[]][] = [];
    const call: AdminCall = async (name, inputs) => {
      calls.push([name, inputs]);
      return outputs[name] ?? [];
    };
    return { call, calls };
  }

  it("passes the flags to the admin methods as typed inputs", async () => {
    const { call, calls } = recorder({
      ListCertificates: ["[]"],
      RevokeCertificates: [JSON.stringify({ revoked: [], alreadyRevoked: [] })],
      GetCaInfo: ["[]"],
      ReadAuditLog: [JSON.stringify({ entries: [], total: 0, truncated: false, damagedLines: 0 })],
    });
    const run = (argv: string[]) => runAdminCommand(parseCli(argv, ENV) as AdminCommand, call);
    expect(await run(["certs", "list"])).toBe("no certificates\n");
    await run(["certs", "list", "--app", "A", "--expiring-within", "7d", "--revoked"]);
    expect(await run(["certs", "revoke", "--serial", "0a0b"])).toBe("nothing to revoke: no unexpired certificate\n");
    await run(["certs", "revoke", "--app", "A", "--reason", "superseded"]);
    await run(["ca", "show"]);
    expect(await run(["audit"])).toBe("no audit entries\n");
    await run(["audit", "--since", "1h", "--limit", "5"]);
    expect(calls).toEqual([
      ["ListCertificates", ["", "", false]],
      ["ListCertificates", ["A", "7d", true]],
      ["RevokeCertificates", ["", "0a0b", ""]],
      ["RevokeCertificates", ["A", "", "superseded"]],
      ["GetCaInfo", []],
      ["ReadAuditLog", ["", 0]],
      ["ReadAuditLog", ["1h", 5]],
    ]);
  });

  it("formats certificates, revocations, CAs and audit entries", () => {
    const cert = { applicationId: "ns=3;g=1", applicationUri: "urn:a", group: "DefaultApplicationGroup", type: "RsaSha256ApplicationCertificateType", serialHex: "7f01", notBefore: "2026-01-01T00:00:00.000Z", notAfter: "2027-01-01T00:00:00.000Z", state: "valid" };
    expect(formatCertificatesTable([cert])).toBe(
      "NOT AFTER                 STATE  SERIAL  GROUP                    TYPE                                 APPLICATION ID  APPLICATION URI\n" +
        "2027-01-01T00:00:00.000Z  valid  7f01    DefaultApplicationGroup  RsaSha256ApplicationCertificateType  ns=3;g=1        urn:a\n",
    );
    expect(formatRevoked({ revoked: [{ ...cert, state: "revoked", revocationReason: "keyCompromise" }], alreadyRevoked: [{ ...cert, serialHex: "7f02", revokedAt: "2026-06-01T00:00:00.000Z" }] })).toBe(
      "revoked certificate 7f01 (DefaultApplicationGroup, RsaSha256ApplicationCertificateType) of application ns=3;g=1, reason keyCompromise\n" +
        "certificate 7f02 of application ns=3;g=1 was already revoked at 2026-06-01T00:00:00.000Z\n",
    );
    const ca = formatCaInfo([{ group: "DefaultApplicationGroup", subject: "CN=GDS CA", serialHex: "01", keyType: "RSA 3072", crl: { crlNumber: 4, nextUpdate: "2026-12-01T00:00:00.000Z" } }]);
    expect(ca).toContain("DefaultApplicationGroup:\n  subject:       CN=GDS CA\n");
    expect(ca).toContain("  keyType:       RSA 3072\n");
    expect(ca).toContain("  crlNumber:     4\n");
    expect(ca).toContain("  crlThisUpdate: -\n");
    const audit = formatAuditLog({
      entries: [{ time: "2026-11-25T10:00:00.000Z", event: "CertificateRevoked", actor: "admin", outcome: "Good", applicationId: "ns=3;g=1", serialHex: "7f01", detail: "reason keyCompromise" }],
      total: 3,
      truncated: true,
      damagedLines: 0,
    });
    expect(audit).toBe("(showing the newest 1 of 3 entries; use --since or --limit for others)\n2026-11-25T10:00:00.000Z  CertificateRevoked  admin  Good  app=ns=3;g=1  serial=7f01  - reason keyCompromise\n");
  });
});

describe("certificate states and filters", () => {
  const DAY = 86_400_000;
  const now = Date.parse("2026-11-25T12:00:00Z");
  const rec = (serialHex: string, daysLeft: number, extra: Partial<CertificateRecord> = {}): CertificateRecord => ({
    serialHex,
    applicationId: "app-1",
    group: "DefaultApplicationGroup",
    type: "RsaSha256ApplicationCertificateType",
    subject: "CN=x",
    thumbprint: serialHex,
    notBefore: new Date(now - 10 * DAY).toISOString(),
    notAfter: new Date(now + daysLeft * DAY).toISOString(),
    issuedAt: new Date(now - 10 * DAY).toISOString(),
    requestId: "r",
    der: "",
    ...extra,
  });

  it("valid, expiring (less than renewBefore left), expired, revoked", () => {
    expect(certificateState(rec("a", 100), now, 30 * DAY)).toBe("valid");
    expect(certificateState(rec("a", 29), now, 30 * DAY)).toBe("expiring");
    expect(certificateState(rec("a", 0), now, 30 * DAY)).toBe("expired");
    expect(certificateState(rec("a", -1), now, 30 * DAY)).toBe("expired");
    expect(certificateState(rec("a", 100, { revokedAt: "2026-11-01T00:00:00Z" }), now, 30 * DAY)).toBe("revoked");
  });

  it("filters combine; sorted by notAfter", () => {
    const records = [rec("v", 100), rec("e", 5), rec("x", -2), rec("r", 3, { revokedAt: "2026-11-01T00:00:00Z" }), rec("o", 4, { applicationId: "app-2" })];
    const serials = (f: Parameters<typeof selectCertificates>[1]) => selectCertificates(records, f, now, 30 * DAY).map((l) => l.record.serialHex);
    expect(serials({})).toEqual(["x", "r", "o", "e", "v"]);
    expect(serials({ expiringWithinMs: 30 * DAY })).toEqual(["o", "e"]);
    expect(serials({ expiringWithinMs: 30 * DAY, applicationId: "app-1" })).toEqual(["e"]);
    expect(serials({ revokedOnly: true })).toEqual(["r"]);
    expect(serials({ revokedOnly: true, expiringWithinMs: 30 * DAY })).toEqual([]);
  });

  it("--since: durations back from now, ISO times, refusals", () => {
    const at = new Date("2026-11-25T12:00:00Z");
    expect(parseSince("", at)).toEqual({ ok: true, since: undefined });
    expect(parseSince("2h", at)).toEqual({ ok: true, since: new Date("2026-11-25T10:00:00Z") });
    expect(parseSince("2026-11-25T10:00:00Z", at)).toEqual({ ok: true, since: new Date("2026-11-25T10:00:00Z") });
    expect(parseSince("2026-11-25", at)).toMatchObject({ ok: true });
    for (const bad of ["2", "tomorrow", "2026-13-45T99:00:00Z", "2026-11-25T10:00:00Z; rm"]) expect(parseSince(bad, at)).toEqual({ ok: false });
  });
});
