/**
 * The push scheduler of a real GDS against the real demo device (scripts/demo-device: node-opcua
 * 2.157 with push certificate management and a working TrustList Write/CloseAndUpdate, a child
 * process), through the admin methods. Short lifetimes (GDS_CERT_LIFETIME=120s,
 * GDS_RENEW_BEFORE=90s, GDS_PUSH_INTERVAL=5s): the GDS renews the device every ~30 s on its own.
 * What the device holds is read from the device itself (GetEndpoints; its TrustList read as
 * SecurityAdmin with readTrustListViaSession), not from the GDS's status.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as x509 from "@peculiar/x509";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { DataType, NodeId, Variant } from "node-opcua";
import { readAuditLogFile } from "../../src/audit/file-audit-log.js";
import { certificateInfo, verifyIssuedBy } from "../../src/ca/certificate-info.js";
import { formatPushStatus } from "../../src/cli/format.js";
import { readTrustListViaSession } from "../../src/opcua/trust-list-client.js";
import { expectStatus, issueNewKeyPair, revokeCertificate } from "./helpers/certificate-client.js";
import { announcedCertificate, startDemoDevice, type DemoDevice } from "./helpers/demo-device.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { callAdmin, connect, sharedClientPkiDir, startTestGds, type TestGds, type TestSession } from "./helpers/gds-harness.js";

const str = (value: string) => new Variant({ dataType: DataType.String, value });
const bool = (value: boolean) => new Variant({ dataType: DataType.Boolean, value });

/** An admin method by name; anything but Good fails the test with the status and its text. */
async function adminOk(s: TestSession, name: string, inputs: Variant[]): Promise<Variant[]> {
  const r = await callAdmin(s, name, inputs);
  if (r.statusCode.isNotGood()) throw new Error(`admin method ${name}: ${r.statusCode.name} ${r.text ?? ""}`);
  return r.outputs;
}

const DEVICE_TRUST_LIST = new NodeId(NodeId.NodeIdType.NUMERIC, 12642, 0);
const PKI_NAME = "push-scheduler-it";
const sha1 = (der: Buffer) => crypto.createHash("sha1").update(der).digest("hex");

/** A CRL's CRLNumber extension (2.5.29.20, a DER INTEGER) and its revoked serials (hex, no leading zeros). */
function crlFacts(der: Buffer): { crlNumber: number; revoked: string[] } {
  const crl = new x509.X509Crl(new Uint8Array(der));
  const ext = crl.extensions.find((e) => e.type === "2.5.29.20");
  if (!ext) throw new Error("the CRL has no CRLNumber");
  const v = Buffer.from(ext.value);
  if (v[0] !== 0x02) throw new Error("CRLNumber is not an INTEGER");
  const crlNumber = parseInt(v.subarray(2, 2 + v[1]!).toString("hex"), 16);
  return { crlNumber, revoked: crl.entries.map((e) => e.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "")) };
}

interface PushStatusJson {
  applicationId: string;
  endpointUrl: string;
  identity: { kind: string; userName?: string };
  status: {
    running: boolean;
    lastAttempt?: string;
    lastReason?: string;
    lastSuccess?: string;
    lastResult?: "ok" | "failed" | "waitingForApproval";
    lastError?: { step: string; statusCode: string; message: string; at: string };
    certificate?: { serialHex: string; notAfter: string; confirmedAt: string };
    trustList?: { group: string; lastUpdateTime: string; pushedAt: string };
    pendingRequestId?: string;
    pendingRequestSince?: string;
    consecutiveFailures: number;
    nextAttemptAt?: string;
    pushRequestedAt?: string;
    pushRequestedBy?: string;
    steps?: { step: string; ms: number; statusCode?: string }[];
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 500): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe("push scheduler against the demo device", () => {
  let t: TestGds;
  let device: DemoDevice;
  let admin: TestSession;
  let appId: NodeId;

  const setTarget = (password: string) =>
    adminOk(admin, "SetPushTarget", [str(appId.toString()), str(device.endpointUrl), str(""), str(""), str(device.user), str(password), bool(false), bool(true)]);
  const pushNow = async (): Promise<PushStatusJson> => JSON.parse((await adminOk(admin, "PushNow", [str(appId.toString()), bool(false)]))[0].value as string);
  const status = async (): Promise<PushStatusJson> => {
    const list = JSON.parse((await adminOk(admin, "GetPushStatus", [str(appId.toString())]))[0].value as string) as PushStatusJson[];
    expect(list).toHaveLength(1);
    return list[0];
  };

  /** The test client's PKI trusts the GDS CA (the device sends only its GDS-issued leaf). */
  const trustGdsCaInTestClient = () => {
    const pki = sharedClientPkiDir(PKI_NAME);
    const snapshot = t.gds.certificates.trustList("DefaultApplicationGroup");
    const ca = snapshot.trustedCertificates[0]!;
    for (const sub of ["trusted/certs", "issuers/certs", "issuers/crl"]) fs.mkdirSync(path.join(pki, sub), { recursive: true });
    fs.writeFileSync(path.join(pki, "trusted/certs", `gds-ca-${sha1(ca)}.der`), ca);
    fs.writeFileSync(path.join(pki, "issuers/certs", `gds-ca-${sha1(ca)}.der`), ca);
    fs.writeFileSync(path.join(pki, "issuers/crl", `gds-ca-${sha1(ca)}.crl`), snapshot.trustedCrls[0]!);
  };

  /** The device's own DefaultApplicationGroup TrustList, read from the device as SecurityAdmin. */
  const deviceTrustList = async () => {
    trustGdsCaInTestClient();
    const d = await connect(device.endpointUrl, { user: { userName: device.user, password: device.password }, pkiName: PKI_NAME });
    try {
      return (await readTrustListViaSession(d.session, DEVICE_TRUST_LIST)).content;
    } finally {
      await d.close();
    }
  };

  beforeAll(async () => {
    [t, device] = await Promise.all([
      startTestGds({ certLifetimeMs: 120_000, renewBeforeMs: 90_000, pushIntervalMs: 5_000, pushTimeoutMs: 10_000 }),
      startDemoDevice(),
    ]);
    admin = await connect(t.endpointUrl);
    appId = await registerOk(admin, sampleServer({ applicationUri: device.applicationUri, discoveryUrls: [device.endpointUrl] }));
  }, 120_000);

  afterAll(async () => {
    await admin?.close();
    await t?.stop();
    await device?.stop();
  });

  let firstSerial = "";

  it("a new push target gets its first push with no admin request: GDS-signed certificate, GDS CA + CRL in the device's trust list", async () => {
    const before = await announcedCertificate(device.endpointUrl);
    const target = JSON.parse((await setTarget(device.password))[0].value as string);
    expect(target).toMatchObject({ applicationId: String(appId.value).toLowerCase(), endpointUrl: device.endpointUrl, securityPolicy: "Basic256Sha256", securityMode: "SignAndEncrypt", identity: { kind: "userName", userName: device.user } });
    expect(JSON.stringify(target)).not.toContain(device.password);

    const s = await until("the first push", async () => {
      const v = await status();
      return !v.status.running && v.status.certificate ? v : undefined;
    }, 90_000);
    const snapshot = t.gds.certificates.trustList("DefaultApplicationGroup");
    expect(s.status).toMatchObject({ lastReason: "firstPush", lastResult: "ok", consecutiveFailures: 0, trustList: { group: "DefaultApplicationGroup", lastUpdateTime: snapshot.lastUpdateTime.toISOString() } });
    expect(s.status.lastError).toBeUndefined();
    expect(s.status.nextAttemptAt).toBeUndefined();
    expect(s.status.lastSuccess).toBeDefined();
    const steps = s.status.steps!.map((x) => x.step);
    for (const step of ["connect", "readConfiguration", "pushTrustList", "verifyTrustList", "createSigningRequest", "sign", "updateCertificate", "applyChanges", "verifyCertificate"]) expect(steps).toContain(step);
    expect(s.status.steps!.filter((x) => x.statusCode)).toEqual([]);

    const served = await announcedCertificate(device.endpointUrl);
    expect(served.equals(before)).toBe(false);
    const info = certificateInfo(served);
    expect(info.serialHex).toBe(s.status.certificate!.serialHex);
    expect(info.uris).toContain(device.applicationUri);
    const gdsCa = t.gds.certificates.trustList("DefaultApplicationGroup").trustedCertificates[0]!;
    expect(await verifyIssuedBy(served, gdsCa)).toBe(true);
    firstSerial = info.serialHex;

    // read from the device itself: the GDS CA and the group's current CRL
    const list = await deviceTrustList();
    expect(list.trustedCertificates.map(sha1)).toContain(sha1(gdsCa));
    const current = t.gds.certificates.trustList("DefaultApplicationGroup").trustedCrls[0]!;
    expect(list.trustedCrls.map(sha1)).toContain(sha1(current));
  }, 150_000);

  it("renews the certificate on its own before it expires: a new serial, audited as push-scheduler", async () => {
    expect(firstSerial).not.toBe("");
    const s = await until("a renewal", async () => {
      const v = await status();
      return v.status.certificate && v.status.certificate.serialHex !== firstSerial ? v : undefined;
    }, 120_000);
    const renewed = s.status.certificate!.serialHex;
    expect(Date.parse(s.status.certificate!.notAfter) - Date.parse(s.status.certificate!.confirmedAt)).toBeGreaterThan(90_000 - 60_000);
    const served = certificateInfo(await announcedCertificate(device.endpointUrl)).serialHex;
    // the device serves the renewed one (or an even newer one, confirmed meanwhile)
    const latest = (await status()).status.certificate!.serialHex;
    expect([renewed, latest]).toContain(served);
    const entries = (await readAuditLogFile(path.join(t.config.dataDir, "audit.log"))).entries;
    const pushes = entries.filter((e) => e.event === "PushCompleted" && e.serialHex === renewed);
    expect(pushes).toEqual([expect.objectContaining({ actor: "push-scheduler", outcome: "Good", applicationId: String(appId.value).toLowerCase() })]);
    expect(entries.filter((e) => e.event === "PushCompleted" && e.actor !== "push-scheduler")).toEqual([]);
  }, 150_000);

  it("a revocation elsewhere reaches the device within seconds: its trust list holds the new CRL (higher CRL number, the revoked serial listed)", async () => {
    const other = await registerOk(admin, sampleServer());
    const issued = await issueNewKeyPair(admin, other, { privateKeyFormat: "PEM" });
    const revokedSerial = certificateInfo(issued.certificate).serialHex.toLowerCase().replace(/^(00)+(?=..)/, "");
    const before = t.gds.certificates.trustList("DefaultApplicationGroup");
    const oldCrl = crlFacts(before.trustedCrls[0]!);
    expect(oldCrl.revoked).not.toContain(revokedSerial);
    const revokedAt = Date.now();
    expectStatus(await revokeCertificate(admin, other, issued.certificate), "Good");
    const after = t.gds.certificates.trustList("DefaultApplicationGroup");
    expect(after.lastUpdateTime.getTime()).toBeGreaterThan(before.lastUpdateTime.getTime());
    const newCrl = after.trustedCrls[0]!;
    expect(sha1(newCrl)).not.toBe(sha1(before.trustedCrls[0]!));

    // read from the device (it drops channels after ApplyChanges: a failed read is tried again)
    const list = await until("the new CRL in the device's trust list", async () => {
      const l = await deviceTrustList();
      return l.trustedCrls.some((c) => c.equals(newCrl)) ? l : undefined;
    }, 30_000, 300);
    expect(Date.now() - revokedAt).toBeLessThan(20_000);
    const gdsCa = new x509.X509Certificate(new Uint8Array(after.trustedCertificates[0]!));
    const held = list.trustedCrls.filter((c) => new x509.X509Crl(new Uint8Array(c)).issuer === gdsCa.subject).map(crlFacts);
    expect(held).toHaveLength(1); // the old CRL was replaced, not kept beside it
    expect(held[0].crlNumber).toBeGreaterThan(oldCrl.crlNumber);
    expect(held[0].revoked).toContain(revokedSerial);
    expect(list.trustedCertificates.map(sha1)).toContain(sha1(after.trustedCertificates[0]!));

    const s = await until("the push recorded", async () => {
      const v = await status();
      return !v.status.running && v.status.trustList?.lastUpdateTime === after.lastUpdateTime.toISOString() ? v : undefined;
    }, 30_000);
    expect(s.status.lastResult).toBe("ok");
    // pushed within a few seconds of the revocation, not at the next interval or retry
    expect(Date.parse(s.status.trustList!.pushedAt) - revokedAt).toBeLessThan(15_000);
  }, 90_000);

  it("wrong credentials: BadUserAccessDenied at connect, recorded; the password is in no file of the data dir", async () => {
    const wrong = "not-the-device-password-42";
    await setTarget(wrong);
    const requestedAt = Date.parse((await pushNow()).status.pushRequestedAt!);
    const s = await until("the failed push", async () => {
      const v = await status();
      return !v.status.running && v.status.lastAttempt && Date.parse(v.status.lastAttempt) >= requestedAt ? v : undefined;
    }, 60_000);
    expect(s.status).toMatchObject({ lastResult: "failed", lastError: { step: "connect", statusCode: "BadUserAccessDenied" }, pushRequestedBy: "admin" });
    expect(s.status.consecutiveFailures).toBeGreaterThanOrEqual(1);
    const files = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    for (const f of files(t.config.dataDir)) {
      const text = fs.readFileSync(f, "latin1");
      expect(text.includes(wrong) ? f : "").toBe("");
      expect(text.includes(device.password) ? f : "").toBe("");
    }
    await setTarget(device.password); // same user: back to working credentials
  }, 90_000);

  it("a device that is down: errors recorded and retried with backoff; the pending push completes when it is back", async () => {
    // let the push of the restored credentials finish, so the next request is the one we follow
    await until("an idle device", async () => !(await status()).status.running, 60_000);
    await device.kill();
    const downAt = Date.now();
    const requested = await pushNow();
    const requestedAt = Date.parse(requested.status.pushRequestedAt!);
    const connectFailure = (v: PushStatusJson) => !v.status.running && v.status.lastError?.step === "connect" && Date.parse(v.status.lastAttempt!) >= requestedAt;
    const first = await until("a failed attempt", async () => {
      const v = await status();
      return connectFailure(v) ? v : undefined;
    }, 60_000);
    const failing = await until("a retry that failed too", async () => {
      const v = await status();
      return connectFailure(v) && v.status.consecutiveFailures > first.status.consecutiveFailures ? v : undefined;
    }, 60_000);
    expect(Date.parse(failing.status.lastAttempt!)).toBeGreaterThanOrEqual(Date.parse(first.status.nextAttemptAt!));
    expect(failing.status.lastError!.statusCode).toMatch(/^Bad(CommunicationError|ConnectionRejected|Timeout|NotConnected|SecureChannelClosed)$/);
    expect(failing.status.pushRequestedAt).toBeDefined(); // not served yet: the certificate part never ran
    expect(Date.parse(failing.status.nextAttemptAt!)).toBeGreaterThan(Date.parse(failing.status.lastAttempt!));
    const serialBefore = failing.status.certificate?.serialHex;

    await device.restart();
    const back = await until("the push after the device came back", async () => {
      const v = await status();
      return !v.status.running && v.status.pushRequestedAt === undefined && v.status.certificate?.serialHex !== serialBefore ? v : undefined;
    }, 90_000);
    expect(Date.parse(back.status.certificate!.confirmedAt)).toBeGreaterThan(downAt);
    expect(back.status.lastResult).toBe("ok");
    expect(back.status.lastError).toBeUndefined();
    expect(back.status.trustList?.lastUpdateTime).toBe(t.gds.certificates.trustList("DefaultApplicationGroup").lastUpdateTime.toISOString());
    expect(certificateInfo(await announcedCertificate(device.endpointUrl)).serialHex).toBe((await status()).status.certificate!.serialHex);
  }, 200_000);

  it("roles: only SecurityAdmin sets, removes and pushes; any admin role reads the status; unknown ids are BadNotFound", async () => {
    await t.gds.users.add("disco", ["DiscoveryAdmin"], "disco-password-1");
    const disco = await connect(t.endpointUrl, { user: { userName: "disco", password: "disco-password-1" } });
    try {
      const call = (name: string, inputs: Variant[]) => callAdmin(disco, name, inputs);
      const id = str(appId.toString());
      const refused = [
        await call("SetPushTarget", [id, str(device.endpointUrl), str(""), str(""), str("u"), str("p"), bool(false), bool(true)]),
        await call("RemovePushTarget", [id]),
        await call("PushNow", [id, bool(false)]),
      ];
      for (const r of refused) expect(r.statusCode.name).toBe("BadUserAccessDenied");
      const read = await call("GetPushStatus", [str("")]);
      expect(read.statusCode.name).toBe("Good");
      expect(JSON.parse(read.outputs[0].value as string).map((x: PushStatusJson) => x.applicationId)).toEqual([String(appId.value).toLowerCase()]);
    } finally {
      await disco.close();
    }
    const unknown = await callAdmin(admin, "PushNow", [str(crypto.randomUUID()), bool(false)]);
    expect(unknown.statusCode.name).toBe("BadNotFound");
    const badUrl = await callAdmin(admin, "SetPushTarget", [str(appId.toString()), str("opc.tcp://nohost"), str(""), str(""), str("u"), str("p"), bool(false), bool(true)]);
    expect(badUrl.statusCode.name).toBe("BadInvalidArgument");
    expect(badUrl.text).toContain("EndpointUrl");
  }, 60_000);
});

describe("push state survives a GDS restart", () => {
  it("a push asked for while the device was down is completed by the restarted GDS, from the store", async () => {
    const settings = { pushIntervalMs: 5_000, pushTimeoutMs: 5_000 };
    let t = await startTestGds(settings);
    const device = await startDemoDevice();
    try {
      const admin = await connect(t.endpointUrl);
      let appId: string;
      try {
        appId = String((await registerOk(admin, sampleServer({ applicationUri: device.applicationUri, discoveryUrls: [device.endpointUrl] }))).value).toLowerCase();
      } finally {
        await admin.close();
      }
      await device.kill();
      const push = t.gds.push;
      await push.targets.setTarget({ applicationId: appId, endpointUrl: device.endpointUrl, userName: device.user, password: device.password }, "admin");
      const view = await push.scheduler.pushNow(appId, "admin", 30_000);
      expect(view.status).toMatchObject({ lastResult: "failed", lastError: { step: "connect" }, pushRequestedBy: "admin" });
      expect(view.status.pushRequestTriedAt).toBe(view.status.pushRequestedAt); // tried, failed, still pending
      expect(view.status.certificate).toBeUndefined();
      await t.stop();

      await device.restart();
      t = await startTestGds({ ...settings, dataDir: t.config.dataDir });
      const restarted = t.gds.push;
      const done = await until("the pending push after the restart", async () => {
        const [v] = await restarted.scheduler.status(appId);
        return !v.status.running && v.status.certificate && v.status.pushRequestedAt === undefined ? v : undefined;
      }, 90_000);
      expect(done.status.lastReason).toBe("retry");
      expect(certificateInfo(await announcedCertificate(device.endpointUrl)).serialHex).toBe(done.status.certificate!.serialHex);
      const entries = (await readAuditLogFile(path.join(t.config.dataDir, "audit.log"))).entries.filter((e) => e.event === "PushCompleted");
      // before the restart: failures only (the first push on SetPushTarget may race the admin's)
      const before = entries.slice(0, -1);
      expect(before.length).toBeGreaterThanOrEqual(1);
      for (const e of before) expect([e.outcome.startsWith("Bad"), e.serialHex]).toEqual([true, undefined]);
      // after it: the admin's request, served
      expect(entries.at(-1)).toMatchObject({ actor: "admin", outcome: "Good", serialHex: done.status.certificate!.serialHex });
      expect(done.status.lastResult).toBe("ok");
    } finally {
      await t.stop();
      await device.stop();
    }
  }, 240_000);
});

describe("manual approval (GDS_AUTO_APPROVE=false)", () => {
  it("the device waits for approval with ONE request over several cycles; once approved it gets that request's certificate within seconds (the decision wakes the scheduler), no new request", async () => {
    // GDS_PUSH_INTERVAL 10 min: the approval poll is then min(10 min, 1 min) = 1 min, so a
    // certificate served within seconds of ApproveRequest can only come from the decision hook.
    const t = await startTestGds({ autoApprove: false, pushIntervalMs: 600_000, pushTimeoutMs: 10_000 });
    const device = await startDemoDevice();
    const admin = await connect(t.endpointUrl);
    try {
      const appId = await registerOk(admin, sampleServer({ applicationUri: device.applicationUri, discoveryUrls: [device.endpointUrl] }));
      const guid = String(appId.value).toLowerCase();
      const status = async (): Promise<PushStatusJson & { status: { pendingRequestId?: string; pendingRequestSince?: string } }> =>
        JSON.parse((await adminOk(admin, "GetPushStatus", [str(appId.toString())]))[0].value as string)[0];
      /** ListRequests (what `gds requests list` shows) for this application. */
      const requestsOfDevice = async (state = ""): Promise<{ requestId: string; applicationId: string; state: string; requestedBy?: string }[]> =>
        (JSON.parse((await adminOk(admin, "ListRequests", [str(state)]))[0].value as string) as { requestId: string; applicationId: string; state: string }[]).filter((r) => r.applicationId.toLowerCase().includes(guid));
      const before = await announcedCertificate(device.endpointUrl);

      await adminOk(admin, "SetPushTarget", [str(appId.toString()), str(device.endpointUrl), str(""), str(""), str(device.user), str(device.password), bool(false), bool(true)]);
      let seen: unknown;
      const waiting = await until("waiting for approval", async () => {
        const v = await status();
        seen = v.status;
        return !v.status.running && v.status.lastResult === ("waitingForApproval" as string) ? v : undefined;
      }, 90_000).catch((err: Error) => {
        throw new Error(`${err.message}; last status ${JSON.stringify(seen)}`);
      });
      const requestId = waiting.status.pendingRequestId!;
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/i);
      expect(waiting.status.consecutiveFailures).toBe(0);
      expect(waiting.status.lastError).toBeUndefined();
      expect(waiting.status.nextAttemptAt).toBeUndefined();
      const shown = formatPushStatus(waiting as unknown as Record<string, unknown>);
      expect(shown).toContain(`waiting for approval (request ${requestId})`);
      expect(shown).toContain(`gds requests approve ${requestId}`);

      // a while and an admin's push now later: still that one request
      await new Promise((r) => setTimeout(r, 3_000));
      const asked = JSON.parse((await adminOk(admin, "PushNow", [str(appId.toString()), bool(true)]))[0].value as string) as PushStatusJson & { status: { pendingRequestId?: string } };
      expect(asked.status).toMatchObject({ lastResult: "waitingForApproval", lastReason: "admin", pendingRequestId: requestId, consecutiveFailures: 0 });
      expect(asked.status.steps!.map((s) => s.step)).not.toContain("createSigningRequest"); // FinishRequest only
      expect(asked.status.steps!.map((s) => [s.step, s.statusCode]).at(-1)).toEqual(["sign", "BadNothingToDo"]);
      await new Promise((r) => setTimeout(r, 6_000));
      const pending = await requestsOfDevice("pending");
      expect(pending).toHaveLength(1);
      expect(pending[0].requestId.toLowerCase()).toContain(requestId.toLowerCase());
      expect(await requestsOfDevice()).toHaveLength(1);
      expect((await announcedCertificate(device.endpointUrl)).equals(before)).toBe(true);
      expect((await status()).status).toMatchObject({ lastResult: "waitingForApproval", pendingRequestId: requestId, pendingRequestSince: waiting.status.pendingRequestSince });

      // approved (ApproveRequest, as `gds requests approve` does): the decision wakes the scheduler,
      // which delivers that request's certificate at once (well before the 1 min approval poll)
      const approvedAt = Date.now();
      await adminOk(admin, "ApproveRequest", [str(requestId)]);
      const done = await until("the certificate after the approval", async () => {
        const v = await status();
        return !v.status.running && v.status.certificate ? v : undefined;
      }, 45_000);
      expect(Date.parse(done.status.certificate!.confirmedAt) - approvedAt).toBeLessThan(15_000);
      expect(done.status.pendingRequestId).toBeUndefined();
      expect(done.status.lastResult).toBe("ok");
      expect(done.status.pushRequestedAt).toBeUndefined(); // the admin's push now is served too
      const all = await requestsOfDevice();
      expect(all.map((r) => r.state)).toEqual(["delivered"]);
      expect(all[0].requestId.toLowerCase()).toContain(requestId.toLowerCase());
      const served = await announcedCertificate(device.endpointUrl);
      expect(certificateInfo(served).serialHex).toBe(done.status.certificate!.serialHex);
      expect(await verifyIssuedBy(served, t.gds.certificates.trustList("DefaultApplicationGroup").trustedCertificates[0]!)).toBe(true);
      const entries = (await readAuditLogFile(path.join(t.config.dataDir, "audit.log"))).entries.filter((e) => e.event === "PushCompleted");
      expect(entries.filter((e) => e.outcome === "BadNothingToDo").length).toBeGreaterThanOrEqual(2);
      for (const e of entries.filter((x) => x.outcome === "BadNothingToDo")) expect(e.requestId).toBe(requestId);
    } finally {
      await admin.close();
      await t.stop();
      await device.stop();
    }
  }, 240_000);

  it("a rejected request: the next cycle reports sign BadRequestNotAllowed and counts it as a failure; the retry makes a new request, which once approved is delivered", async () => {
    const t = await startTestGds({ autoApprove: false, pushIntervalMs: 5_000, pushTimeoutMs: 10_000 });
    const device = await startDemoDevice();
    const admin = await connect(t.endpointUrl);
    try {
      const appId = await registerOk(admin, sampleServer({ applicationUri: device.applicationUri, discoveryUrls: [device.endpointUrl] }));
      const guid = String(appId.value).toLowerCase();
      const status = async (): Promise<PushStatusJson> => JSON.parse((await adminOk(admin, "GetPushStatus", [str(appId.toString())]))[0].value as string)[0];
      const requestsOfDevice = async (): Promise<{ requestId: string; applicationId: string; state: string }[]> =>
        (JSON.parse((await adminOk(admin, "ListRequests", [str("")]))[0].value as string) as { requestId: string; applicationId: string; state: string }[]).filter((r) => r.applicationId.toLowerCase().includes(guid));
      await adminOk(admin, "SetPushTarget", [str(appId.toString()), str(device.endpointUrl), str(""), str(""), str(device.user), str(device.password), bool(false), bool(true)]);
      const first = await until("waiting for approval", async () => {
        const v = await status();
        return !v.status.running && v.status.pendingRequestId ? v : undefined;
      }, 90_000);
      const rejected = first.status.pendingRequestId!;

      await adminOk(admin, "RejectRequest", [str(rejected), str("not this device")]);
      const failed = await until("the rejection reported", async () => {
        const v = await status();
        return !v.status.running && v.status.lastError?.step === "sign" ? v : undefined;
      }, 30_000);
      expect(failed.status).toMatchObject({ lastResult: "failed", consecutiveFailures: 1, lastError: { statusCode: "BadRequestNotAllowed" } });
      expect(failed.status.lastError!.message).toContain("not this device");
      expect(failed.status.pendingRequestId).toBeUndefined();
      expect(failed.status.nextAttemptAt).toBeDefined();

      const second = await until("a new request after the backoff", async () => {
        const v = await status();
        return !v.status.running && v.status.pendingRequestId && v.status.pendingRequestId !== rejected ? v : undefined;
      }, 30_000);
      expect(second.status).toMatchObject({ lastResult: "waitingForApproval", consecutiveFailures: 0 });
      expect((await requestsOfDevice()).map((r) => r.state).sort()).toEqual(["pending", "rejected"]);

      await adminOk(admin, "ApproveRequest", [str(second.status.pendingRequestId!)]);
      const done = await until("the certificate", async () => {
        const v = await status();
        return !v.status.running && v.status.certificate ? v : undefined;
      }, 60_000);
      expect(done.status.lastResult).toBe("ok");
      expect(certificateInfo(await announcedCertificate(device.endpointUrl)).serialHex).toBe(done.status.certificate!.serialHex);
      expect((await requestsOfDevice()).map((r) => r.state).sort()).toEqual(["delivered", "rejected"]);

      // RemovePushTarget while a request waits (a renewal push now makes a new one): that request is
      // rejected ("push target removed", by the admin who removed it), not left pending forever.
      await adminOk(admin, "PushNow", [str(appId.toString()), bool(true)]);
      const third = await until("a third request waiting", async () => {
        const v = await status();
        return !v.status.running && v.status.pendingRequestId ? v : undefined;
      }, 60_000);
      const abandoned = third.status.pendingRequestId!;
      expect(abandoned).not.toBe(second.status.pendingRequestId);
      await adminOk(admin, "RemovePushTarget", [str(appId.toString())]);
      const list = (JSON.parse((await adminOk(admin, "ListRequests", [str("")]))[0].value as string) as { requestId: string; applicationId: string; state: string; decidedBy?: string; reason?: string }[]).filter((r) => r.applicationId.toLowerCase().includes(guid));
      expect(list.map((r) => r.state).sort()).toEqual(["delivered", "rejected", "rejected"]);
      expect(list.find((r) => r.requestId.toLowerCase().includes(abandoned.toLowerCase()))).toMatchObject({ state: "rejected", decidedBy: "admin", reason: "push target removed" });
    } finally {
      await admin.close();
      await t.stop();
      await device.stop();
    }
  }, 240_000);
});
