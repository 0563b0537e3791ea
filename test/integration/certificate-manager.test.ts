import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { AttributeIds, DataType, MessageSecurityMode, NodeId, Variant, VariantArrayType, type StatusCode } from "node-opcua";
import { readTrustListViaSession } from "../../src/opcua/trust-list-client.js";
import { callMethod, connect, gdsNode, startTestGds, tempDir, type CallOutcome, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { registerOk, sampleServer, unregister } from "./helpers/directory-client.js";

const DIRECTORY = 141;
const CM = { StartSigningRequest: 157, StartNewKeyPairRequest: 154, FinishRequest: 163, GetCertificateGroups: 508, GetTrustList: 204, GetCertificateStatus: 225, RevokeCertificate: 15005, GetCertificates: 174, CheckRevocationStatus: 177 };

const nid = (value: NodeId | null) => new Variant({ dataType: DataType.NodeId, value: value ?? NodeId.nullNodeId });
const str = (value: string | null) => new Variant({ dataType: DataType.String, value });
const bytes = (value: Buffer | null) => new Variant({ dataType: DataType.ByteString, value });
const call = (s: TestSession, method: keyof typeof CM, args: Variant[]): Promise<CallOutcome> => callMethod(s, gdsNode(s, DIRECTORY), gdsNode(s, CM[method]), args);
const ns0 = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, 0);

function expectStatus(r: CallOutcome, name: string): void {
  expect(`${(r.statusCode as StatusCode).name}: ${r.text ?? ""}`).toMatch(new RegExp(`^${name}\\b`));
}

/** A PKCS#10 CSR made by openssl, the way an application's own tooling would. */
function opensslCsr(dir: string, opts: { uri?: string; dns?: string; key?: string }): Buffer {
  const keyFile = path.join(dir, `k${crypto.randomUUID()}.pem`);
  const csrFile = path.join(dir, `r${crypto.randomUUID()}.der`);
  const san = [opts.uri ? `URI:${opts.uri}` : "", opts.dns ? `DNS:${opts.dns}` : ""].filter(Boolean).join(",");
  const args = ["req", "-new", "-newkey", opts.key ?? "rsa:2048", "-nodes", "-keyout", keyFile, "-subj", "/CN=csr-test/O=opcua-gds tests", "-outform", "DER", "-out", csrFile];
  if (san) args.push("-addext", `subjectAltName=${san}`);
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return fs.readFileSync(csrFile);
}

describe("CertificateManager over OPC UA", () => {
  let t: TestGds;
  let admin: TestSession;
  let signOnly: TestSession;
  let observer: TestSession;
  let appId: NodeId;
  let appUri: string;
  let work: string;

  beforeAll(async () => {
    t = await startTestGds();
    await t.gds.users.add("observer", ["Observer"], "observer-password-1");
    admin = await connect(t.endpointUrl);
    signOnly = await connect(t.endpointUrl, { securityMode: MessageSecurityMode.Sign });
    observer = await connect(t.endpointUrl, { user: { userName: "observer", password: "observer-password-1" } });
    const app = sampleServer({ discoveryUrls: ["opc.tcp://device1.plant.local:4840"] });
    appUri = app.applicationUri;
    appId = await registerOk(admin, app);
    work = tempDir("gds-cm-");
  });

  afterAll(async () => {
    for (const s of [admin, signOnly, observer]) await s?.close();
    await t?.stop();
  });

  async function signAndFinish(csr: Buffer, type: NodeId | null = null): Promise<{ cert: Buffer; issuers: Buffer[]; requestId: NodeId }> {
    const start = await call(admin, "StartSigningRequest", [nid(appId), nid(null), nid(type), bytes(csr)]);
    expectStatus(start, "Good");
    const requestId = start.outputs[0].value as NodeId;
    const finish = await call(admin, "FinishRequest", [nid(appId), nid(requestId)]);
    expectStatus(finish, "Good");
    return { cert: finish.outputs[0].value as Buffer, issuers: finish.outputs[2].value as Buffer[], requestId };
  }

  test("CSR → certificate signed by the group's CA, with the ApplicationUri and the CSR's DNS name; RequestId is a Guid NodeId", async () => {
    const { cert, issuers, requestId } = await signAndFinish(opensslCsr(work, { uri: appUri, dns: "device1.plant.local" }));
    expect(requestId.identifierType).toBe(NodeId.NodeIdType.GUID);
    const x = new crypto.X509Certificate(cert);
    const ca = new crypto.X509Certificate(issuers[0]);
    expect(x.checkIssued(ca)).toBe(true);
    expect(x.verify(ca.publicKey)).toBe(true);
    expect(x.subjectAltName).toContain(`URI:${appUri}`);
    expect(x.subjectAltName).toContain("DNS:device1.plant.local");
    expect(x.subject).toContain("CN=csr-test");
    // openssl agrees, with the purpose checks a TLS-style stack applies.
    fs.writeFileSync(path.join(work, "ca.pem"), ca.toString());
    fs.writeFileSync(path.join(work, "leaf.pem"), x.toString());
    const v = spawnSync("openssl", ["verify", "-CAfile", path.join(work, "ca.pem"), "-purpose", "sslclient", path.join(work, "leaf.pem")], { encoding: "utf8" });
    expect(v.stdout).toContain("OK");
  });

  test("the private key of a CSR request stays with the application: FinishRequest returns none; a retry returns the same certificate", async () => {
    const start = await call(admin, "StartSigningRequest", [nid(appId), nid(null), nid(null), bytes(opensslCsr(work, { uri: appUri }))]);
    const requestId = start.outputs[0].value as NodeId;
    const first = await call(admin, "FinishRequest", [nid(appId), nid(requestId)]);
    const again = await call(admin, "FinishRequest", [nid(appId), nid(requestId)]);
    expectStatus(again, "Good");
    expect(first.outputs[1].value ?? null).toBeNull();
    expect((again.outputs[0].value as Buffer).equals(first.outputs[0].value as Buffer)).toBe(true);
  });

  test("CSR errors: garbage → BadInvalidArgument, foreign URI → BadCertificateUriInvalid, RSA 1024 → BadInvalidArgument, EC key for the RSA type → BadInvalidArgument", async () => {
    const garbage = await call(admin, "StartSigningRequest", [nid(appId), nid(null), nid(null), bytes(crypto.randomBytes(300))]);
    expectStatus(garbage, "BadInvalidArgument");
    const foreign = await call(admin, "StartSigningRequest", [nid(appId), nid(null), nid(null), bytes(opensslCsr(work, { uri: "urn:somebody:else" }))]);
    expectStatus(foreign, "BadCertificateUriInvalid");
    expect(foreign.text).toContain(appUri);
    const weak = await call(admin, "StartSigningRequest", [nid(appId), nid(null), nid(ns0(12559)), bytes(opensslCsr(work, { uri: appUri, key: "rsa:1024" }))]);
    expectStatus(weak, "BadInvalidArgument");
    expect(weak.text).toMatch(/1024/);
    const ec = await call(admin, "StartSigningRequest", [nid(appId), nid(null), nid(null), bytes(opensslCsr(work, { uri: appUri, key: "ec:" + ecParams(work) }))]);
    expectStatus(ec, "BadInvalidArgument");
  });

  test("an ECDSA P-256 CSR for EccNistP256ApplicationCertificateType is signed by the RSA CA", async () => {
    const { cert, issuers } = await signAndFinish(opensslCsr(work, { uri: appUri, key: "ec:" + ecParams(work) }), ns0(23538));
    const x = new crypto.X509Certificate(cert);
    expect(x.publicKey.asymmetricKeyType).toBe("ec");
    expect(x.verify(new crypto.X509Certificate(issuers[0]).publicKey)).toBe(true);
  });

  test("bad arguments: unknown application → BadNotFound, a ns0 group id → BadInvalidArgument, a type of another group → BadInvalidArgument, a foreign RequestId → BadInvalidArgument", async () => {
    const unknown = new NodeId(NodeId.NodeIdType.GUID, crypto.randomUUID(), appId.namespace);
    expectStatus(await call(admin, "GetCertificateGroups", [nid(unknown)]), "BadNotFound");
    expectStatus(await call(admin, "StartSigningRequest", [nid(unknown), nid(null), nid(null), bytes(opensslCsr(work, { uri: appUri }))]), "BadNotFound");
    expectStatus(await call(admin, "GetTrustList", [nid(appId), nid(ns0(14156))]), "BadInvalidArgument");
    expectStatus(await call(admin, "GetCertificateStatus", [nid(appId), nid(null), nid(ns0(12558))]), "BadInvalidArgument");
    const other = await registerOk(admin, sampleServer());
    const start = await call(admin, "StartSigningRequest", [nid(appId), nid(null), nid(null), bytes(opensslCsr(work, { uri: appUri }))]);
    expectStatus(await call(admin, "FinishRequest", [nid(other), nid(start.outputs[0].value as NodeId)]), "BadInvalidArgument");
    expectStatus(await call(admin, "FinishRequest", [nid(appId), nid(ns0(42))]), "BadInvalidArgument");
  });

  test("security modes: key pairs and FinishRequest need SignAndEncrypt; the others work over Sign", async () => {
    const kp = await call(signOnly, "StartNewKeyPairRequest", [nid(appId), nid(null), nid(null), str(""), new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: [] }), str("PEM"), str("")]);
    expectStatus(kp, "BadSecurityModeInsufficient");
    const start = await call(signOnly, "StartSigningRequest", [nid(appId), nid(null), nid(null), bytes(opensslCsr(work, { uri: appUri }))]);
    expectStatus(start, "Good");
    expectStatus(await call(signOnly, "FinishRequest", [nid(appId), nid(start.outputs[0].value as NodeId)]), "BadSecurityModeInsufficient");
    expectStatus(await call(signOnly, "GetCertificateGroups", [nid(appId)]), "Good");
  });

  test("roles: a user without CertificateAuthorityAdmin is refused (BadUserAccessDenied)", async () => {
    expectStatus(await call(observer, "GetCertificateGroups", [nid(appId)]), "BadUserAccessDenied");
    expectStatus(await call(observer, "StartSigningRequest", [nid(appId), nid(null), nid(null), bytes(opensslCsr(work, { uri: appUri }))]), "BadUserAccessDenied");
    const { cert } = await signAndFinish(opensslCsr(work, { uri: appUri }));
    expectStatus(await call(observer, "RevokeCertificate", [nid(appId), bytes(cert)]), "BadUserAccessDenied");
    // CheckRevocationStatus is open to any signed channel.
    expectStatus(await call(observer, "CheckRevocationStatus", [bytes(cert)]), "Good");
  });

  test("new key pairs: PEM (PKCS#8) and password-protected PFX (PKCS#12) keys match their certificates; other formats → BadInvalidArgument", async () => {
    const none = new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: [] });
    const pem = await call(admin, "StartNewKeyPairRequest", [nid(appId), nid(null), nid(null), str("/CN=Pump 7/O=Acme"), none, str("PEM"), str("")]);
    expectStatus(pem, "Good");
    const pemDone = await call(admin, "FinishRequest", [nid(appId), nid(pem.outputs[0].value as NodeId)]);
    expectStatus(pemDone, "Good");
    const cert = new crypto.X509Certificate(pemDone.outputs[0].value as Buffer);
    const key = crypto.createPrivateKey((pemDone.outputs[1].value as Buffer).toString("utf8"));
    expect(cert.checkPrivateKey(key)).toBe(true);
    expect(cert.subject).toContain("CN=Pump 7");
    expect(cert.subject).toContain("O=Acme");
    expect(cert.subjectAltName).toContain("DNS:device1.plant.local"); // from the DiscoveryUrl

    const pfx = await call(admin, "StartNewKeyPairRequest", [nid(appId), nid(null), nid(null), str(""), new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: ["10.0.0.7", "pump7.local"] }), str("PFX"), str("s3cret pfx")]);
    expectStatus(pfx, "Good");
    const pfxDone = await call(admin, "FinishRequest", [nid(appId), nid(pfx.outputs[0].value as NodeId)]);
    expectStatus(pfxDone, "Good");
    const pfxFile = path.join(work, "key.pfx");
    fs.writeFileSync(pfxFile, pfxDone.outputs[1].value as Buffer);
    const out = spawnSync("openssl", ["pkcs12", "-in", pfxFile, "-passin", "pass:s3cret pfx", "-nodes", "-nocerts"], { encoding: "utf8" });
    expect(out.status).toBe(0);
    const pfxCert = new crypto.X509Certificate(pfxDone.outputs[0].value as Buffer);
    expect(pfxCert.checkPrivateKey(crypto.createPrivateKey(out.stdout))).toBe(true);
    expect(pfxCert.subjectAltName).toContain("IP Address:10.0.0.7");
    expect(pfxCert.subjectAltName).toContain("DNS:pump7.local");
    // delivered once: the key is gone afterwards
    expectStatus(await call(admin, "FinishRequest", [nid(appId), nid(pfx.outputs[0].value as NodeId)]), "BadInvalidArgument");

    const der = await call(admin, "StartNewKeyPairRequest", [nid(appId), nid(null), nid(null), str(""), none, str("DER"), str("")]);
    expectStatus(der, "BadInvalidArgument");
    expect(der.text).toContain("PrivateKeyFormat");
  });

  test("groups, trust list, status and certificates; revocation re-signs the CRL and moves LastUpdateTime", async () => {
    const fresh = await registerOk(admin, sampleServer({ discoveryUrls: ["opc.tcp://fresh.local:4840", "https://fresh.local:443"] }));
    const groups = await call(admin, "GetCertificateGroups", [nid(fresh)]);
    expect((groups.outputs[0].value as NodeId[]).map((n) => n.value)).toEqual([615, 649]);
    const tl = await call(admin, "GetTrustList", [nid(fresh), nid(null)]);
    expectStatus(tl, "Good");
    const trustListId = tl.outputs[0].value as NodeId;
    expect(trustListId.value).toBe(616);
    expectStatus(await call(admin, "GetCertificateStatus", [nid(fresh), nid(null), nid(null)]), "Good");
    expect((await call(admin, "GetCertificateStatus", [nid(fresh), nid(null), nid(null)])).outputs[0].value).toBe(true);

    const record = (await t.gds.directory.get(String(fresh.value).toLowerCase())).applicationUri;
    const start = await call(admin, "StartSigningRequest", [nid(fresh), nid(null), nid(null), bytes(opensslCsr(work, { uri: record }))]);
    const finish = await call(admin, "FinishRequest", [nid(fresh), nid(start.outputs[0].value as NodeId)]);
    const cert = finish.outputs[0].value as Buffer;
    expect((await call(admin, "GetCertificateStatus", [nid(fresh), nid(null), nid(null)])).outputs[0].value).toBe(false);
    const certs = await call(admin, "GetCertificates", [nid(fresh), nid(null)]);
    expect((certs.outputs[0].value as NodeId[]).map((n) => n.value)).toEqual([12560]);
    expect((certs.outputs[1].value as Buffer[])[0].equals(cert)).toBe(true);
    const good = await call(admin, "CheckRevocationStatus", [bytes(cert)]);
    expect((good.outputs[0].value as StatusCode).name).toBe("Good");
    expect((good.outputs[1].value as Date).getTime()).toBeGreaterThan(Date.now());

    const before = await readTrustListViaSession(admin.session, trustListId);
    const ca = (finish.outputs[2].value as Buffer[])[0];
    expect(before.content.trustedCertificates.some((c) => c.equals(ca))).toBe(true);
    expect(before.content.issuerCertificates.some((c) => c.equals(ca))).toBe(true);
    expect(before.content.trustedCrls).toHaveLength(1);
    const lastUpdateBefore = (await admin.session.read({ nodeId: await childOf(admin, trustListId, "LastUpdateTime"), attributeId: AttributeIds.Value })).value.value as Date;

    await new Promise((r) => setTimeout(r, 20));
    expectStatus(await call(admin, "RevokeCertificate", [nid(fresh), bytes(cert)]), "Good");
    const revoked = await call(admin, "CheckRevocationStatus", [bytes(cert)]);
    expect((revoked.outputs[0].value as StatusCode).name).toBe("BadCertificateRevoked");
    expect((await call(admin, "GetCertificateStatus", [nid(fresh), nid(null), nid(null)])).outputs[0].value).toBe(true);
    expect((await call(admin, "GetCertificates", [nid(fresh), nid(null)])).outputs[1].value ?? []).toHaveLength(0);

    const after = await readTrustListViaSession(admin.session, trustListId);
    expect(after.content.trustedCrls[0].equals(before.content.trustedCrls[0])).toBe(false);
    fs.writeFileSync(path.join(work, "crl.der"), after.content.trustedCrls[0]);
    const crlText = spawnSync("openssl", ["crl", "-inform", "DER", "-in", path.join(work, "crl.der"), "-noout", "-text"], { encoding: "utf8" }).stdout;
    expect(crlText.replace(/:/g, "").toUpperCase()).toContain(new crypto.X509Certificate(cert).serialNumber.toUpperCase());
    const lastUpdateAfter = (await admin.session.read({ nodeId: await childOf(admin, trustListId, "LastUpdateTime"), attributeId: AttributeIds.Value })).value.value as Date;
    expect(lastUpdateAfter.getTime()).toBeGreaterThan(lastUpdateBefore.getTime());
    // Revoking a certificate of another application is refused.
    expectStatus(await call(admin, "RevokeCertificate", [nid(appId), bytes(cert)]), "BadInvalidArgument");
  });

  test("UnregisterApplication revokes every certificate issued to the application", async () => {
    const app = sampleServer();
    const id = await registerOk(admin, app);
    const a = await call(admin, "StartSigningRequest", [nid(id), nid(null), nid(null), bytes(opensslCsr(work, { uri: app.applicationUri }))]);
    const certA = (await call(admin, "FinishRequest", [nid(id), nid(a.outputs[0].value as NodeId)])).outputs[0].value as Buffer;
    const b = await call(admin, "StartSigningRequest", [nid(id), nid(null), nid(null), bytes(opensslCsr(work, { uri: app.applicationUri }))]);
    const certB = (await call(admin, "FinishRequest", [nid(id), nid(b.outputs[0].value as NodeId)])).outputs[0].value as Buffer;
    expectStatus(await unregister(admin, id), "Good");
    for (const c of [certA, certB]) {
      expect(((await call(admin, "CheckRevocationStatus", [bytes(c)])).outputs[0].value as StatusCode).name).toBe("BadCertificateRevoked");
    }
  });

  test("the CA keys are 0600 in 0700 folders; the audit log names who did what and holds no secrets", async () => {
    for (const group of ["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"]) {
      const dir = path.join(t.config.dataDir, "ca", group);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(dir, "ca.key.pem")).mode & 0o777).toBe(0o600);
    }
    const audit = fs.readFileSync(path.join(t.config.dataDir, "audit.log"), "utf8");
    const events = audit.trim().split("\n").map((l) => JSON.parse(l) as { event: string; actor: string });
    for (const e of ["ApplicationRegistered", "CertificateRequested", "CertificateDelivered", "CertificateRevoked", "ApplicationUnregistered"]) {
      expect(events.some((x) => x.event === e && x.actor === "admin")).toBe(true);
    }
    for (const text of [audit, fs.readFileSync(t.logFile, "utf8")]) {
      expect(text).not.toContain("PRIVATE KEY");
      expect(text).not.toContain("s3cret pfx");
    }
  });
});

let ecParamFile: string | undefined;
function ecParams(dir: string): string {
  ecParamFile ??= path.join(dir, "p256.pem");
  if (!fs.existsSync(ecParamFile)) spawnSync("openssl", ["ecparam", "-name", "prime256v1", "-out", ecParamFile]);
  return ecParamFile;
}

async function childOf(s: TestSession, parent: NodeId, browseName: string): Promise<NodeId> {
  const r = await s.session.translateBrowsePath({ startingNode: parent, relativePath: { elements: [{ referenceTypeId: new NodeId(NodeId.NodeIdType.NUMERIC, 46, 0), isInverse: false, includeSubtypes: true, targetName: { namespaceIndex: 0, name: browseName } }] } });
  const target = r.targets?.[0]?.targetId;
  if (!target) throw new Error(`no ${browseName} under ${parent.toString()}`);
  return NodeId.resolveNodeId(target.toString());
}
