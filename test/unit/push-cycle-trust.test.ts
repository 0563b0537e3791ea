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
  let revoked: Buffer;
  let selfSigned: Buffer;
  let selfSigned2: Buffer;
  let selfSignedWrongUri: Buffer;
  let foreignIssued: Buffer;
  const revokedThumbs = new Set<string>();
  let store: DeviceTrustStore;
  const target = { applicationId: "0b7c8f3e-1111-4222-8333-944445555666", applicationUri: URI, group: "DefaultApplicationGroup" as const };

  beforeAll(async () => {
    ca = await selfSignedCertificate({ subject: "CN=GDS CA", ca: true });
    otherCa = await selfSignedCertificate({ subject: "CN=Other CA", ca: true });
    gdsIssued = await certificate({ issuer: ca, subject: "CN=device", uri: URI });
    revoked = await certificate({ issuer: ca, subject: "CN=device", uri: URI });
    revokedThumbs.add(sha1(revoked));
    selfSigned = await certificate({ subject: "CN=device", uri: URI });
    selfSigned2 = await certificate({ subject: "CN=device", uri: URI });
    selfSignedWrongUri = await certificate({ subject: "CN=device", uri: "urn:someone:else" });
    foreignIssued = await certificate({ issuer: otherCa, subject: "CN=device", uri: URI });
    const certificates = {
      trustList: () => ({ group: "DefaultApplicationGroup", trustedCertificates: [ca.der], issuerCertificates: [ca.der], trustedCrls: [], issuerCrls: [], lastUpdateTime: new Date() }),
      checkRevocationStatus: (der: Buffer) => ({ status: revokedThumbs.has(sha1(der)) ? "BadCertificateRevoked" : "Good", validityTime: new Date() }),
    } as unknown as CertificateManagerService;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "push-trust-unit-"));
    store = new DeviceTrustStore(dataDir, certificates, { now: () => new Date("2026-06-01T00:00:00Z") });
  });

  it("splits a concatenated DER chain", () => {
    expect(splitDerChain(Buffer.concat([gdsIssued, ca.der])).map(sha1)).toEqual([sha1(gdsIssued), sha1(ca.der)]);
    expect(() => splitDerChain(Buffer.from("garbage"))).toThrow();
  });

  it("trusts a certificate of the GDS CA, refuses a revoked one, and a chain is judged by its leaf", async () => {
    expect((await store.judge(target, gdsIssued)).status.name).toBe("Good");
    expect((await store.judge(target, Buffer.concat([gdsIssued, ca.der]))).kind).toBe("gdsIssued");
    expect((await store.judge(target, revoked)).status.name).toBe("BadCertificateRevoked");
    expect((await store.judge(target, Buffer.from("garbage"))).status.name).toBe("BadCertificateInvalid");
  });

  it("refuses a certificate of another CA and a self-signed one without the device's ApplicationUri", async () => {
    expect((await store.judge(target, foreignIssued)).status.name).toBe("BadCertificateUntrusted");
    expect((await store.judge(target, selfSignedWrongUri)).status.name).toBe("BadCertificateUriInvalid");
    expect(store.readPin(target.applicationId)).toBeUndefined();
  });

  it("pins the first self-signed certificate, accepts only that one after, and none once a GDS certificate was confirmed", async () => {
    const first = await store.judge(target, selfSigned);
    expect(first).toMatchObject({ kind: "firstContact" });
    expect(first.status.name).toBe("Good");
    expect(store.readPin(target.applicationId)?.pinnedThumbprint).toBe(sha1(selfSigned));
    expect((await store.judge(target, selfSigned)).kind).toBe("pinned");
    expect((await store.judge(target, selfSigned2)).status.name).toBe("BadCertificateUntrusted");

    await store.markGdsCertificateConfirmed(target.applicationId, URI);
    const after = await store.judge(target, selfSigned);
    expect(after.status.name).toBe("BadCertificateUntrusted");
    expect(after.reason).toContain("confirmed on a GDS certificate");
    expect((await store.judge(target, gdsIssued)).status.name).toBe("Good");
    // The ICertificateStore node-opcua's client calls gives the same verdicts.
    const clientStore = store.storeFor(target);
    expect((await clientStore.checkCertificate(gdsIssued)).name).toBe("Good");
    expect((await clientStore.checkCertificate(selfSigned)).name).toBe("BadCertificateUntrusted");
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
