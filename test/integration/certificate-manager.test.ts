import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { MessageSecurityMode, NodeId, type StatusCode } from "node-opcua";
import { readTrustListViaSession } from "../../src/opcua/trust-list-client.js";
import { opensslCsr, type TestKeyKind } from "../unit/helpers/ca-tools.js";
import { connect, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import {
  checkRevocationStatus,
  expectStatus,
  finishRequest,
  getCertificateGroups,
  getCertificates,
  getCertificateStatus,
  getTrustList,
  issueFromCsr,
  ns0,
  readLastUpdateTime,
  revokeCertificate,
  startNewKeyPairRequest,
  startSigningRequest,
} from "./helpers/certificate-client.js";
import { registerOk, sampleServer, unregister } from "./helpers/directory-client.js";

/** StartNewKeyPairRequest's arguments as a generic client sends them: no subject or names of its own, PEM, no password. */
const PEM_KEY_PAIR = { subjectName: "", domainNames: [], privateKeyFormat: "PEM", privateKeyPassword: "" };

describe("CertificateManager over OPC UA", () => {
  let t: TestGds;
  let admin: TestSession;
  let signOnly: TestSession;
  let observer: TestSession;
  let appId: NodeId;
  let appUri: string;
  let appName: string;
  let work: string;

  beforeAll(async () => {
    t = await startTestGds();
    await t.gds.users.add("observer", ["Observer"], "observer-password-1");
    admin = await connect(t.endpointUrl);
    signOnly = await connect(t.endpointUrl, { securityMode: MessageSecurityMode.Sign });
    observer = await connect(t.endpointUrl, { user: { userName: "observer", password: "observer-password-1" } });
    const app = sampleServer({ discoveryUrls: ["opc.tcp://device1.plant.local:4840"] });
    appUri = app.applicationUri;
    appName = app.applicationNames[0]!.text;
    appId = await registerOk(admin, app);
    work = tempDir("gds-cm-");
  });

  afterAll(async () => {
    for (const s of [admin, signOnly, observer]) await s?.close();
    await t?.stop();
  });

  /** A PKCS#10 CSR made by openssl, the way an application's own tooling would (an independent producer). */
  function csr(opts: { uri: string; dns?: string; key?: TestKeyKind }): Buffer {
    const san = [`URI:${opts.uri}`, ...(opts.dns ? [`DNS:${opts.dns}`] : [])].join(",");
    return opensslCsr(work, opts.key ?? "rsa:2048", "/CN=csr-test/O=opcua-gds tests", san).der;
  }

  test("CSR → certificate signed by the group's CA, with the ApplicationUri and the CSR's DNS name; RequestId is a Guid NodeId", async () => {
    const { certificate: cert, issuers, requestId } = await issueFromCsr(admin, appId, csr({ uri: appUri, dns: "device1.plant.local" }));
    expect(requestId.identifierType).toBe(NodeId.NodeIdType.GUID);
    const x = new crypto.X509Certificate(cert);
    const ca = new crypto.X509Certificate(issuers[0]);
    expect(x.checkIssued(ca)).toBe(true);
    expect(x.verify(ca.publicKey)).toBe(true);
    expect(x.subjectAltName).toContain(`URI:${appUri}`);
    expect(x.subjectAltName).toContain("DNS:device1.plant.local");
    // The subject is the GDS's (CN = application name, DC = host), not the CSR's "/CN=csr-test/O=…".
    expect(x.subject.split("\n").sort()).toEqual([`CN=${appName}`, "DC=device1.plant.local"]);
    // openssl agrees, with the purpose checks a TLS-style stack applies.
    fs.writeFileSync(path.join(work, "ca.pem"), ca.toString());
    fs.writeFileSync(path.join(work, "leaf.pem"), x.toString());
    const v = spawnSync("openssl", ["verify", "-CAfile", path.join(work, "ca.pem"), "-purpose", "sslclient", path.join(work, "leaf.pem")], { encoding: "utf8" });
    expect(v.stdout).toContain("OK");
  });

  test("the private key of a CSR request stays with the application: FinishRequest returns none; a retry returns the same certificate", async () => {
    const start = await startSigningRequest(admin, appId, csr({ uri: appUri }));
    const requestId = start.outputs[0].value as NodeId;
    const first = await finishRequest(admin, appId, requestId);
    const again = await finishRequest(admin, appId, requestId);
    expectStatus(again, "Good");
    expect(first.outputs[1].value ?? null).toBeNull();
    expect((again.outputs[0].value as Buffer).equals(first.outputs[0].value as Buffer)).toBe(true);
  });

  test("CSR errors: garbage → BadInvalidArgument, foreign URI → BadCertificateUriInvalid, RSA 1024 → BadInvalidArgument, EC key for the RSA type → BadInvalidArgument", async () => {
    const garbage = await startSigningRequest(admin, appId, crypto.randomBytes(300));
    expectStatus(garbage, "BadInvalidArgument");
    const foreign = await startSigningRequest(admin, appId, csr({ uri: "urn:somebody:else" }));
    expectStatus(foreign, "BadCertificateUriInvalid");
    expect(foreign.text).toContain(appUri);
    const weak = await startSigningRequest(admin, appId, csr({ uri: appUri, key: "rsa:1024" }), null, "RsaMin");
    expectStatus(weak, "BadInvalidArgument");
    expect(weak.text).toMatch(/1024/);
    const ec = await startSigningRequest(admin, appId, csr({ uri: appUri, key: "P-256" }));
    expectStatus(ec, "BadInvalidArgument");
  });

  test("an ECDSA P-256 CSR for EccNistP256ApplicationCertificateType is signed by the RSA CA", async () => {
    const { certificate: cert, issuers } = await issueFromCsr(admin, appId, csr({ uri: appUri, key: "P-256" }), null, "EccNistP256");
    const x = new crypto.X509Certificate(cert);
    expect(x.publicKey.asymmetricKeyType).toBe("ec");
    expect(x.verify(new crypto.X509Certificate(issuers[0]).publicKey)).toBe(true);
  });

  test("bad arguments: unknown application → BadNotFound, a ns0 group id → BadInvalidArgument, a type of another group → BadInvalidArgument, a foreign RequestId → BadInvalidArgument", async () => {
    const unknown = new NodeId(NodeId.NodeIdType.GUID, crypto.randomUUID(), appId.namespace);
    expectStatus(await getCertificateGroups(admin, unknown), "BadNotFound");
    expectStatus(await startSigningRequest(admin, unknown, csr({ uri: appUri })), "BadNotFound");
    expectStatus(await getTrustList(admin, appId, ns0(14156)), "BadInvalidArgument");
    expectStatus(await getCertificateStatus(admin, appId, null, "Https"), "BadInvalidArgument");
    const other = await registerOk(admin, sampleServer());
    const start = await startSigningRequest(admin, appId, csr({ uri: appUri }));
    expectStatus(await finishRequest(admin, other, start.outputs[0].value as NodeId), "BadInvalidArgument");
    expectStatus(await finishRequest(admin, appId, ns0(42)), "BadInvalidArgument");
  });

  test("security modes: key pairs and FinishRequest need SignAndEncrypt; the others work over Sign", async () => {
    const kp = await startNewKeyPairRequest(signOnly, appId, PEM_KEY_PAIR);
    expectStatus(kp, "BadSecurityModeInsufficient");
    const start = await startSigningRequest(signOnly, appId, csr({ uri: appUri }));
    expectStatus(start, "Good");
    expectStatus(await finishRequest(signOnly, appId, start.outputs[0].value as NodeId), "BadSecurityModeInsufficient");
    expectStatus(await getCertificateGroups(signOnly, appId), "Good");
  });

  test("roles: a user without CertificateAuthorityAdmin is refused (BadUserAccessDenied)", async () => {
    expectStatus(await getCertificateGroups(observer, appId), "BadUserAccessDenied");
    expectStatus(await startSigningRequest(observer, appId, csr({ uri: appUri })), "BadUserAccessDenied");
    const { certificate: cert } = await issueFromCsr(admin, appId, csr({ uri: appUri }));
    expectStatus(await revokeCertificate(observer, appId, cert), "BadUserAccessDenied");
    // CheckRevocationStatus is open to any signed channel.
    expectStatus(await checkRevocationStatus(observer, cert), "Good");
  });

  test("new key pairs: PEM (PKCS#8) and password-protected PFX (PKCS#12) keys match their certificates; other formats → BadInvalidArgument", async () => {
    const pem = await startNewKeyPairRequest(admin, appId, { ...PEM_KEY_PAIR, subjectName: "/CN=Pump 7/O=Acme" });
    expectStatus(pem, "Good");
    const pemDone = await finishRequest(admin, appId, pem.outputs[0].value as NodeId);
    expectStatus(pemDone, "Good");
    const cert = new crypto.X509Certificate(pemDone.outputs[0].value as Buffer);
    const key = crypto.createPrivateKey((pemDone.outputs[1].value as Buffer).toString("utf8"));
    expect(cert.checkPrivateKey(key)).toBe(true);
    // SubjectName is not used: the GDS builds the subject from the registered record.
    expect(cert.subject.split("\n").sort()).toEqual([`CN=${appName}`, "DC=device1.plant.local"]);
    expect(cert.subjectAltName).toContain("DNS:device1.plant.local"); // from the DiscoveryUrl

    // DomainNames other than the registered hosts are refused.
    const foreign = await startNewKeyPairRequest(admin, appId, { subjectName: "", domainNames: ["10.0.0.7", "pump7.local"], privateKeyFormat: "PFX", privateKeyPassword: "s3cret pfx" });
    expectStatus(foreign, "BadInvalidArgument");
    expect(foreign.text).toContain("10.0.0.7");
    const pfx = await startNewKeyPairRequest(admin, appId, { subjectName: "", domainNames: ["DEVICE1.plant.local"], privateKeyFormat: "PFX", privateKeyPassword: "s3cret pfx" });
    expectStatus(pfx, "Good");
    const pfxDone = await finishRequest(admin, appId, pfx.outputs[0].value as NodeId);
    expectStatus(pfxDone, "Good");
    const pfxFile = path.join(work, "key.pfx");
    fs.writeFileSync(pfxFile, pfxDone.outputs[1].value as Buffer);
    const out = spawnSync("openssl", ["pkcs12", "-in", pfxFile, "-passin", "pass:s3cret pfx", "-nodes", "-nocerts"], { encoding: "utf8" });
    expect(out.status).toBe(0);
    const pfxCert = new crypto.X509Certificate(pfxDone.outputs[0].value as Buffer);
    expect(pfxCert.checkPrivateKey(crypto.createPrivateKey(out.stdout))).toBe(true);
    expect(pfxCert.subjectAltName).toContain("DNS:DEVICE1.plant.local");
    // delivered once: the key is gone afterwards
    expectStatus(await finishRequest(admin, appId, pfx.outputs[0].value as NodeId), "BadInvalidArgument");

    const der = await startNewKeyPairRequest(admin, appId, { ...PEM_KEY_PAIR, privateKeyFormat: "DER" });
    expectStatus(der, "BadInvalidArgument");
    expect(der.text).toContain("PrivateKeyFormat");
  });

  test("groups, trust list, status and certificates; revocation re-signs the CRL and moves LastUpdateTime", async () => {
    const fresh = await registerOk(admin, sampleServer({ discoveryUrls: ["opc.tcp://fresh.local:4840", "https://fresh.local:443"] }));
    const groups = await getCertificateGroups(admin, fresh);
    expect((groups.outputs[0].value as NodeId[]).map((n) => n.value)).toEqual([615, 649, 683]);
    const tl = await getTrustList(admin, fresh);
    expectStatus(tl, "Good");
    const trustListId = tl.outputs[0].value as NodeId;
    expect(trustListId.value).toBe(616);
    expectStatus(await getCertificateStatus(admin, fresh), "Good");
    expect((await getCertificateStatus(admin, fresh)).outputs[0].value).toBe(true);

    const record = (await t.gds.directory.get(String(fresh.value).toLowerCase())).applicationUri;
    const start = await startSigningRequest(admin, fresh, csr({ uri: record }));
    const finish = await finishRequest(admin, fresh, start.outputs[0].value as NodeId);
    const cert = finish.outputs[0].value as Buffer;
    expect((await getCertificateStatus(admin, fresh)).outputs[0].value).toBe(false);
    const certs = await getCertificates(admin, fresh);
    expect((certs.outputs[0].value as NodeId[]).map((n) => n.value)).toEqual([12560]);
    expect((certs.outputs[1].value as Buffer[])[0].equals(cert)).toBe(true);
    const good = await checkRevocationStatus(admin, cert);
    expect((good.outputs[0].value as StatusCode).name).toBe("Good");
    expect((good.outputs[1].value as Date).getTime()).toBeGreaterThan(Date.now());

    const before = await readTrustListViaSession(admin.session, trustListId);
    const ca = (finish.outputs[2].value as Buffer[])[0];
    expect(before.content.trustedCertificates.some((c) => c.equals(ca))).toBe(true);
    expect(before.content.issuerCertificates.some((c) => c.equals(ca))).toBe(true);
    expect(before.content.trustedCrls).toHaveLength(1);
    const lastUpdateBefore = await readLastUpdateTime(admin, trustListId);

    await new Promise((r) => setTimeout(r, 20));
    expectStatus(await revokeCertificate(admin, fresh, cert), "Good");
    const revoked = await checkRevocationStatus(admin, cert);
    expect((revoked.outputs[0].value as StatusCode).name).toBe("BadCertificateRevoked");
    expect((await getCertificateStatus(admin, fresh)).outputs[0].value).toBe(true);
    expect((await getCertificates(admin, fresh)).outputs[1].value ?? []).toHaveLength(0);

    const after = await readTrustListViaSession(admin.session, trustListId);
    expect(after.content.trustedCrls[0].equals(before.content.trustedCrls[0])).toBe(false);
    fs.writeFileSync(path.join(work, "crl.der"), after.content.trustedCrls[0]);
    const crlText = spawnSync("openssl", ["crl", "-inform", "DER", "-in", path.join(work, "crl.der"), "-noout", "-text"], { encoding: "utf8" }).stdout;
    expect(crlText.replace(/:/g, "").toUpperCase()).toContain(new crypto.X509Certificate(cert).serialNumber.toUpperCase());
    const lastUpdateAfter = await readLastUpdateTime(admin, trustListId);
    expect(lastUpdateAfter.getTime()).toBeGreaterThan(lastUpdateBefore.getTime());
    // Revoking a certificate of another application is refused.
    expectStatus(await revokeCertificate(admin, appId, cert), "BadInvalidArgument");
  });

  test("UnregisterApplication revokes every certificate issued to the application", async () => {
    const app = sampleServer();
    const id = await registerOk(admin, app);
    const a = await startSigningRequest(admin, id, csr({ uri: app.applicationUri }));
    const certA = (await finishRequest(admin, id, a.outputs[0].value as NodeId)).outputs[0].value as Buffer;
    const b = await startSigningRequest(admin, id, csr({ uri: app.applicationUri }));
    const certB = (await finishRequest(admin, id, b.outputs[0].value as NodeId)).outputs[0].value as Buffer;
    expectStatus(await unregister(admin, id), "Good");
    for (const c of [certA, certB]) {
      expect(((await checkRevocationStatus(admin, c)).outputs[0].value as StatusCode).name).toBe("BadCertificateRevoked");
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
