/**
 * `gds certs list|revoke`, `gds ca show` and `gds audit` (issue 5) through the real CLI against a
 * real server holding known data. The GDS clock is moved so that the data holds one certificate of
 * each state: D expired, C expiring (less than GDS_RENEW_BEFORE = 30d left), A and B1/B2 valid;
 * the test then revokes B2 by serial and the rest of B by application.
 */
import "reflect-metadata";
import crypto from "node:crypto";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as x509 from "@peculiar/x509";
import { DataType, NodeId, Variant, type StatusCode } from "node-opcua";
import { ADMIN_NAMESPACE_URI, ADMIN_OBJECT_ID } from "../../src/admin/admin-model.js";
import { checkRevocationStatus, fetchTrustList, issueNewKeyPair, serialOf, type IssuedCertificate } from "./helpers/certificate-client.js";
import { registerOk, sampleServer, type AppFields } from "./helpers/directory-client.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";
import { callMethod, connect, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";

const DAY = 86_400_000;
const CERT_FIELDS = ["applicationId", "applicationUri", "group", "type", "serialHex", "notBefore", "notAfter", "state"];
/** An ApplicationId as every admin output shows it: the lower-case GUID. */
const guid = (id: NodeId): string => String(id.value).toLowerCase();

interface CertJson {
  applicationId: string;
  applicationUri?: string;
  group: string;
  type: string;
  serialHex: string;
  notBefore: string;
  notAfter: string;
  state: string;
  revokedAt?: string;
  revocationReason?: string;
}
interface CaJson {
  group: string;
  subject: string;
  serialHex: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  thumbprint: string;
  crl: { crlNumber: number; thisUpdate: string; nextUpdate: string };
}
interface AuditJson {
  entries: { time: string; event: string; actor: string; outcome: string; applicationId?: string; serialHex?: string; detail?: string }[];
  total: number;
  truncated: boolean;
  damagedLines: number;
}

function crlSerials(crlDer: Buffer): string[] {
  return new x509.X509Crl(new Uint8Array(crlDer)).entries.map((e) => e.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ""));
}

describe("gds certs, ca show and audit against a server with known data", () => {
  let offsetMs = 0;
  const clock = { now: () => new Date(Date.now() + offsetMs) };
  let t: TestGds;
  let admin: TestSession;
  let endpoint: string;
  let cliPki: string;
  const gds = gdsCli(() => cliPki);
  const at = () => ["--endpoint", endpoint];

  const apps: Record<"A" | "B" | "C" | "D", { fields: AppFields; id: NodeId }> = {} as never;
  const certs: Record<"A" | "B1" | "B2" | "C" | "D", IssuedCertificate> = {} as never;
  const serial = (k: keyof typeof certs) => serialOf(certs[k].certificate);

  async function json<T>(args: string[]): Promise<T> {
    const r = await gds([...args, "--json", ...at()]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    return JSON.parse(r.stdout) as T;
  }

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = tempDir("gds-cli-ops-pki-");
    // GDS_CERT_LIFETIME 365d and GDS_RENEW_BEFORE 30d (the defaults), said here so the states below follow
    t = await startTestGds({ certLifetimeMs: 365 * DAY, renewBeforeMs: 30 * DAY }, { clock });
    endpoint = t.endpointUrl;
    admin = await connect(endpoint);
    for (const k of ["A", "B", "C", "D"] as const) {
      const fields = sampleServer({ applicationNames: [{ text: `Ops ${k}`, locale: "en" }] });
      apps[k] = { fields, id: await registerOk(admin, fields) };
    }
    certs.D = await issueNewKeyPair(admin, apps.D.id); // expires at +365d
    offsetMs = 300 * DAY;
    certs.C = await issueNewKeyPair(admin, apps.C.id); // expires at +665d
    offsetMs = 640 * DAY; // D expired 275 days ago, C has 25 days left
    certs.A = await issueNewKeyPair(admin, apps.A.id);
    certs.B1 = await issueNewKeyPair(admin, apps.B.id);
    certs.B2 = await issueNewKeyPair(admin, apps.B.id);
    // the first CLI call pins the server certificate (a line on stderr); later calls are quiet
    expect((await gds(["users", "list", ...at()])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await admin?.close();
    await t?.stop();
    for (const dir of [cliPki, t?.config.dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("certs list --json: every certificate with its application, dates and state, by notAfter", async () => {
    const list = await json<CertJson[]>(["certs", "list"]);
    expect(list.slice(0, 2).map((c) => c.serialHex)).toEqual([serial("D"), serial("C")]);
    expect(list.map((c) => c.serialHex).sort()).toEqual(["A", "B1", "B2", "C", "D"].map((k) => serial(k as keyof typeof certs)).sort());
    const notAfters = list.map((c) => Date.parse(c.notAfter));
    expect([...notAfters].sort((a, b) => a - b)).toEqual(notAfters);
    const byKey = (k: keyof typeof certs) => list.find((c) => c.serialHex === serial(k))!;
    for (const [k, app, state] of [["A", "A", "valid"], ["B1", "B", "valid"], ["B2", "B", "valid"], ["C", "C", "expiring"], ["D", "D", "expired"]] as const) {
      const c = byKey(k);
      const x = new crypto.X509Certificate(certs[k].certificate);
      expect(Object.keys(c).sort()).toEqual([...CERT_FIELDS].sort());
      expect(c).toEqual({
        applicationId: guid(apps[app].id),
        applicationUri: apps[app].fields.applicationUri,
        group: "DefaultApplicationGroup",
        type: "RsaSha256ApplicationCertificateType",
        serialHex: serialOf(certs[k].certificate),
        notBefore: new Date(x.validFrom).toISOString(),
        notAfter: new Date(x.validTo).toISOString(),
        state,
      });
    }
  });

  it("certs list filters: --expiring-within, --app, combined; unknown application exits 5", async () => {
    expect((await json<CertJson[]>(["certs", "list", "--expiring-within", "30d"])).map((c) => c.serialHex)).toEqual([serial("C")]);
    expect((await json<CertJson[]>(["certs", "list", "--expiring-within", "20d"])).map((c) => c.serialHex)).toEqual([]);
    expect((await json<CertJson[]>(["certs", "list", "--expiring-within", "366d"])).map((c) => c.serialHex).sort()).toEqual(
      [serial("C"), serial("A"), serial("B1"), serial("B2")].sort(),
    );
    expect((await json<CertJson[]>(["certs", "list", "--app", apps.B.id.toString()])).map((c) => c.serialHex).sort()).toEqual([serial("B1"), serial("B2")].sort());
    // the bare GUID works as well
    expect((await json<CertJson[]>(["certs", "list", "--app", String(apps.D.id.value)])).map((c) => c.state)).toEqual(["expired"]);
    expect(await json<CertJson[]>(["certs", "list", "--app", apps.A.id.toString(), "--expiring-within", "30d"])).toEqual([]);
    expect(await json<CertJson[]>(["certs", "list", "--revoked"])).toEqual([]);

    const unknown = await gds(["certs", "list", "--app", crypto.randomUUID(), ...at()]);
    expect(unknown.code).toBe(5);
    expect(unknown.stderr).toMatch(/^gds: not found: .*no application .* is registered or holds a certificate/);
  });

  it("certs list as a table sorted by notAfter", async () => {
    const r = await gds(["certs", "list", ...at()]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NOT AFTER\s+STATE\s+SERIAL\s+GROUP\s+TYPE\s+APPLICATION ID\s+APPLICATION URI$/);
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(new RegExp(`^\\S+\\s+expired\\s+${serial("D")}\\s+DefaultApplicationGroup\\s+RsaSha256ApplicationCertificateType\\s+${escape(guid(apps.D.id))}\\s+${escape(apps.D.fields.applicationUri)}$`));
    expect(lines[2]).toMatch(new RegExp(`\\s+expiring\\s+${serial("C")}\\s`));
    for (const k of ["A", "B1", "B2"] as const) expect(lines.slice(3).some((l) => new RegExp(`\\s+valid\\s+${serial(k)}\\s`).test(l))).toBe(true);
  });

  it("ca show: each group's CA and CRL, matching the issuer the certificates carry", async () => {
    const groups = await json<CaJson[]>(["ca", "show"]);
    expect(groups.map((g) => g.group)).toEqual(["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"]);
    const caDer = certs.A.issuers[0];
    const ca = new crypto.X509Certificate(caDer);
    const app = groups[0];
    expect(app).toMatchObject({
      serialHex: serialOf(caDer),
      notBefore: new Date(ca.validFrom).toISOString(),
      notAfter: new Date(ca.validTo).toISOString(),
      keyType: "RSA 2048",
      thumbprint: crypto.createHash("sha1").update(caDer).digest("hex"),
    });
    expect(ca.subject.split("\n").map((p) => app.subject.includes(p))).not.toContain(false);
    expect(app.crl.crlNumber).toBeGreaterThanOrEqual(1);
    expect(Date.parse(app.crl.nextUpdate)).toBeGreaterThan(Date.parse(app.crl.thisUpdate));

    const text = await gds(["ca", "show", ...at()]);
    expect(text).toMatchObject({ code: 0, stderr: "" });
    expect(text.stdout).toContain(`DefaultApplicationGroup:\n  subject:       ${app.subject}\n  serial:        ${app.serialHex}\n`);
    expect(text.stdout).toContain(`  keyType:       RSA 2048\n  thumbprint:    ${app.thumbprint}\n  crlNumber:     ${app.crl.crlNumber}\n`);
    expect(text.stdout).toContain("DefaultUserTokenGroup:\n");
  });

  it("certs revoke --serial: the CRL lists it, the trust list changes, certs list and the audit log show it", async () => {
    const before = (await json<CaJson[]>(["ca", "show"]))[0].crl.crlNumber;
    const r = await gds(["certs", "revoke", "--serial", serial("B2"), "--reason", "keyCompromise", ...at()]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(`revoked certificate ${serial("B2")} (DefaultApplicationGroup, RsaSha256ApplicationCertificateType) of application ${guid(apps.B.id)}, reason keyCompromise\n`);

    // GetTrustList: the group's CRL now lists B2, and CheckRevocationStatus says revoked
    const { list } = await fetchTrustList(admin, apps.B.id);
    expect([...list.content.trustedCrls, ...list.content.issuerCrls].flatMap(crlSerials)).toContain(serial("B2"));
    expect([...list.content.trustedCrls, ...list.content.issuerCrls].flatMap(crlSerials)).not.toContain(serial("B1"));
    const status = await checkRevocationStatus(admin, certs.B2.certificate);
    expect((status.outputs[0].value as StatusCode).name).toBe("BadCertificateRevoked");
    expect((await json<CaJson[]>(["ca", "show"]))[0].crl.crlNumber).toBeGreaterThan(before);

    const revoked = await json<CertJson[]>(["certs", "list", "--revoked"]);
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({ serialHex: serial("B2"), state: "revoked", revocationReason: "keyCompromise", applicationId: guid(apps.B.id) });
    expect(Math.abs(Date.parse(revoked[0].revokedAt!) - clock.now().getTime())).toBeLessThan(60_000);

    const audit = await json<AuditJson>(["audit", "--since", "1h"]);
    const entry = audit.entries.find((e) => e.event === "CertificateRevoked" && e.serialHex === serial("B2"));
    expect(entry).toMatchObject({ actor: "admin", outcome: "Good", applicationId: guid(apps.B.id), detail: "reason keyCompromise" });
    expect(audit.entries.at(-1)).toEqual(entry); // newest last
    expect(audit.truncated).toBe(false);

    // again: said, not an error
    const again = await gds(["certs", "revoke", "--serial", serial("B2"), ...at()]);
    expect(again).toMatchObject({ code: 0, stderr: "" });
    expect(again.stdout).toMatch(new RegExp(`^certificate ${serial("B2")} of application .+ was already revoked at \\S+ \\(keyCompromise\\)\\n$`));
  });

  it("certs revoke --app revokes the rest of the application; bad input exits 2 or 5", async () => {
    const out = await json<{ revoked: CertJson[]; alreadyRevoked: CertJson[] }>(["certs", "revoke", "--app", apps.B.id.toString(), "--reason", "superseded"]);
    expect(out.revoked.map((c) => [c.serialHex, c.state, c.revocationReason])).toEqual([[serial("B1"), "revoked", "superseded"]]);
    expect(out.alreadyRevoked.map((c) => c.serialHex)).toEqual([serial("B2")]);
    const { list } = await fetchTrustList(admin, apps.B.id);
    expect([...list.content.trustedCrls, ...list.content.issuerCrls].flatMap(crlSerials)).toEqual(expect.arrayContaining([serial("B1"), serial("B2")]));

    const unknownSerial = await gds(["certs", "revoke", "--serial", "0123456789abcdef", ...at()]);
    expect(unknownSerial.code).toBe(5);
    expect(unknownSerial.stderr).toMatch(/^gds: not found: .*no certificate with serial 0123456789abcdef/);
    const both = await gds(["certs", "revoke", "--serial", serial("A"), "--app", apps.A.id.toString(), ...at()]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^gds: give exactly one of --app ID and --serial HEX\n/);
    const badReason = await gds(["certs", "revoke", "--serial", serial("A"), "--reason", "bored", ...at()]);
    expect(badReason.code).toBe(1);
    expect(badReason.stderr).toMatch(/^gds: BadInvalidArgument: Reason: "bored" is not one of/);
    // nothing happened to A
    expect((await json<CertJson[]>(["certs", "list", "--app", apps.A.id.toString()]))[0].state).toBe("valid");
  });

  it("the admin methods themselves refuse bad inputs with BadInvalidArgument or BadNotFound and a message", async () => {
    const adminNs = ((await admin.session.readNamespaceArray()) as string[]).indexOf(ADMIN_NAMESPACE_URI);
    const call = (id: number, inputs: Variant[]) =>
      callMethod(admin, new NodeId(NodeId.NodeIdType.NUMERIC, ADMIN_OBJECT_ID, adminNs), new NodeId(NodeId.NodeIdType.NUMERIC, id, adminNs), inputs);
    const str = (value: string) => new Variant({ dataType: DataType.String, value });
    const bool = (value: boolean) => new Variant({ dataType: DataType.Boolean, value });
    const u32 = (value: number) => new Variant({ dataType: DataType.UInt32, value });
    const cases: [number, Variant[], string, RegExp][] = [
      [1200, [str(""), str("soon"), bool(false)], "BadInvalidArgument", /ExpiringWithin: "soon" is not a duration/],
      [1200, [str(`ns=9;g=${crypto.randomUUID()}`), str(""), bool(false)], "BadNotFound", /is not an ApplicationId of this GDS/],
      [1210, [str(""), str(""), str("")], "BadInvalidArgument", /exactly one of ApplicationId and SerialHex/],
      [1210, [str(apps.A.id.toString()), str(serial("A")), str("")], "BadInvalidArgument", /exactly one of ApplicationId and SerialHex/],
      [1210, [str(""), str("zz-top"), str("")], "BadInvalidArgument", /SerialHex: "zz-top" is not a hexadecimal serial number/],
      [1210, [str(""), str(serial("A")), str("removeFromCRL")], "BadInvalidArgument", /Reason: "removeFromCRL" is not one of/],
      [1210, [str(crypto.randomUUID()), str(""), str("")], "BadNotFound", /no application .* is registered or holds a certificate/],
      [1230, [str("last tuesday"), u32(0)], "BadInvalidArgument", /Since: "last tuesday" is neither/],
      [1230, [str(""), u32(100_001)], "BadInvalidArgument", /Limit: at most 100000/],
    ];
    for (const [id, inputs, status, text] of cases) {
      const r = await call(id, inputs);
      expect({ id, status: r.statusCode.name }).toEqual({ id, status });
      expect(r.text).toMatch(text);
    }
    // none of that revoked anything
    expect((await json<CertJson[]>(["certs", "list", "--app", apps.A.id.toString()]))[0].state).toBe("valid");
  });

  it("audit: --since a time, --limit with the truncation said, text lines; SecurityAdmin only", async () => {
    const all = await json<AuditJson>(["audit"]);
    expect(all.entries.length).toBeGreaterThanOrEqual(10);
    expect(all.entries.filter((e) => e.event === "CertificateDelivered")).toHaveLength(5);
    const times = all.entries.map((e) => Date.parse(e.time));
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    const future = new Date(clock.now().getTime() + DAY).toISOString();
    expect((await json<AuditJson>(["audit", "--since", future])).entries).toEqual([]);
    // entries from before the clock jump (the registrations at +0) are not in the last 1h
    const recent = await json<AuditJson>(["audit", "--since", "1h"]);
    expect(recent.entries.some((e) => e.event === "ApplicationRegistered")).toBe(false);
    expect(recent.entries.length).toBeLessThan(all.entries.length);

    const last = await json<AuditJson>(["audit", "--limit", "2"]);
    expect(last).toMatchObject({ total: all.total, truncated: true, damagedLines: 0 });
    expect(last.entries).toEqual(all.entries.slice(-2));

    const text = await gds(["audit", "--limit", "2", ...at()]);
    expect(text).toMatchObject({ code: 0, stderr: "" });
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`(showing the newest 2 of ${all.total} entries; use --since or --limit for others)`);
    const newest = all.entries.at(-1)!;
    expect(lines[2]).toBe(`${newest.time}  CertificateRevoked  admin  Good  app=${guid(apps.B.id)}  group=DefaultApplicationGroup  type=RsaSha256ApplicationCertificateType  serial=${serial("B1")}  - reason superseded`);

    // a CertificateAuthorityAdmin may list and revoke certificates, not read the audit trail
    const add = await gds(["users", "add", "ca-op", "--role", "CertificateAuthorityAdmin", "--password-env", "OPS_PW", ...at()], { OPS_PW: "ca-op-password-1" });
    expect(add.code).toBe(0);
    const asCaOp = { GDS_ADMIN_USER: "ca-op", GDS_ADMIN_PASSWORD: "ca-op-password-1" };
    expect((await gds(["certs", "list", ...at()], asCaOp)).code).toBe(0);
    const denied = await gds(["audit", ...at()], asCaOp);
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(/^gds: access denied/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
