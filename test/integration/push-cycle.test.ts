/**
 * One push cycle (src/push/push-cycle.ts) of a real GDS against the real demo device
 * (scripts/demo-device: node-opcua 2.157 with push certificate management, a child process).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import pino from "pino";
import {
  DataType,
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  WellKnownRoles,
  makeRoles,
  type ISessionContext,
  type StatusCode,
  type UAMethod,
  type Variant,
  type VariantLike,
} from "node-opcua";
import { decodeTrustList, encodeTrustList } from "../../src/opcua/trust-list-codec.js";
import { makeCsr } from "./helpers/csr.js";
import { verifyIssuedBy, certificateInfo } from "../../src/ca/certificate-info.js";
import { addTrustListCertificateViaSession, readTrustListViaSession } from "../../src/opcua/trust-list-client.js";
import { DevicePushCycle } from "../../src/push/push-cycle.js";
import type { PushCycleRequest, PushTarget } from "../../src/push/push-cycle.types.js";
import { connect, freePort, sharedClientPkiDir, startTestGds, tempDir, type TestGds } from "./helpers/gds-harness.js";
import { opensslSelfSigned } from "./helpers/gds-cli.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { announcedCertificate, startDemoDevice, type DemoDevice } from "./helpers/demo-device.js";

const DEVICE_TRUST_LIST = new NodeId(NodeId.NodeIdType.NUMERIC, 12642, 0);
const CALL_TIMEOUT_MS = 10_000;

function pemToDer(file: string): Buffer {
  const text = fs.readFileSync(file, "latin1");
  return Buffer.from(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(text)![1]!.replace(/\s+/g, ""), "base64");
}

const sha1 = (der: Buffer) => crypto.createHash("sha1").update(der).digest("hex");

describe("push cycle against the demo device", () => {
  let t: TestGds;
  let device: DemoDevice;
  let cycle: DevicePushCycle;
  let applicationId: string;
  let extraTrusted: Buffer;
  const work = tempDir("push-cycle-it-");

  const target = (overrides: Partial<PushTarget> = {}): PushTarget => ({
    applicationId,
    applicationUri: device.applicationUri,
    endpointUrl: device.endpointUrl,
    securityPolicy: "Basic256Sha256",
    securityMode: "SignAndEncrypt",
    identity: { kind: "userName", userName: device.user, password: device.password },
    regeneratePrivateKey: true,
    group: "DefaultApplicationGroup",
    ...overrides,
  });
  const request = (overrides: Partial<PushCycleRequest> = {}): PushCycleRequest => ({
    target: target(),
    pushTrustList: true,
    renewCertificate: true,
    reason: "admin",
    callTimeoutMs: CALL_TIMEOUT_MS,
    ...overrides,
  });

  /** Puts the GDS CA and CRL into the test client's PKI (read from disk by each new connect). */
  const trustGdsCaInTestClient = () => {
    const pki = sharedClientPkiDir("push-cycle-it");
    const snapshot = t.gds.certificates.trustList("DefaultApplicationGroup");
    for (const sub of ["trusted/certs", "issuers/certs", "issuers/crl"]) fs.mkdirSync(path.join(pki, sub), { recursive: true });
    const ca = snapshot.trustedCertificates[0]!;
    fs.writeFileSync(path.join(pki, "trusted/certs", `gds-ca-${sha1(ca)}.der`), ca);
    fs.writeFileSync(path.join(pki, "issuers/certs", `gds-ca-${sha1(ca)}.der`), ca);
    fs.writeFileSync(path.join(pki, "issuers/crl", `gds-ca-${sha1(ca)}.crl`), snapshot.trustedCrls[0]!);
  };

  beforeAll(async () => {
    [t, device] = await Promise.all([startTestGds(), startDemoDevice()]);
    const admin = await connect(t.endpointUrl);
    try {
      const id = await registerOk(admin, sampleServer({ applicationUri: device.applicationUri, discoveryUrls: [device.endpointUrl] }));
      applicationId = String(id.value).toLowerCase(); // as the store keys applications
    } finally {
      await admin.close();
    }
    const logger = pino({ level: "info" }, pino.destination({ dest: path.join(work, "push.log"), sync: true }));
    cycle = new DevicePushCycle({ certificates: t.gds.certificates, dataDir: t.config.dataDir, log: logger });

    // The device's own trusted entry (put there by its admin), which a push must keep.
    const other = opensslSelfSigned(work, "device-admin-peer", { ca: false, subject: "/CN=peer of the device" });
    extraTrusted = pemToDer(other.cert);
    const s = await connect(device.endpointUrl, { user: { userName: device.user, password: device.password }, pkiName: "push-cycle-it" });
    try {
      await addTrustListCertificateViaSession(s.session, DEVICE_TRUST_LIST, extraTrusted, true);
    } finally {
      await s.close();
    }
  }, 120_000);

  afterAll(async () => {
    await device?.stop();
    await t?.stop();
  });

  it("renews the device: it serves a GDS-signed certificate, trusts the GDS CA and keeps its own entries", async () => {
    const before = await announcedCertificate(device.endpointUrl);
    const result = await cycle.run(request());

    // The device applies the written trust list (CA certificates and CRLs) and answers
    // ApplyChangesRequired=true, like a 1.05 device: the read-back follows ApplyChanges and the reconnect.
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.steps.map((s) => s.step)).toEqual([
      "connect",
      "readConfiguration",
      "pushTrustList",
      "createSigningRequest",
      "sign",
      "updateCertificate",
      "applyChanges",
      "verifyCertificate",
      "verifyTrustList",
    ]);
    for (const s of result.steps) expect(s.ms).toBeGreaterThanOrEqual(0);
    expect(result.steps.every((s) => s.statusCode === undefined)).toBe(true);
    expect(result.certificate).toBeDefined();
    expect(result.signedButUnconfirmedSerialHex).toBeUndefined();
    expect(result.trustList).toEqual({ group: "DefaultApplicationGroup", lastUpdateTime: t.gds.certificates.trustList("DefaultApplicationGroup").lastUpdateTime.toISOString() });

    // What the device announces now: the certificate the GDS signed, issued by the GDS CA.
    const served = await announcedCertificate(device.endpointUrl);
    expect(served.equals(before)).toBe(false);
    const info = certificateInfo(served);
    expect(info.serialHex).toBe(result.certificate!.serialHex);
    expect(info.thumbprint).toBe(result.certificate!.thumbprint);
    expect(info.uris).toContain(device.applicationUri);
    const snapshot = t.gds.certificates.trustList("DefaultApplicationGroup");
    expect(await verifyIssuedBy(served, snapshot.trustedCertificates[0]!)).toBe(true);

    // The device's trust list, read back independently: GDS CA + the GDS's own certificate + its own
    // peer. The device now sends only its leaf: the test client must know the GDS CA.
    trustGdsCaInTestClient();
    const s = await connect(device.endpointUrl, { user: { userName: device.user, password: device.password }, pkiName: "push-cycle-it" });
    try {
      const list = (await readTrustListViaSession(s.session, DEVICE_TRUST_LIST)).content;
      const trusted = list.trustedCertificates.map(sha1);
      expect(trusted).toContain(sha1(snapshot.trustedCertificates[0]!));
      expect(trusted).toContain(sha1(extraTrusted));
      const gdsOwn = pemToDer(path.join(t.config.dataDir, "server-pki", "own", "certs", "certificate.pem"));
      expect(trusted).toContain(sha1(gdsOwn));
      expect(list.issuerCertificates.map(sha1)).toContain(sha1(snapshot.issuerCertificates[0]!));
      // The device confirms holding the GDS CRL(s), in the lists the GDS keeps them in.
      expect(list.trustedCrls.map(sha1).sort()).toEqual(snapshot.trustedCrls.map(sha1).sort());
      expect(list.issuerCrls.map(sha1)).toEqual(expect.arrayContaining(snapshot.issuerCrls.map(sha1)));
    } finally {
      await s.close();
    }

    // Recorded like a pull request, with the push actor.
    const requests = t.gds.certificates.listRequests({ applicationId });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ requestedBy: `push:${applicationId}`, state: "delivered", serialHex: result.certificate!.serialHex, kind: "signing" });
    expect(result.requestId).toBe(requests[0]!.requestId);
  }, 120_000);

  it("renews again over the GDS-issued certificate (no trust on first use any more): a new serial", async () => {
    const first = certificateInfo(await announcedCertificate(device.endpointUrl));
    const result = await cycle.run(request({ reason: "renewal" }));
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    // The device already holds the GDS trust list: nothing to write, the read-back confirms it at once.
    expect(result.steps.map((s) => s.step)).toEqual([
      "connect",
      "readConfiguration",
      "pushTrustList",
      "verifyTrustList",
      "createSigningRequest",
      "sign",
      "updateCertificate",
      "applyChanges",
      "verifyCertificate",
    ]);
    expect(result.trustList).toMatchObject({ group: "DefaultApplicationGroup" });
    expect(result.certificate).toBeDefined();
    expect(result.certificate!.serialHex).not.toBe(first.serialHex);
    const served = certificateInfo(await announcedCertificate(device.endpointUrl));
    expect(served.serialHex).toBe(result.certificate!.serialHex);
    // The pin of the self-signed certificate is gone: only GDS certificates are accepted now.
    const pin = cycle.trust.readPin(applicationId);
    expect(pin?.gdsCertificateConfirmedAt).toBeDefined();
    expect(pin?.pinnedThumbprint).toBeUndefined();
  }, 120_000);

  it("a wrong password fails at connect with the device's status code", async () => {
    const started = Date.now();
    const result = await cycle.run(request({ target: target({ identity: { kind: "userName", userName: device.user, password: "not-the-password" } }) }));
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ step: "connect", statusCode: "BadUserAccessDenied" });
    expect(result.steps).toEqual([{ step: "connect", ms: expect.any(Number), statusCode: "BadUserAccessDenied" }]);
    expect(result.certificate).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(CALL_TIMEOUT_MS);
    // The password is in no log line.
    expect(fs.readFileSync(path.join(work, "push.log"), "utf8")).not.toContain("not-the-password");
    expect(fs.readFileSync(path.join(work, "push.log"), "utf8")).not.toContain(device.password);
  }, 60_000);

  it("a device that is down fails at connect quickly with a connection status", async () => {
    const stopped = await startDemoDevice();
    const endpointUrl = stopped.endpointUrl;
    await stopped.stop();
    const started = Date.now();
    const result = await cycle.run(request({ callTimeoutMs: 3000, target: target({ endpointUrl }) }));
    const elapsed = Date.now() - started;
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ step: "connect", statusCode: "BadCommunicationError" });
    expect(result.error!.message).toMatch(/ECONNREFUSED|connect/i);
    expect(elapsed).toBeLessThan(3000 + 2000);
  }, 90_000);
});

describe("push cycle: manual approval and a silent device", () => {
  let t: TestGds;
  let device: DemoDevice;
  let cycle: DevicePushCycle;
  let applicationId: string;

  const request = (overrides: Partial<PushCycleRequest> = {}): PushCycleRequest => ({
    target: {
      applicationId,
      applicationUri: device.applicationUri,
      endpointUrl: device.endpointUrl,
      securityPolicy: "Basic256Sha256",
      securityMode: "SignAndEncrypt",
      identity: { kind: "userName", userName: device.user, password: device.password },
      regeneratePrivateKey: true,
      group: "DefaultApplicationGroup",
    },
    pushTrustList: true,
    renewCertificate: true,
    reason: "admin",
    callTimeoutMs: CALL_TIMEOUT_MS,
    ...overrides,
  });

  beforeAll(async () => {
    [t, device] = await Promise.all([startTestGds({ autoApprove: false }), startDemoDevice()]);
    const admin = await connect(t.endpointUrl);
    try {
      applicationId = String((await registerOk(admin, sampleServer({ applicationUri: device.applicationUri, discoveryUrls: [device.endpointUrl] }))).value).toLowerCase();
    } finally {
      await admin.close();
    }
    cycle = new DevicePushCycle({ certificates: t.gds.certificates, dataDir: t.config.dataDir, log: pino({ level: "silent" }) });
  }, 120_000);

  afterAll(async () => {
    await device?.stop();
    await t?.stop();
  });

  it("a request waiting for approval fails 'sign' with BadNothingToDo, is not repeated, and is pushed once approved", async () => {
    const before = await announcedCertificate(device.endpointUrl);
    const first = await cycle.run(request());
    expect(first.ok).toBe(false);
    expect(first.error).toMatchObject({ step: "sign", statusCode: "BadNothingToDo", message: expect.stringContaining("approval") });
    expect(first.pendingRequestId).toBeDefined();
    expect(first.certificate).toBeUndefined();
    expect(first.signedButUnconfirmedSerialHex).toBeUndefined();
    expect((await announcedCertificate(device.endpointUrl)).equals(before)).toBe(true);
    // The trust list it wrote (CloseAndUpdate → ApplyChangesRequired) is read back and confirmed
    // even while the certificate waits: trustList is set, no extra trust-list-only cycle needed.
    // No ApplyChanges: with RegeneratePrivateKey the device (2.157) would install its new key under
    // the old certificate; the demo device has the list in force at CloseAndUpdate already.
    expect(first.steps.map((s) => s.step)).toEqual(["connect", "readConfiguration", "pushTrustList", "createSigningRequest", "sign", "verifyTrustList"]);
    expect(first.steps.map((s) => s.statusCode)).toEqual([undefined, undefined, undefined, undefined, "BadNothingToDo", undefined]);
    expect(first.trustList).toEqual({ group: "DefaultApplicationGroup", lastUpdateTime: t.gds.certificates.trustList("DefaultApplicationGroup").lastUpdateTime.toISOString() });

    // Still pending: no new CSR, no new request.
    const second = await cycle.run(request({ pendingRequestId: first.pendingRequestId, reason: "retry" }));
    expect(second.error).toMatchObject({ step: "sign", statusCode: "BadNothingToDo" });
    expect(second.pendingRequestId).toBe(first.pendingRequestId);
    expect(second.steps.map((s) => s.step)).not.toContain("createSigningRequest");
    expect(second.trustList).toBeDefined(); // unchanged list: confirmed at once, no ApplyChanges needed
    expect(t.gds.certificates.listRequests({ applicationId })).toHaveLength(1);

    await t.gds.certificates.approve(first.pendingRequestId!, "ra-admin");
    const third = await cycle.run(request({ pendingRequestId: first.pendingRequestId, reason: "retry" }));
    expect(third.error?.step ?? "none").not.toMatch(/sign|updateCertificate|applyChanges|verifyCertificate/);
    // The demo device applies written trust lists (CRLs included): nothing fails at all.
    expect(third.ok).toBe(true);
    expect(third.certificate).toBeDefined();
    expect(third.pendingRequestId).toBeUndefined();
    const served = certificateInfo(await announcedCertificate(device.endpointUrl));
    expect(served.serialHex).toBe(third.certificate!.serialHex);
    const requests = t.gds.certificates.listRequests({ applicationId });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ state: "delivered", requestedBy: `push:${applicationId}`, decidedBy: "ra-admin" });
  }, 120_000);

  it("a device that accepts TCP and never answers fails at connect with BadTimeout within the call timeout", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const base = request({ callTimeoutMs: 2000 });
      const result = await cycle.run({ ...base, target: { ...base.target, endpointUrl: `opc.tcp://127.0.0.1:${port}` } });
      const elapsed = Date.now() - started;
      expect(result.ok).toBe(false);
      expect(result.error).toMatchObject({ step: "connect", statusCode: "BadTimeout" });
      expect(result.steps).toHaveLength(1);
      expect(elapsed).toBeGreaterThanOrEqual(1900);
      expect(elapsed).toBeLessThan(2000 + 3000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  }, 60_000);
});

/**
 * A device the GDS cannot trust to behave: a node-opcua 2.186 server in this process whose
 * ServerConfiguration methods are bound by the test, per scenario, to answer garbage, hang, or
 * claim success without doing anything. The trust list is a small honest in-memory file.
 */
describe("push cycle against a hostile device", () => {
  type Mode = "garbageTrustList" | "garbageCsr" | "updateWithoutOutput" | "neverServes" | "applyHangs" | "transactional" | "addOnlyAtApply";
  let mode: Mode = "garbageTrustList";
  let t: TestGds;
  let server: OPCUAServer;
  let cycle: DevicePushCycle;
  let applicationId: string;
  let endpointUrl: string;
  const applicationUri = `urn:opcua-gds:test:hostile-device:${process.pid}`;
  const work = tempDir("push-hostile-");
  let committed = encodeTrustList({ trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 15);
  let writing: Buffer[] = [];
  let pending: Buffer | undefined;
  let readOffset = 0;
  let peer: Buffer;

  const request = (overrides: Partial<PushCycleRequest> = {}): PushCycleRequest => ({
    target: {
      applicationId,
      applicationUri,
      endpointUrl,
      securityPolicy: "Basic256Sha256",
      securityMode: "SignAndEncrypt",
      identity: { kind: "userName", userName: "secadmin", password: "hostile-password-1" },
      regeneratePrivateKey: true,
      group: "DefaultApplicationGroup",
    },
    pushTrustList: true,
    renewCertificate: true,
    reason: "admin",
    callTimeoutMs: 3000,
    reconnectTimeoutMs: 3000,
    ...overrides,
  });

  const good = (outputArguments: VariantLike[] = []) => ({ statusCode: StatusCodes.Good, outputArguments });
  const bind = (id: number, fn: (args: Variant[]) => Promise<{ statusCode: StatusCode; outputArguments?: VariantLike[] }>) => {
    const method = server.engine.addressSpace!.findNode(`ns=0;i=${id}`) as UAMethod;
    method.bindMethod(async (inputArguments: Variant[], _context: ISessionContext) => fn(inputArguments));
  };

  beforeAll(async () => {
    t = await startTestGds();
    // The device's own trusted peer, which every push must keep.
    peer = pemToDer(opensslSelfSigned(work, "hostile-peer", { ca: false, subject: "/CN=hostile peer" }).cert);
    committed = encodeTrustList({ trustedCertificates: [peer], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 15);
    const port = await freePort();
    endpointUrl = `opc.tcp://127.0.0.1:${port}`;
    server = new OPCUAServer({
      port,
      hostname: "127.0.0.1",
      serverCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(work, "pki"), automaticallyAcceptUnknownCertificate: true }),
      // X509 user tokens: any certificate (the GDS's own, for the "certificate" identity) is accepted.
      userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(work, "user-pki"), automaticallyAcceptUnknownCertificate: true }),
      serverInfo: { applicationUri, productUri: "urn:test:hostile", applicationName: { text: "hostile device", locale: "en" } },
      securityPolicies: [SecurityPolicy.Basic256Sha256],
      securityModes: [MessageSecurityMode.SignAndEncrypt],
      userManager: {
        isValidUser: (userName: string, password: string) => userName === "secadmin" && password === "hostile-password-1",
        getUserRoles: () => makeRoles([WellKnownRoles.AuthenticatedUser, WellKnownRoles.SecurityAdmin]),
      },
    });
    await server.initialize();
    // TrustList 12642: Open 12647, Close 12650, Read 12652, Write 12655, CloseAndUpdate 12666.
    bind(12647, async (args) => {
      if (mode === "addOnlyAtApply" && args[0]!.value === 6) return { statusCode: StatusCodes.BadNotWritable };
      readOffset = 0;
      writing = [];
      return good([{ dataType: DataType.UInt32, value: 1 }]);
    });
    bind(12650, async () => good());
    bind(12652, async (args) => {
      if (mode === "garbageTrustList") return good([{ dataType: DataType.ByteString, value: Buffer.from("this is no trust list") }]);
      const n = args[1]!.value as number;
      const chunk = committed.subarray(readOffset, readOffset + n);
      readOffset += chunk.length;
      return good([{ dataType: DataType.ByteString, value: Buffer.from(chunk) }]);
    });
    bind(12655, async (args) => {
      writing.push(Buffer.from(args[1]!.value as Buffer));
      return good();
    });
    bind(12666, async () => {
      // "transactional": applied at ApplyChanges, readers see the old list meanwhile (OPC 10000-12 §7.10).
      if (mode === "transactional") {
        pending = Buffer.concat(writing);
        return good([{ dataType: DataType.Boolean, value: true }]);
      }
      committed = Buffer.concat(writing);
      return good([{ dataType: DataType.Boolean, value: false }]);
    });
    // AddCertificate 12668 ("addOnlyAtApply": pending until ApplyChanges), RemoveCertificate 12670.
    bind(12668, async (args) => {
      const list = decodeTrustList(pending ?? committed).content;
      (args[1]!.value ? list.trustedCertificates : list.issuerCertificates).push(Buffer.from(args[0]!.value as Buffer));
      pending = encodeTrustList(list, 15);
      return good();
    });
    bind(12670, async () => good());
    // CreateSigningRequest 12737, UpdateCertificate 13737, ApplyChanges 12740.
    bind(12737, async () => {
      if (mode === "garbageCsr") return good([{ dataType: DataType.ByteString, value: Buffer.from("not a CSR") }]);
      const csr = await makeCsr({ applicationUri, subject: "CN=hostile device" });
      return good([{ dataType: DataType.ByteString, value: csr.der }]);
    });
    bind(13737, async () => {
      if (mode === "updateWithoutOutput") return good([]);
      return good([{ dataType: DataType.Boolean, value: true }]);
    });
    bind(12740, async () => {
      if (mode === "applyHangs") await new Promise((resolve) => setTimeout(resolve, 20_000).unref());
      if (pending) {
        committed = pending;
        pending = undefined;
      }
      return good();
    });
    await server.start();
    const admin = await connect(t.endpointUrl);
    try {
      applicationId = String((await registerOk(admin, sampleServer({ applicationUri, discoveryUrls: [endpointUrl] }))).value).toLowerCase();
    } finally {
      await admin.close();
    }
    cycle = new DevicePushCycle({ certificates: t.gds.certificates, dataDir: t.config.dataDir, log: pino({ level: "silent" }) });
  }, 120_000);

  afterAll(async () => {
    await server?.shutdown(0);
    await t?.stop();
  });

  it("a trust list that does not decode fails pushTrustList with BadDecodingError", async () => {
    mode = "garbageTrustList";
    const r = await cycle.run(request());
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ step: "pushTrustList", statusCode: "BadDecodingError" });
    expect(r.steps.map((s) => s.step)).toEqual(["connect", "readConfiguration", "pushTrustList"]);
    expect(r.certificate).toBeUndefined();
  }, 60_000);

  it("the GDS's own certificate as X509 identity activates the session (the failure comes later, from the device's trust list)", async () => {
    mode = "garbageTrustList";
    const base = request();
    const r = await cycle.run({ ...base, target: { ...base.target, identity: { kind: "certificate" } } });
    expect(r.steps.map((s) => [s.step, s.statusCode ?? "Good"])).toEqual([
      ["connect", "Good"],
      ["readConfiguration", "Good"],
      ["pushTrustList", "BadDecodingError"],
    ]);
  }, 60_000);

  it("a CertificateRequest that is not DER fails createSigningRequest; nothing is signed", async () => {
    mode = "garbageCsr";
    const before = t.gds.certificates.listRequests({ applicationId }).length;
    const r = await cycle.run(request());
    expect(r.error).toMatchObject({ step: "createSigningRequest", statusCode: "BadDecodingError" });
    // The honest in-memory trust list got the GDS CA and was confirmed on the way.
    expect(r.trustList).toMatchObject({ group: "DefaultApplicationGroup" });
    expect(r.steps.find((s) => s.step === "verifyTrustList")?.statusCode).toBeUndefined();
    expect(t.gds.certificates.listRequests({ applicationId })).toHaveLength(before);
    expect(r.signedButUnconfirmedSerialHex).toBeUndefined();
    // Written with Write/CloseAndUpdate, CRLs included; the device's peer kept.
    const held = decodeTrustList(committed).content;
    const gdsList = t.gds.certificates.trustList("DefaultApplicationGroup");
    expect(held.trustedCertificates.map(sha1)).toEqual(expect.arrayContaining([sha1(peer), sha1(gdsList.trustedCertificates[0]!)]));
    expect(held.trustedCrls.map(sha1)).toEqual([sha1(gdsList.trustedCrls[0]!)]);
    expect(held.issuerCrls.map(sha1)).toEqual([sha1(gdsList.issuerCrls[0]!)]);
  }, 60_000);

  it("a device that applies the trust list only at ApplyChanges: ApplyChanges, then the read-back on a new session", async () => {
    mode = "transactional";
    // The device lost what an earlier push gave it, so there is something to write.
    committed = encodeTrustList({ trustedCertificates: [peer], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 15);
    const r = await cycle.run(request({ renewCertificate: false, reason: "trustListChanged" }));
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.steps.map((s) => s.step)).toEqual(["connect", "readConfiguration", "pushTrustList", "applyChanges", "verifyTrustList"]);
    expect(r.trustList?.lastUpdateTime).toBe(t.gds.certificates.trustList("DefaultApplicationGroup").lastUpdateTime.toISOString());
    const held = decodeTrustList(committed).content;
    expect(held.trustedCrls.map(sha1)).toEqual([sha1(t.gds.certificates.trustList("DefaultApplicationGroup").trustedCrls[0]!)]);
    expect(held.trustedCertificates.map(sha1)).toContain(sha1(peer));
  }, 60_000);

  it("a device that refuses Write and applies AddCertificate only at ApplyChanges is judged after ApplyChanges", async () => {
    mode = "addOnlyAtApply";
    committed = encodeTrustList({ trustedCertificates: [peer], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 15);
    const r = await cycle.run(request({ renewCertificate: false, reason: "trustListChanged" }));
    expect(r.steps.map((s) => s.step)).toEqual(["connect", "readConfiguration", "pushTrustList", "verifyTrustList", "applyChanges", "verifyTrustList"]);
    // Certificates arrived at ApplyChanges; CRLs cannot travel by AddCertificate.
    expect(r.error).toMatchObject({ step: "verifyTrustList", statusCode: "BadNotSupported" });
    const held = decodeTrustList(committed).content;
    expect(held.trustedCertificates.map(sha1)).toEqual(expect.arrayContaining([sha1(peer), sha1(t.gds.certificates.trustList("DefaultApplicationGroup").trustedCertificates[0]!)]));
  }, 60_000);

  it("UpdateCertificate without its output: error at updateCertificate, the signed serial reported as unconfirmed", async () => {
    mode = "updateWithoutOutput";
    const r = await cycle.run(request());
    expect(r.error).toMatchObject({ step: "updateCertificate", statusCode: "BadDecodingError" });
    expect(r.certificate).toBeUndefined();
    expect(r.signedButUnconfirmedSerialHex).toMatch(/^[0-9a-f]+$/);
  }, 60_000);

  it("a device that says Good to UpdateCertificate and ApplyChanges but keeps its certificate is never believed", async () => {
    mode = "neverServes";
    const started = Date.now();
    const r = await cycle.run(request());
    expect(r.error).toMatchObject({ step: "verifyCertificate", statusCode: "BadCertificateInvalid", message: expect.stringContaining("still shows") });
    expect(r.certificate).toBeUndefined();
    expect(r.signedButUnconfirmedSerialHex).toMatch(/^[0-9a-f]+$/);
    expect(Date.now() - started).toBeLessThan(3000 + 10_000);
  }, 60_000);

  it("an ApplyChanges that never answers fails with BadTimeout after the call timeout", async () => {
    mode = "applyHangs";
    const r = await cycle.run(request({ callTimeoutMs: 2000 }));
    expect(r.error).toMatchObject({ step: "applyChanges", statusCode: "BadTimeout", message: "ApplyChanges did not answer within 2000 ms" });
    const apply = r.steps.find((s) => s.step === "applyChanges")!;
    expect(apply.ms).toBeGreaterThanOrEqual(1900);
    expect(apply.ms).toBeLessThan(2000 + 1500);
    expect(r.signedButUnconfirmedSerialHex).toBeDefined();
  }, 60_000);
});
