/**
 * The demo device's TrustList (ServerConfiguration DefaultApplicationGroup, ns0 i=12642) as a
 * real 1.05 push target: Open(0x06)/Write/CloseAndUpdate replaces the lists named by
 * SpecifiedLists, answers ApplyChangesRequired=true, and new channels are judged by the new lists
 * (a GDS CRL revoking a client refuses that client). Written with the GDS's own trust-list client
 * (src/opcua/trust-list-client.ts, node-opcua 2.186) against the 2.157 device in its own process.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { AttributeIds, DataType, MessageSecurityMode, NodeId, Variant } from "node-opcua";
import {
  addTrustListCertificateViaSession,
  browseTrustListMethods,
  readTrustListViaSession,
  removeTrustListCertificateViaSession,
  TrustListCallError,
  writeTrustListViaSession,
} from "../../src/opcua/trust-list-client.js";
import { encodeTrustList } from "../../src/opcua/trust-list-codec.js";
import type { TrustListContent } from "../../src/requests/certificate-manager.types.js";
import { connect, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { registerOk } from "./helpers/directory-client.js";
import { connectWithCertificate, expectStatus, fetchTrustList, issueNewKeyPair, revokeCertificate, serialOf, type CertificateIdentity } from "./helpers/certificate-client.js";
import { opensslSelfSigned } from "./helpers/gds-cli.js";
import { startDemoDevice, type DemoDevice } from "./helpers/demo-device.js";

const ns0 = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, 0);
const SERVER_CONFIGURATION = ns0(12637);
const APPLY_CHANGES = ns0(12740);
const TRUST_LIST = ns0(12642);
const PKI_NAME = "demo-device-trustlist";

const sha1 = (der: Buffer) => crypto.createHash("sha1").update(der).digest("hex");
const sorted = (list: Buffer[]) => list.map(sha1).sort();
const union = (a: Buffer[], b: Buffer[]) => [...a, ...b.filter((x) => !a.some((y) => y.equals(x)))];

function crlSerials(crlDer: Buffer): string[] {
  return new x509.X509Crl(new Uint8Array(crlDer)).entries.map((e) => e.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ""));
}

/** The CRL in `crls` issued by `caDer`. */
function crlOf(crls: Buffer[], caDer: Buffer): Buffer {
  const ca = new x509.X509Certificate(new Uint8Array(caDer));
  const mine = crls.filter((c) => new x509.X509Crl(new Uint8Array(c)).issuer === ca.subject);
  expect(mine).toHaveLength(1);
  return mine[0]!;
}

function expectSameLists(actual: TrustListContent, expected: TrustListContent): void {
  expect(sorted(actual.trustedCertificates)).toEqual(sorted(expected.trustedCertificates));
  expect(sorted(actual.trustedCrls)).toEqual(sorted(expected.trustedCrls));
  expect(sorted(actual.issuerCertificates)).toEqual(sorted(expected.issuerCertificates));
  expect(sorted(actual.issuerCrls)).toEqual(sorted(expected.issuerCrls));
}

/** How a connect attempt ended: "connected" or the error message. */
async function tryConnect(fn: () => Promise<TestSession>): Promise<string> {
  try {
    const s = await fn();
    try {
      const dv = await s.session.read({ nodeId: "i=2258", attributeId: AttributeIds.Value });
      return dv.statusCode.isGood() ? "connected" : dv.statusCode.name;
    } finally {
      await s.close();
    }
  } catch (err) {
    return String((err as Error).message);
  }
}

describe("demo device TrustList: Open(0x06)/Write/CloseAndUpdate like a 1.05 device", () => {
  let device: DemoDevice;
  let t: TestGds;
  let gdsAdmin: TestSession;
  let appId: NodeId;
  let identity: CertificateIdentity;
  let issuedCertificate: Buffer;
  let caDer: Buffer;
  let crlBefore: Buffer;
  const applicationUri = "urn:opcua-gds:test:demo-device-trustlist-client";

  const adminSession = () => connect(device.endpointUrl, { user: { userName: device.user, password: device.password }, pkiName: PKI_NAME });
  async function withAdmin<T>(fn: (s: TestSession) => Promise<T>): Promise<T> {
    const s = await adminSession();
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }

  /** ApplyChanges, then wait until the device (which closes every channel 2 s later) takes sessions again. */
  async function applyChangesAndWait(): Promise<void> {
    await withAdmin(async (s) => {
      const r = await s.session.call({ objectId: SERVER_CONFIGURATION, methodId: APPLY_CHANGES, inputArguments: [] });
      expect(r.statusCode.name).toBe("Good");
    });
    await new Promise((res) => setTimeout(res, 3500));
    const deadline = Date.now() + 30_000;
    let last = "";
    while (Date.now() < deadline) {
      last = await tryConnect(adminSession);
      if (last === "connected") return;
      await new Promise((res) => setTimeout(res, 500));
    }
    throw new Error(`the device takes no session after ApplyChanges: ${last}`);
  }

  beforeAll(async () => {
    [t, device] = await Promise.all([startTestGds(), startDemoDevice()]);
    gdsAdmin = await connect(t.endpointUrl);
    appId = await registerOk(gdsAdmin, {
      applicationUri,
      applicationType: 1, // Client
      applicationNames: [{ text: "Trust-list test client", locale: "en" }],
      productUri: "urn:test:product",
      discoveryUrls: [],
      serverCapabilities: [],
    });
    const issued = await issueNewKeyPair(gdsAdmin, appId, { privateKeyFormat: "PEM" });
    issuedCertificate = issued.certificate;
    identity = { certificate: issued.certificate, privateKeyPem: issued.privateKeyPem!, applicationUri };
    caDer = issued.issuers[0]!;
    crlBefore = crlOf((await fetchTrustList(gdsAdmin, appId)).list.content.trustedCrls, caDer);
  }, 120_000);

  afterAll(async () => {
    await gdsAdmin?.close();
    await device?.stop();
    await t?.stop();
  });

  it("a written CA certificate + CRL is read back exactly (ApplyChangesRequired=true), and lands in the device's PKI folders", async () => {
    await withAdmin(async (s) => {
      const before = (await readTrustListViaSession(s.session, TRUST_LIST)).content;
      // The device trusts its own certificate and (accept mode) this test client.
      expect(before.trustedCertificates.length).toBeGreaterThanOrEqual(1);
      expect(before.trustedCrls).toEqual([]);
      const wanted: TrustListContent = { ...before, trustedCertificates: union(before.trustedCertificates, [caDer]), trustedCrls: [crlBefore] };
      const written = await writeTrustListViaSession(s.session, TRUST_LIST, wanted);
      expect(written).toEqual({ applyChangesRequired: true });
      const after = await readTrustListViaSession(s.session, TRUST_LIST);
      expect(after.specifiedLists).toBe(15);
      expectSameLists(after.content, wanted);
      // OpenWithMasks(TrustedCrls) gives that list only.
      const crlsOnly = await readTrustListViaSession(s.session, TRUST_LIST, 2);
      expect(crlsOnly.specifiedLists).toBe(2);
      expect(sorted(crlsOnly.content.trustedCrls)).toEqual([sha1(crlBefore)]);
      expect(crlsOnly.content.trustedCertificates).toEqual([]);
    });
    const crlDir = path.join(device.pkiDir, "pki", "trusted", "crl");
    expect(fs.readdirSync(crlDir).map((f) => sha1(fs.readFileSync(path.join(crlDir, f))))).toEqual([sha1(crlBefore)]);
    expect(device.output()).toMatch(/DefaultApplicationGroup\.TrustList CloseAndUpdate: SpecifiedLists 15 replaced/);
  }, 60_000);

  it("SpecifiedLists is respected: a write naming only TrustedCrls replaces that list and leaves the others", async () => {
    await withAdmin(async (s) => {
      const before = (await readTrustListViaSession(s.session, TRUST_LIST)).content;
      expect(before.trustedCrls.length).toBe(1);
      const r = await writeTrustListViaSession(s.session, TRUST_LIST, { trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 2);
      expect(r.applyChangesRequired).toBe(true);
      const after = (await readTrustListViaSession(s.session, TRUST_LIST)).content;
      expectSameLists(after, { ...before, trustedCrls: [] });
      // Put the CRL back for the next test.
      await writeTrustListViaSession(s.session, TRUST_LIST, { ...before }, 2);
      expect(sorted((await readTrustListViaSession(s.session, TRUST_LIST)).content.trustedCrls)).toEqual([sha1(crlBefore)]);
    });
  }, 60_000);

  it("a list without the caller's own certificate is still applied; the session goes on", async () => {
    await withAdmin(async (s) => {
      const own = Buffer.from(s.client.getCertificate());
      const before = (await readTrustListViaSession(s.session, TRUST_LIST)).content;
      // Accept mode put this test client's certificate into trusted/certs on its first channel.
      expect(before.trustedCertificates.some((c) => c.equals(own))).toBe(true);
      const without = { ...before, trustedCertificates: before.trustedCertificates.filter((c) => !c.equals(own)) };
      expect(await writeTrustListViaSession(s.session, TRUST_LIST, without)).toEqual({ applyChangesRequired: true });
      expectSameLists((await readTrustListViaSession(s.session, TRUST_LIST)).content, without);
    });
  }, 60_000);

  it("a CRL revoking a client certificate, written and applied: that client is refused on a new channel", async () => {
    // The GDS-issued client is accepted while the device holds the GDS CA and a CRL without it.
    await withAdmin(async (s) => {
      const current = (await readTrustListViaSession(s.session, TRUST_LIST)).content;
      expect(await writeTrustListViaSession(s.session, TRUST_LIST, { ...current, trustedCertificates: union(current.trustedCertificates, [caDer]), trustedCrls: [crlBefore] })).toEqual({ applyChangesRequired: true });
    });
    await applyChangesAndWait();
    expect(await tryConnect(() => connectWithCertificate(device.endpointUrl, identity))).toBe("connected");

    expectStatus(await revokeCertificate(gdsAdmin, appId, issuedCertificate), "Good");
    const crlAfter = crlOf((await fetchTrustList(gdsAdmin, appId)).list.content.trustedCrls, caDer);
    expect(crlSerials(crlAfter)).toContain(serialOf(issuedCertificate));

    await withAdmin(async (s) => {
      const current = (await readTrustListViaSession(s.session, TRUST_LIST)).content;
      const wanted = { ...current, trustedCrls: [crlAfter] };
      expect(await writeTrustListViaSession(s.session, TRUST_LIST, wanted)).toEqual({ applyChangesRequired: true });
      expectSameLists((await readTrustListViaSession(s.session, TRUST_LIST)).content, wanted);
    });
    await applyChangesAndWait();

    const refused = await tryConnect(() => connectWithCertificate(device.endpointUrl, identity));
    expect(refused).not.toBe("connected");
    // 2.157 answers a client certificate its PKI refuses by closing the socket; the device logs why.
    expect(refused).toMatch(/rejected by server|disconnected/);
    expect(device.output()).toContain(`certificate refused: CN=`);
    expect(device.output()).toMatch(new RegExp(`certificate refused: [^\n]* sha1 ${sha1(issuedCertificate)}: BadCertificateRevoked`));
    // Revoked is not "unknown": the device did not auto-accept it into trusted/certs either.
    const trusted = fs.readdirSync(path.join(device.pkiDir, "pki", "trusted", "certs")).map((f) => fs.readFileSync(path.join(device.pkiDir, "pki", "trusted", "certs", f)));
    expect(trusted.some((d) => d.equals(issuedCertificate))).toBe(false);
    // Everyone else still gets in.
    expect(await tryConnect(adminSession)).toBe("connected");

    // The written list is the device's state (its PKI folders): after a restart it still holds it.
    await device.restart();
    expect(device.output()).not.toContain("BadCertificateRevoked");
    expect(await tryConnect(() => connectWithCertificate(device.endpointUrl, identity))).not.toBe("connected");
    expect(device.output()).toMatch(new RegExp(`certificate refused: [^\n]* sha1 ${sha1(issuedCertificate)}: BadCertificateRevoked`));
    await withAdmin(async (s) => expect(sorted((await readTrustListViaSession(s.session, TRUST_LIST)).content.trustedCrls)).toEqual([sha1(crlAfter)]));
  }, 120_000);

  it("bytes that are not a TrustListDataType: BadDecodingError, nothing changes, the device still serves and takes the next write", async () => {
    await withAdmin(async (s) => {
      const before = (await readTrustListViaSession(s.session, TRUST_LIST)).content;
      const methods = await browseTrustListMethods(s.session, TRUST_LIST);
      const callRaw = async (name: string, args: Variant[]) => {
        const r = await s.session.call({ objectId: TRUST_LIST, methodId: methods.get(name)!, inputArguments: args });
        return { status: r.statusCode.name, out: r.outputArguments ?? [] };
      };
      const writeRaw = async (bytes: Buffer) => {
        const opened = await callRaw("Open", [new Variant({ dataType: DataType.Byte, value: 6 })]);
        expect(opened.status).toBe("Good");
        const handle = new Variant({ dataType: DataType.UInt32, value: opened.out[0]!.value as number });
        expect((await callRaw("Write", [handle, new Variant({ dataType: DataType.ByteString, value: bytes })])).status).toBe("Good");
        return (await callRaw("CloseAndUpdate", [handle])).status;
      };

      expect(await writeRaw(crypto.randomBytes(300))).toBe("BadDecodingError");
      const valid = encodeTrustList({ ...before, trustedCrls: [] }, 15);
      expect(await writeRaw(valid.subarray(0, valid.length - 7))).toBe("BadDecodingError");
      expect(await writeRaw(Buffer.concat([valid, Buffer.from([1, 2, 3])]))).toBe("BadDecodingError");
      // Decodes, but an entry is no certificate.
      expect(await writeRaw(encodeTrustList({ ...before, trustedCertificates: [...before.trustedCertificates, Buffer.from("not a certificate")] }, 15))).toBe("BadCertificateInvalid");
      expect(await writeRaw(encodeTrustList({ ...before, trustedCrls: [Buffer.from("not a CRL")] }, 15))).toBe("BadCertificateInvalid");

      expectSameLists((await readTrustListViaSession(s.session, TRUST_LIST)).content, before);
      // Each failed CloseAndUpdate closed its handle: a normal write goes through.
      expect(await writeTrustListViaSession(s.session, TRUST_LIST, before)).toEqual({ applyChangesRequired: true });
    });
    expect(device.output()).toMatch(/CloseAndUpdate refused \(BadDecodingError\)/);
    expect(await tryConnect(adminSession)).toBe("connected");
  }, 60_000);

  it("Open(0x06) and CloseAndUpdate need SecurityAdmin and SignAndEncrypt; one writer at a time", async () => {
    // The methods are hidden from others' Browse (admin-only role permissions): ids from an admin.
    const methods = await withAdmin((s) => browseTrustListMethods(s.session, TRUST_LIST));
    const openForWrite = async (s: TestSession) =>
      (await s.session.call({ objectId: TRUST_LIST, methodId: methods.get("Open")!, inputArguments: [new Variant({ dataType: DataType.Byte, value: 6 })] })).statusCode.name;
    const closeAndUpdate = async (s: TestSession) =>
      (await s.session.call({ objectId: TRUST_LIST, methodId: methods.get("CloseAndUpdate")!, inputArguments: [new Variant({ dataType: DataType.UInt32, value: 1 })] })).statusCode.name;
    const anon = await connect(device.endpointUrl, { user: null, pkiName: PKI_NAME });
    try {
      expect(await openForWrite(anon)).toMatch(/BadUserAccessDenied/);
      expect(await closeAndUpdate(anon)).toMatch(/BadUserAccessDenied/);
    } finally {
      await anon.close();
    }
    const signOnly = await connect(device.endpointUrl, { user: { userName: device.user, password: device.password }, securityMode: MessageSecurityMode.Sign, pkiName: PKI_NAME });
    try {
      expect(await openForWrite(signOnly)).toMatch(/BadSecurityModeInsufficient|BadUserAccessDenied/);
      expect(await closeAndUpdate(signOnly)).toMatch(/BadSecurityModeInsufficient|BadUserAccessDenied/);
    } finally {
      await signOnly.close();
    }
    await withAdmin(async (s) => {
      const methods = await browseTrustListMethods(s.session, TRUST_LIST);
      const open = (mode: number) => s.session.call({ objectId: TRUST_LIST, methodId: methods.get("Open")!, inputArguments: [new Variant({ dataType: DataType.Byte, value: mode })] });
      const first = await open(6);
      expect(first.statusCode.name).toBe("Good");
      expect((await open(6)).statusCode.name).toBe("BadInvalidState");
      expect((await open(3)).statusCode.name).toBe("BadInvalidArgument");
      const close = await s.session.call({ objectId: TRUST_LIST, methodId: methods.get("Close")!, inputArguments: [new Variant({ dataType: DataType.UInt32, value: first.outputArguments![0]!.value })] });
      expect(close.statusCode.name).toBe("Good");
      expect((await readTrustListViaSession(s.session, TRUST_LIST)).specifiedLists).toBe(15);
      // A writer whose session ends without Close does not lock the list.
      expect((await open(6)).statusCode.name).toBe("Good");
    });
    await withAdmin(async (s) => {
      const again = await s.session.call({ objectId: TRUST_LIST, methodId: methods.get("Open")!, inputArguments: [new Variant({ dataType: DataType.Byte, value: 6 })] });
      expect(again.statusCode.name).toBe("Good");
      await s.session.call({ objectId: TRUST_LIST, methodId: methods.get("Close")!, inputArguments: [new Variant({ dataType: DataType.UInt32, value: again.outputArguments![0]!.value })] });
    });
  }, 60_000);

  it("RemoveCertificate removes by thumbprint (2.157's answered Good and kept it); an unknown thumbprint is BadInvalidArgument", async () => {
    const dir = tempDir("demo-device-tl-remove-");
    const extra = Buffer.from(new x509.X509Certificate(fs.readFileSync(opensslSelfSigned(dir, "extra-peer", { ca: false }).cert, "utf8")).rawData);
    await withAdmin(async (s) => {
      await addTrustListCertificateViaSession(s.session, TRUST_LIST, extra, true);
      expect((await readTrustListViaSession(s.session, TRUST_LIST)).content.trustedCertificates.some((c) => c.equals(extra))).toBe(true);
      await removeTrustListCertificateViaSession(s.session, TRUST_LIST, sha1(extra), true);
      expect((await readTrustListViaSession(s.session, TRUST_LIST)).content.trustedCertificates.some((c) => c.equals(extra))).toBe(false);
      const err = await removeTrustListCertificateViaSession(s.session, TRUST_LIST, sha1(extra), true).catch((e: unknown) => e);
      expect((err as TrustListCallError).statusCode.name).toBe("BadInvalidArgument");
    });
  }, 60_000);
});
