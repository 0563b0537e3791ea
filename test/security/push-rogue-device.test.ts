/**
 * A rogue server on a push target's address must get nothing from the GDS: no ActivateSession with
 * the device's password, no certificate for the victim's ApplicationUri. A real GDS (its push
 * scheduler, through the admin methods), the real demo device as the victim, then demo devices as
 * rogues on the victim's port, each with a certificate that is not the victim's:
 * - a certificate the GDS issued to ANOTHER registered application (its key too): BadCertificateUriInvalid;
 * - a self-signed certificate with another ApplicationUri: BadCertificateUriInvalid;
 * - after the GDS confirmed the victim on a GDS certificate, a self-signed certificate WITH the
 *   victim's ApplicationUri: BadCertificateUntrusted;
 * - an older certificate the GDS issued to the victim itself (a stolen or restored key), older
 *   than the one confirmed on the device: BadCertificateUntrusted.
 * Every device logs the user-name logins it sees (demo device --log-logins): the rogues' logs stay
 * empty. Then the real device comes back and is renewed as before.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import fs from "node:fs";
import path from "node:path";
import { DataType, Variant, type NodeId } from "node-opcua";
import { readAuditLogFile } from "../../src/audit/file-audit-log.js";
import type { AuditEntry } from "../../src/audit/audit-log.types.js";
import { certificateInfo } from "../../src/ca/certificate-info.js";
import { certificatePem, issueNewKeyPair, type IssuedCertificate } from "../integration/helpers/certificate-client.js";
import { announcedCertificate, startDemoDevice, type DemoDevice } from "../integration/helpers/demo-device.js";
import { registerOk, sampleServer } from "../integration/helpers/directory-client.js";
import { callAdmin, connect, startTestGds, tempDir, type TestGds, type TestSession } from "../integration/helpers/gds-harness.js";

const str = (value: string) => new Variant({ dataType: DataType.String, value });
const bool = (value: boolean) => new Variant({ dataType: DataType.Boolean, value });

const VICTIM_URI = "urn:opcua-gds:test:victim-device";
const OTHER_URI = "urn:opcua-gds:test:other-application";

interface PushStatusJson {
  status: {
    running: boolean;
    lastAttempt?: string;
    lastResult?: "ok" | "failed" | "waitingForApproval";
    lastError?: { step: string; statusCode: string; message: string };
    certificate?: { serialHex: string; confirmedAt: string };
    steps?: { step: string; statusCode?: string }[];
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 300): Promise<T> {
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

/** The user-name logins a demo device logged (--log-logins): one JSON object per line. */
function loginsIn(file: string): { userName: string; accepted: boolean }[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { userName: string; accepted: boolean });
}

describe("push: a rogue server on the device's address is refused before any credential or signing request", () => {
  let t: TestGds;
  let device: DemoDevice;
  let rogue: DemoDevice | undefined;
  let admin: TestSession;
  let victimId: NodeId;
  let victimKey: string;
  let otherCertificate: IssuedCertificate;
  let olderVictimCertificate: IssuedCertificate;
  const work = tempDir("push-rogue-");
  const victimLogins = path.join(work, "victim-logins.jsonl");

  const adminOk = async (name: string, inputs: Variant[]): Promise<Variant[]> => {
    const r = await callAdmin(admin, name, inputs);
    if (r.statusCode.isNotGood()) throw new Error(`admin method ${name}: ${r.statusCode.name} ${r.text ?? ""}`);
    return r.outputs;
  };
  const status = async (): Promise<PushStatusJson> => {
    const list = JSON.parse((await adminOk("GetPushStatus", [str(victimId.toString())]))[0]!.value as string) as PushStatusJson[];
    return list[0]!;
  };
  /** PushNow, then the status of a cycle that started after the request and has ended. */
  const pushNow = async (): Promise<PushStatusJson> => {
    const mark = Date.now();
    await adminOk("PushNow", [str(victimId.toString()), bool(true)]);
    return until(
      "a push cycle started after PushNow to end",
      async () => {
        const s = await status();
        return !s.status.running && s.status.lastAttempt && Date.parse(s.status.lastAttempt) >= mark ? s : undefined;
      },
      120_000,
    );
  };
  const victimCertificates = () => t.gds.certificates.listCertificates().filter((c) => c.applicationId === victimKey);
  const audit = async (): Promise<AuditEntry[]> => (await readAuditLogFile(path.join(t.config.dataDir, "audit.log"))).entries;

  /** A demo device on the victim's port serving `cert` (with its key) or its own self-signed certificate. */
  const startRogue = async (name: string, opts: { applicationUri: string; cert?: IssuedCertificate }): Promise<{ rogue: DemoDevice; logins: string }> => {
    const pkiDir = path.join(work, name);
    if (opts.cert) {
      fs.mkdirSync(path.join(pkiDir, "pki", "own", "certs"), { recursive: true });
      fs.mkdirSync(path.join(pkiDir, "pki", "own", "private"), { recursive: true });
      fs.writeFileSync(path.join(pkiDir, "pki", "own", "certs", "certificate.pem"), certificatePem(opts.cert.certificate));
      fs.writeFileSync(path.join(pkiDir, "pki", "own", "private", "private_key.pem"), opts.cert.privateKeyPem!);
    }
    const logins = path.join(work, `${name}-logins.jsonl`);
    // Same port, same user and password as the victim: a rogue that got them would be let in.
    const r = await startDemoDevice({ port: device.port, pkiDir, applicationUri: opts.applicationUri, user: device.user, password: device.password, logLoginsFile: logins });
    return { rogue: r, logins };
  };

  /** A rogue: PushNow fails at connect with `statusCode`, no login, nothing signed, the refusal audited. */
  const expectRefused = async (name: string, opts: { applicationUri: string; cert?: IssuedCertificate }, statusCode: string): Promise<void> => {
    const started = await startRogue(name, opts);
    rogue = started.rogue;
    const served = await announcedCertificate(rogue.endpointUrl);
    if (opts.cert) expect(served.equals(opts.cert.certificate)).toBe(true);
    const issuedBefore = victimCertificates().length;
    const auditBefore = (await audit()).length;
    try {
      const s = await pushNow();
      expect(s.status.lastResult).toBe("failed");
      expect(s.status.lastError).toMatchObject({ step: "connect", statusCode });
      expect(s.status.lastError!.message).toContain("no credentials were sent");
      expect(s.status.steps).toEqual([expect.objectContaining({ step: "connect", statusCode })]);
    } finally {
      await rogue.stop();
      rogue = undefined;
    }
    // The rogue saw no user-name login at all (so never the password), and nothing was signed for the victim.
    expect(loginsIn(started.logins)).toEqual([]);
    expect(victimCertificates()).toHaveLength(issuedBefore);
    const entries = (await audit()).slice(auditBefore);
    expect(entries.filter((e) => e.event === "CertificateRequested" || e.event === "CertificateDelivered")).toEqual([]);
    const thumbprint = certificateInfo(served).thumbprint;
    const rejected = entries.filter((e) => e.event === "PushDeviceRejected");
    expect(rejected.length).toBeGreaterThanOrEqual(1);
    expect(rejected[0]).toMatchObject({ outcome: statusCode, applicationId: victimKey, applicationUri: VICTIM_URI });
    expect(rejected[0]!.detail).toContain(thumbprint);
    expect(rejected[0]!.detail).toContain("no credentials were sent");
    expect(entries.filter((e) => e.event === "PushCompleted")[0]).toMatchObject({ outcome: statusCode, applicationId: victimKey });
  };

  beforeAll(async () => {
    [t, device] = await Promise.all([startTestGds(), startDemoDevice({ applicationUri: VICTIM_URI, logLoginsFile: victimLogins })]);
    admin = await connect(t.endpointUrl);
    victimId = await registerOk(admin, sampleServer({ applicationUri: VICTIM_URI, discoveryUrls: [device.endpointUrl] }));
    victimKey = String(victimId.value).toLowerCase();
    const otherId = await registerOk(admin, sampleServer({ applicationUri: OTHER_URI }));
    otherCertificate = await issueNewKeyPair(admin, otherId, { privateKeyFormat: "PEM" });
    // The victim's own GDS certificate from before the push (it will be older than the confirmed one).
    olderVictimCertificate = await issueNewKeyPair(admin, victimId, { privateKeyFormat: "PEM" });
  }, 120_000);

  afterAll(async () => {
    await rogue?.stop();
    await admin?.close();
    await t?.stop();
    await device?.stop();
  });

  it("the real device: the first push logs in (the device logs it) and confirms a GDS certificate", async () => {
    await adminOk("SetPushTarget", [str(victimId.toString()), str(device.endpointUrl), str(""), str(""), str(device.user), str(device.password), bool(false), bool(true)]);
    const s = await until("the first push", async () => {
      const v = await status();
      return !v.status.running && v.status.certificate ? v : undefined;
    }, 120_000);
    expect(s.status.lastResult).toBe("ok");
    expect(loginsIn(victimLogins)).toContainEqual(expect.objectContaining({ userName: device.user, accepted: true }));
    expect(certificateInfo(await announcedCertificate(device.endpointUrl)).serialHex).toBe(s.status.certificate!.serialHex);
    await device.stop();
  }, 150_000);

  it("a server presenting a certificate the GDS issued to another application: BadCertificateUriInvalid", async () => {
    await expectRefused("rogue-other-app", { applicationUri: VICTIM_URI, cert: otherCertificate }, "BadCertificateUriInvalid");
  }, 120_000);

  it("a server presenting a self-signed certificate of another ApplicationUri: BadCertificateUriInvalid", async () => {
    await expectRefused("rogue-self-signed-other-uri", { applicationUri: OTHER_URI }, "BadCertificateUriInvalid");
  }, 120_000);

  it("after confirmation, a self-signed certificate with the victim's ApplicationUri: BadCertificateUntrusted", async () => {
    await expectRefused("rogue-self-signed-victim-uri", { applicationUri: VICTIM_URI }, "BadCertificateUntrusted");
  }, 120_000);

  it("after confirmation, an older certificate the GDS issued to the victim itself: BadCertificateUntrusted", async () => {
    await expectRefused("rogue-older-victim-cert", { applicationUri: VICTIM_URI, cert: olderVictimCertificate }, "BadCertificateUntrusted");
  }, 120_000);

  it("the real device back on its address: renewed as before", async () => {
    const before = victimCertificates().length;
    const loginsBefore = loginsIn(victimLogins).length;
    await device.restart();
    const s = await pushNow();
    expect(s.status.lastError).toBeUndefined();
    expect(s.status.lastResult).toBe("ok");
    expect(victimCertificates()).toHaveLength(before + 1);
    expect(loginsIn(victimLogins).length).toBeGreaterThan(loginsBefore);
    expect(certificateInfo(await announcedCertificate(device.endpointUrl)).serialHex).toBe(s.status.certificate!.serialHex);
  }, 150_000);
});
