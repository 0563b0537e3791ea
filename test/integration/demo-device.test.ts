/**
 * The demo device (scripts/demo-device: node-opcua 2.157 + installPushCertificateManagementOnServer,
 * a child process) as a 2.186 client sees it: the ServerConfiguration calls a push needs, its user
 * check, its strict mode, and what ApplyChanges does to the certificate new channels get.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { AttributeIds, DataType, MessageSecurityMode, NodeId, OPCUAClient, Variant, type VariantLike } from "node-opcua";
import { parseCsr } from "../../src/ca/csr.js";
import { addTrustListCertificateViaSession, readTrustListViaSession, writeTrustListViaSession } from "../../src/opcua/trust-list-client.js";
import { connect, sharedClientPkiDir, tempDir, type TestSession } from "./helpers/gds-harness.js";
import { opensslSelfSigned } from "./helpers/gds-cli.js";
import { announcedCertificate, startDemoDevice, type DemoDevice } from "./helpers/demo-device.js";

const ns0 = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, 0);
const SERVER_CONFIGURATION = ns0(12637);
const CREATE_SIGNING_REQUEST = ns0(12737);
const UPDATE_CERTIFICATE = ns0(13737);
const APPLY_CHANGES = ns0(12740);
const SUPPORTED_PRIVATE_KEY_FORMATS = ns0(12639);
const DEFAULT_APPLICATION_GROUP = ns0(14156);
const DEFAULT_APPLICATION_TRUST_LIST = ns0(12642);
const RSA_SHA256_APPLICATION_CERTIFICATE_TYPE = ns0(12560);

async function call(s: TestSession, methodId: NodeId, inputArguments: VariantLike[]) {
  const r = await s.session.call({ objectId: SERVER_CONFIGURATION, methodId, inputArguments });
  return { statusCode: r.statusCode, outputs: r.outputArguments ?? [] };
}

function createSigningRequest(s: TestSession) {
  return call(s, CREATE_SIGNING_REQUEST, [
    new Variant({ dataType: DataType.NodeId, value: DEFAULT_APPLICATION_GROUP }),
    new Variant({ dataType: DataType.NodeId, value: RSA_SHA256_APPLICATION_CERTIFICATE_TYPE }),
    new Variant({ dataType: DataType.String, value: "" }),
    new Variant({ dataType: DataType.Boolean, value: true }),
    new Variant({ dataType: DataType.ByteString, value: crypto.randomBytes(32) }),
  ]);
}

/** The error of a session that should not be created: its status name. */
async function connectError(endpointUrl: string, opts: Parameters<typeof connect>[1]): Promise<string> {
  try {
    const s = await connect(endpointUrl, opts);
    await s.close();
    return "Good";
  } catch (err) {
    return String((err as Error).message);
  }
}

describe("demo device (default mode: accepts unknown client certificates)", () => {
  let device: DemoDevice;
  let admin: TestSession;

  beforeAll(async () => {
    device = await startDemoDevice();
    admin = await connect(device.endpointUrl, { user: { userName: device.user, password: device.password }, pkiName: "demo-device-client" });
  }, 90_000);
  afterAll(async () => {
    await admin?.close();
    await device?.stop();
  });

  it("announces None and Basic256Sha256 Sign/SignAndEncrypt endpoints", async () => {
    const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
    await client.connect(device.endpointUrl);
    const endpoints = await client.getEndpoints();
    await client.disconnect();
    const kinds = endpoints.map((e) => `${(e.securityPolicyUri ?? "").split("#")[1]}/${MessageSecurityMode[e.securityMode]}`).sort();
    expect(kinds).toEqual(["Basic256Sha256/Sign", "Basic256Sha256/SignAndEncrypt", "None/None"]);
    expect(endpoints.every((e) => e.endpointUrl === device.endpointUrl)).toBe(true);
  });

  it("CreateSigningRequest (SecurityAdmin, SignAndEncrypt) gives a CSR for the device's ApplicationUri", async () => {
    const r = await createSigningRequest(admin);
    expect(r.statusCode.name).toBe("Good");
    const csr = parseCsr(r.outputs[0].value as Buffer);
    expect(csr.uris).toEqual([device.applicationUri]);
    expect(csr.keyAlgorithm).toBe("RSA");
  });

  it("SupportedPrivateKeyFormats is [PEM]", async () => {
    const dv = await admin.session.read({ nodeId: SUPPORTED_PRIVATE_KEY_FORMATS, attributeId: AttributeIds.Value });
    expect(dv.statusCode.name).toBe("Good");
    expect(dv.value.value).toEqual(["PEM"]);
  });

  it("its DefaultApplicationGroup TrustList reads through the GDS's trust-list client", async () => {
    const list = await readTrustListViaSession(admin.session, DEFAULT_APPLICATION_TRUST_LIST);
    expect(list.specifiedLists).toBe(15);
    // 2.157 trusts its own self-signed certificate, and (accept mode) the client that connected.
    expect(list.content.trustedCertificates.length).toBeGreaterThanOrEqual(1);
  });

  it("an anonymous session may not call CreateSigningRequest (BadUserAccessDenied)", async () => {
    const anon = await connect(device.endpointUrl, { user: null, pkiName: "demo-device-client" });
    try {
      const r = await createSigningRequest(anon);
      expect(r.statusCode.name).toBe("BadUserAccessDenied");
    } finally {
      await anon.close();
    }
  });

  it("a SignAndEncrypt session is needed: Sign only gives BadSecurityModeInsufficient", async () => {
    const signOnly = await connect(device.endpointUrl, {
      user: { userName: device.user, password: device.password },
      securityMode: MessageSecurityMode.Sign,
      pkiName: "demo-device-client",
    });
    try {
      const r = await createSigningRequest(signOnly);
      expect(r.statusCode.name).toBe("BadSecurityModeInsufficient");
    } finally {
      await signOnly.close();
    }
  });

  it("a wrong password: the session is refused with BadUserAccessDenied", async () => {
    const message = await connectError(device.endpointUrl, { user: { userName: device.user, password: "wrong" }, pkiName: "demo-device-client" });
    expect(message).toMatch(/BadUserAccessDenied/);
    expect(message).not.toMatch(/BadIdentityTokenRejected/);
  });

  it("TrustList: Open(6)/Write/CloseAndUpdate replaces the list (ApplyChangesRequired=true); AddCertificate works", async () => {
    const dir = tempDir("demo-device-tl-");
    const extra = Buffer.from(new x509.X509Certificate(fs.readFileSync(opensslSelfSigned(dir, "extra-ca", { ca: true }).cert, "utf8")).rawData);
    const added = Buffer.from(new x509.X509Certificate(fs.readFileSync(opensslSelfSigned(dir, "added-ca", { ca: true }).cert, "utf8")).rawData);
    const before = await readTrustListViaSession(admin.session, DEFAULT_APPLICATION_TRUST_LIST);
    const has = (list: Buffer[], c: Buffer) => list.some((x) => x.equals(c));
    const written = await writeTrustListViaSession(admin.session, DEFAULT_APPLICATION_TRUST_LIST, {
      ...before.content,
      trustedCertificates: [...before.content.trustedCertificates, extra],
    });
    expect(written.applyChangesRequired).toBe(true);
    const afterWrite = await readTrustListViaSession(admin.session, DEFAULT_APPLICATION_TRUST_LIST);
    expect(has(afterWrite.content.trustedCertificates, extra)).toBe(true);
    expect(afterWrite.content.trustedCertificates.length).toBe(before.content.trustedCertificates.length + 1);

    await addTrustListCertificateViaSession(admin.session, DEFAULT_APPLICATION_TRUST_LIST, added, true);
    const afterAdd = await readTrustListViaSession(admin.session, DEFAULT_APPLICATION_TRUST_LIST);
    expect(has(afterAdd.content.trustedCertificates, added)).toBe(true);
    expect(has(afterAdd.content.trustedCertificates, extra)).toBe(true);
  });

  it("UpdateCertificate + ApplyChanges: new channels and GetEndpoints present the pushed certificate", async () => {
    const before = await announcedCertificate(device.endpointUrl);
    const r = await createSigningRequest(admin);
    expect(r.statusCode.name).toBe("Good");
    // A CA of the test's own signs the CSR (the GDS is not needed to observe the device).
    const dir = tempDir("demo-device-ca-");
    const ca = opensslSelfSigned(dir, "test-ca", { ca: true });
    fs.writeFileSync(path.join(dir, "device.csr"), r.outputs[0].value as Buffer);
    const signed = spawnSync(
      "/usr/bin/openssl",
      ["x509", "-req", "-inform", "DER", "-in", path.join(dir, "device.csr"), "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-days", "30", "-sha256", "-copy_extensions", "copy", "-outform", "DER", "-out", path.join(dir, "device.der")],
      { encoding: "utf8" },
    );
    expect(signed.stderr).not.toMatch(/error/i);
    const certificate = fs.readFileSync(path.join(dir, "device.der"));
    const caDer = Buffer.from(new x509.X509Certificate(fs.readFileSync(ca.cert, "utf8")).rawData);

    const u = await call(admin, UPDATE_CERTIFICATE, [
      new Variant({ dataType: DataType.NodeId, value: DEFAULT_APPLICATION_GROUP }),
      new Variant({ dataType: DataType.NodeId, value: RSA_SHA256_APPLICATION_CERTIFICATE_TYPE }),
      new Variant({ dataType: DataType.ByteString, value: certificate }),
      new Variant({ dataType: DataType.ByteString, arrayType: 1 /* Array */, value: [caDer] }),
      new Variant({ dataType: DataType.String, value: "" }),
      new Variant({ dataType: DataType.ByteString, value: Buffer.alloc(0) }),
    ]);
    expect(u.statusCode.name).toBe("Good");
    expect(u.outputs[0].value).toBe(true); // ApplyChangesRequired
    // Not applied yet: the old certificate is still announced.
    expect((await announcedCertificate(device.endpointUrl)).equals(before)).toBe(true);

    const a = await call(admin, APPLY_CHANGES, []);
    expect(a.statusCode.name).toBe("Good");
    // The device closes every channel 2 s after ApplyChanges and resumes its endpoints.
    let now: Buffer | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      now = await announcedCertificate(device.endpointUrl).catch(() => undefined);
      if (now && now.equals(certificate)) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    // The leaf only: 2.157 does not send the issuer chain.
    expect(now?.equals(certificate)).toBe(true);

    // A new SignAndEncrypt session works against the new certificate, once the client holds the
    // CA: without it a 2.186 client says BadCertificateChainIncomplete (the device sends the leaf only).
    const issuerFile = path.join(sharedClientPkiDir("demo-device-client"), "issuers", "certs", `test-ca-${crypto.randomUUID()}.der`);
    fs.writeFileSync(issuerFile, caDer);
    try {
      const again = await connect(device.endpointUrl, { user: { userName: device.user, password: device.password }, pkiName: "demo-device-client" });
      try {
        const serverCert = Buffer.from(again.session.serverCertificate!);
        expect(serverCert.equals(certificate)).toBe(true);
      } finally {
        await again.close();
      }

      // It survives a restart (state in --pki-dir).
      await device.restart();
      expect((await announcedCertificate(device.endpointUrl)).equals(certificate)).toBe(true);
      const afterRestart = await connect(device.endpointUrl, { user: { userName: device.user, password: device.password }, pkiName: "demo-device-client" });
      expect(Buffer.from(afterRestart.session.serverCertificate!).equals(certificate)).toBe(true);
      await afterRestart.close();
    } finally {
      fs.rmSync(issuerFile, { force: true });
    }
  }, 90_000);
});

describe("demo device down and back", () => {
  it("kill() then restart(): the same port, PKI and certificate; stop() exits cleanly", async () => {
    const device = await startDemoDevice();
    try {
      const before = await announcedCertificate(device.endpointUrl);
      await device.kill();
      await expect(announcedCertificate(device.endpointUrl)).rejects.toThrow();
      await device.restart();
      expect((await announcedCertificate(device.endpointUrl)).equals(before)).toBe(true);
      expect(device.output()).toMatch(/listening on opc\.tcp:\/\/127\.0\.0\.1:/);
    } finally {
      await device.stop();
    }
    expect(device.output()).toMatch(/SIGTERM: shutting down/);
  }, 90_000);
});

describe("demo device --strict without --trust", () => {
  let device: DemoDevice;

  beforeAll(async () => {
    device = await startDemoDevice({ acceptUnknown: false });
  }, 90_000);
  afterAll(async () => {
    await device?.stop();
  });

  it("refuses a client whose certificate it does not trust (and records it as rejected)", async () => {
    const rejectedDir = path.join(device.pkiDir, "pki", "rejected");
    expect(fs.existsSync(rejectedDir) ? fs.readdirSync(rejectedDir) : []).toEqual([]);
    const message = await connectError(device.endpointUrl, { user: { userName: device.user, password: device.password }, pkiName: "demo-device-strict-client" });
    // 2.157 answers an untrusted client certificate by closing the socket.
    expect(message).toMatch(/rejected by server|disconnected/);
    const rejected = fs.readdirSync(path.join(device.pkiDir, "pki", "rejected"));
    expect(rejected.length).toBeGreaterThanOrEqual(1);
  });

  it("still answers GetEndpoints (security None)", async () => {
    const cert = await announcedCertificate(device.endpointUrl);
    expect(cert.length).toBeGreaterThan(0);
  });
});
