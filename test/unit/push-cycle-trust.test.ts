import { beforeAll, describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { DeviceTrustStore, splitDerChain } from "../../src/push/device-trust.js";
import { statusNameOf } from "../../src/push/push-cycle.js";
import { GdsError } from "../../src/errors.js";
import type { CertificateManagerService } from "../../src/requests/certificate-manager-service.js";
import type { CertificateRecord } from "../../src/requests/certificate-manager.types.js";
import { generateKeys, selfSignedCertificate, type TestCertificate } from "./helpers/csr.js";

const EC_SIGN = { name: "ECDSA", hash: "SHA-256" } as EcdsaParams;
const URI = "urn:test:device:1";
const sha1 = (der: Buffer) => crypto.createHash("sha1").update(der).digest("hex");

async function certificate(opts: { issuer?: TestCertificate; subject: string; uri?: string; notAfter?: Date }): Promise<Buffer> {
  const keys = await generateKeys("EC-P256");
  const common = {
    serialNumber: crypto.randomBytes(8).toString("hex").replace(/^[89a-f]/, "1"),
    notBefore: new Date("2020-01-01T00:00:00Z"),
    notAfter: opts.notAfter ?? new Date("2040-01-01T00:00:00Z"),
    signingAlgorithm: EC_SIGN,
    extensions: opts.uri ? [new x509.SubjectAlternativeNameExtension([{ type: "url", value: opts.uri }])] : [],
  };
  const cert = opts.issuer
    ? await x509.X509CertificateGenerator.create({
        ...common,
        issuer: new x509.X509Certificate(new Uint8Array(opts.issuer.der)).subject,
        subject: opts.subject,
        publicKey: keys.publicKey,
        signingKey: opts.issuer.keys.privateKey,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: opts.subject, keys });
  return Buffer.from(cert.rawData);
}

describe("DeviceTrustStore: how the push client judges a device's certificate", () => {
  let ca: TestCertificate;
  let otherCa: TestCertificate;
  let gdsIssued: Buffer;
  let olderGdsIssued: Buffer;
  let newerGdsIssued: Buffer;
  let revoked: Buffer;
  let issuedToOtherApp: Buffer;
  let issuedToOtherAppSameUri: Buffer;
  let caSignedNotOnRecord: Buffer;
  let selfSigned: Buffer;
  let selfSigned2: Buffer;
  let selfSignedWrongUri: Buffer;
  let foreignIssued: Buffer;
  const revokedThumbs = new Set<string>();
  const records = new Map<string, CertificateRecord>();
  let store: DeviceTrustStore;
  let dataDir: string;
  const target = { applicationId: "0b7c8f3e-1111-4222-8333-944445555666", applicationUri: URI, group: "DefaultApplicationGroup" as const };
  const OTHER_APP = "0b7c8f3e-9999-4222-8333-944445555666";

  const record = (der: Buffer, applicationId: string, issuedAt: string, revokedAt?: string) => {
    const serialHex = crypto.randomBytes(4).toString("hex");
    records.set(sha1(der), { serialHex, applicationId, issuedAt, thumbprint: sha1(der), ...(revokedAt ? { revokedAt } : {}) } as CertificateRecord);
  };

  beforeAll(async () => {
    ca = await selfSignedCertificate({ subject: "CN=GDS CA", ca: true });
    otherCa = await selfSignedCertificate({ subject: "CN=Other CA", ca: true });
    gdsIssued = await certificate({ issuer: ca, subject: "CN=device", uri: URI });
    olderGdsIssued = await certificate({ issuer: ca, subject: "CN=device", uri: URI });
    newerGdsIssued = await certificate({ issuer: ca, subject: "CN=device", uri: URI });
    revoked = await certificate({ issuer: ca, subject: "CN=device", uri: URI });
    issuedToOtherApp = await certificate({ issuer: ca, subject: "CN=other", uri: "urn:test:other-app" });
    issuedToOtherAppSameUri = await certificate({ issuer: ca, subject: "CN=other", uri: URI });
    caSignedNotOnRecord = await certificate({ issuer: ca, subject: "CN=device", uri: URI });
    revokedThumbs.add(sha1(revoked));
    selfSigned = await certificate({ subject: "CN=device", uri: URI });
    selfSigned2 = await certificate({ subject: "CN=device", uri: URI });
    selfSignedWrongUri = await certificate({ subject: "CN=device", uri: "urn:someone:else" });
    foreignIssued = await certificate({ issuer: otherCa, subject: "CN=device", uri: URI });
    record(olderGdsIssued, target.applicationId, "2026-05-01T00:00:00.000Z");
    record(gdsIssued, target.applicationId, "2026-05-10T00:00:00.000Z");
    record(newerGdsIssued, target.applicationId, "2026-05-20T00:00:00.000Z");
    record(revoked, target.applicationId, "2026-05-21T00:00:00.000Z", "2026-05-22T00:00:00.000Z");
    record(issuedToOtherApp, OTHER_APP, "2026-05-10T00:00:00.000Z");
    record(issuedToOtherAppSameUri, OTHER_APP, "2026-05-10T00:00:00.000Z");
    const certificates = {
      trustList: () => ({ group: "DefaultApplicationGroup", trustedCertificates: [ca.der], issuerCertificates: [ca.der], trustedCrls: [], issuerCrls: [], lastUpdateTime: new Date() }),
      checkRevocationStatus: (der: Buffer) => ({ status: revokedThumbs.has(sha1(der)) ? "BadCertificateRevoked" : "Good", validityTime: new Date() }),
      issuedCertificate: (der: Buffer) => records.get(sha1(der)),
    } as unknown as CertificateManagerService;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "push-trust-unit-"));
    store = new DeviceTrustStore(dataDir, certificates, { now: () => new Date("2026-06-01T00:00:00Z") });
  });

  it("splits a concatenated DER chain", () => {
    expect(splitDerChain(Buffer.concat([gdsIssued, ca.der])).map(sha1)).toEqual([sha1(gdsIssued), sha1(ca.der)]);
    expect(() => splitDerChain(Buffer.from("garbage"))).toThrow();
  });

  it("trusts a certificate the GDS issued to the application, refuses a revoked one, and a chain is judged by its leaf", async () => {
    expect((await store.judge(target, gdsIssued)).status.name).toBe("Good");
    expect((await store.judge(target, Buffer.concat([gdsIssued, ca.der]))).kind).toBe("gdsIssued");
    expect((await store.judge(target, revoked)).status.name).toBe("BadCertificateRevoked");
    expect((await store.judge(target, Buffer.from("garbage"))).status.name).toBe("BadCertificateInvalid");
  });

  it("refuses a GDS certificate of another application: by its ApplicationUri, and by the record's ApplicationId", async () => {
    const other = await store.judge(target, issuedToOtherApp);
    expect(other.status.name).toBe("BadCertificateUriInvalid");
    expect(other.reason).toContain("urn:test:other-app");
    expect(other.uris).toEqual(["urn:test:other-app"]);
    const sameUri = await store.judge(target, issuedToOtherAppSameUri);
    expect(sameUri.status.name).toBe("BadCertificateUntrusted");
    expect(sameUri.reason).toContain(OTHER_APP);
  });

  it("refuses a certificate of another CA and a self-signed one without the device's ApplicationUri", async () => {
    expect((await store.judge(target, foreignIssued)).status.name).toBe("BadCertificateUntrusted");
    expect((await store.judge(target, selfSignedWrongUri)).status.name).toBe("BadCertificateUriInvalid");
    expect(store.readPin(target.applicationId)).toBeUndefined();
  });

  it("refuses a pinned self-signed certificate that does not carry the registered ApplicationUri", async () => {
    const other = { ...target, applicationId: "0b7c8f3e-2222-4222-8333-944445555666" };
    const dir = path.join(dataDir, "push-pki", "devices");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${other.applicationId}.json`), JSON.stringify({ applicationId: other.applicationId, applicationUri: URI, pinnedThumbprint: sha1(selfSignedWrongUri) }));
    expect((await store.judge(other, selfSignedWrongUri)).status.name).toBe("BadCertificateUriInvalid");
  });

  it("pins the first self-signed certificate, accepts only that one after, and none once a GDS certificate was confirmed", async () => {
    expect((await store.judge(target, caSignedNotOnRecord)).kind).toBe("trustListIssued");
    const first = await store.judge(target, selfSigned);
    expect(first).toMatchObject({ kind: "firstContact" });
    expect(first.status.name).toBe("Good");
    expect(store.readPin(target.applicationId)?.pinnedThumbprint).toBe(sha1(selfSigned));
    expect((await store.judge(target, selfSigned)).kind).toBe("pinned");
    expect((await store.judge(target, selfSigned2)).status.name).toBe("BadCertificateUntrusted");

    await store.markGdsCertificateConfirmed(target.applicationId, URI, gdsIssued);
    expect(store.readPin(target.applicationId)).toMatchObject({ confirmedThumbprint: sha1(gdsIssued), confirmedIssuedAt: "2026-05-10T00:00:00.000Z" });
    const after = await store.judge(target, selfSigned);
    expect(after.status.name).toBe("BadCertificateUntrusted");
    expect(after.reason).toContain("confirmed on a GDS certificate");
    // The confirmed certificate, and one issued to the application after it.
    expect((await store.judge(target, gdsIssued)).status.name).toBe("Good");
    expect((await store.judge(target, newerGdsIssued)).status.name).toBe("Good");
    // An older certificate of the application, and a CA-signed one not on record: not any more.
    const older = await store.judge(target, olderGdsIssued);
    expect(older.status.name).toBe("BadCertificateUntrusted");
    expect(older.reason).toContain("older than the certificate the GDS confirmed");
    expect((await store.judge(target, caSignedNotOnRecord)).status.name).toBe("BadCertificateUntrusted");
    // The ICertificateStore node-opcua's client calls gives the same verdicts.
    const clientStore = store.storeFor(target);
    expect((await clientStore.checkCertificate(gdsIssued)).name).toBe("Good");
    expect((await clientStore.checkCertificate(selfSigned)).name).toBe("BadCertificateUntrusted");
    expect((await clientStore.checkCertificate(issuedToOtherApp)).name).toBe("BadCertificateUriInvalid");
  });
});

describe("statusNameOf: the status code name a failure carries", () => {
  it("takes the OPC UA name from node-opcua messages, GdsError, and classifies socket errors and timeouts", () => {
    expect(statusNameOf(new Error("ActivateSession failed: BadUserAccessDenied (0x801f0000)"))).toBe("BadUserAccessDenied");
    expect(statusNameOf(new GdsError("BadNothingToDo", "pending"))).toBe("BadNothingToDo");
    expect(statusNameOf(new Error("connect ECONNREFUSED 127.0.0.1:4840"))).toBe("BadCommunicationError");
    expect(statusNameOf(new Error("Transaction has timed out"))).toBe("BadTimeout");
    expect(statusNameOf(new Error("Connection Break"))).toBe("BadConnectionClosed");
    expect(statusNameOf(new Error("something else"))).toBe("BadUnexpectedError");
    expect(statusNameOf("a string", "BadCommunicationError")).toBe("BadCommunicationError");
  });
});
