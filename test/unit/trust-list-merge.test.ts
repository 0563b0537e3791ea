import { describe, expect, it, beforeAll } from "@jest/globals";
import crypto from "node:crypto";
import * as x509 from "@peculiar/x509";
import { checkTrustList, crlIssuerDer, planTrustListMerge, thumbprintOf } from "../../src/push/trust-list-merge.js";
import type { TrustListContent } from "../../src/requests/certificate-manager.types.js";
import { crlOf, generateKeys, selfSignedCertificate, type TestCertificate } from "./helpers/csr.js";

const EC_SIGN = { name: "ECDSA", hash: "SHA-256" } as EcdsaParams;

async function issuedBy(ca: TestCertificate, subject: string, uri?: string): Promise<Buffer> {
  const keys = await generateKeys("EC-P256");
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: crypto.randomBytes(8).toString("hex").replace(/^[89a-f]/, "1"),
    issuer: new x509.X509Certificate(new Uint8Array(ca.der)).subject,
    subject,
    notBefore: new Date("2020-01-01T00:00:00Z"),
    notAfter: new Date("2040-01-01T00:00:00Z"),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: EC_SIGN,
    extensions: uri ? [new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }])] : [],
  });
  return Buffer.from(cert.rawData);
}

async function selfSignedWithUri(subject: string, uri: string): Promise<Buffer> {
  const keys = await generateKeys("EC-P256");
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: subject,
    notBefore: new Date("2020-01-01T00:00:00Z"),
    notAfter: new Date("2040-01-01T00:00:00Z"),
    keys,
    signingAlgorithm: EC_SIGN,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }])],
  });
  return Buffer.from(cert.rawData);
}

const empty = (): TrustListContent => ({ trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] });
const thumbs = (list: Buffer[]) => list.map(thumbprintOf).sort();

describe("trust list merge (what the GDS writes into a device's TrustList)", () => {
  let ca: TestCertificate;
  let caRenewed: TestCertificate; // same subject, new key: our CA after a renewal
  let crlOld: Buffer;
  let crlNew: Buffer;
  let foreignCa: TestCertificate;
  let foreignCrl: Buffer;
  let peer: TestCertificate;
  let gdsOwn: Buffer;
  let gdsOwnOld: Buffer;
  let issuedLeaf: Buffer;
  let gds: TrustListContent;

  beforeAll(async () => {
    ca = await selfSignedCertificate({ subject: "CN=GDS CA", ca: true });
    caRenewed = await selfSignedCertificate({ subject: "CN=GDS CA", ca: true });
    crlOld = await crlOf(ca, [], new Date("2025-01-01T00:00:00Z"));
    crlNew = await crlOf(ca, ["0a"], new Date("2025-02-01T00:00:00Z"));
    foreignCa = await selfSignedCertificate({ subject: "CN=Plant CA", ca: true });
    foreignCrl = await crlOf(foreignCa);
    peer = await selfSignedCertificate({ subject: "CN=HMI panel" });
    gdsOwn = await selfSignedWithUri("CN=opcua-gds", "urn:host:opcua-gds");
    gdsOwnOld = await selfSignedWithUri("CN=opcua-gds", "urn:host:opcua-gds");
    issuedLeaf = await issuedBy(ca, "CN=other device", "urn:other");
    gds = { trustedCertificates: [ca.der], trustedCrls: [crlNew], issuerCertificates: [ca.der], issuerCrls: [crlNew] };
  });

  it("reads the issuer of a CRL and refuses what is not one", () => {
    const issuer = crlIssuerDer(crlNew);
    expect(issuer).toBeDefined();
    expect(crlIssuerDer(Buffer.from("not a crl"))).toBeUndefined();
    expect(crlIssuerDer(ca.der)).toBeUndefined();
  });

  it("on an empty device: the GDS list plus the GDS's own (self-signed) certificate", async () => {
    const plan = await planTrustListMerge({ device: empty(), gds, caCertificates: [ca.der], gdsCertificate: gdsOwn });
    expect(thumbs(plan.desired.trustedCertificates)).toEqual(thumbs([ca.der, gdsOwn]));
    expect(thumbs(plan.desired.issuerCertificates)).toEqual(thumbs([ca.der]));
    expect(thumbs(plan.desired.trustedCrls)).toEqual(thumbs([crlNew]));
    expect(thumbs(plan.desired.issuerCrls)).toEqual(thumbs([crlNew]));
    expect(plan.toRemove).toEqual([]);
    expect(plan.toAdd).toHaveLength(5);
    expect(plan.unchanged).toBe(false);
  });

  it("keeps the device's own entries, replaces our old CRL, old CA copy, old GDS certificate and certificates our CA issued", async () => {
    const device: TrustListContent = {
      trustedCertificates: [peer.der, caRenewed.der, gdsOwnOld, issuedLeaf, foreignCa.der],
      trustedCrls: [crlOld, foreignCrl],
      issuerCertificates: [foreignCa.der, caRenewed.der],
      issuerCrls: [crlOld, foreignCrl],
    };
    const plan = await planTrustListMerge({ device, gds, caCertificates: [ca.der], gdsCertificate: gdsOwn });
    expect(thumbs(plan.desired.trustedCertificates)).toEqual(thumbs([peer.der, foreignCa.der, ca.der, gdsOwn]));
    expect(thumbs(plan.desired.trustedCrls)).toEqual(thumbs([foreignCrl, crlNew]));
    expect(thumbs(plan.desired.issuerCertificates)).toEqual(thumbs([foreignCa.der, ca.der]));
    expect(thumbs(plan.desired.issuerCrls)).toEqual(thumbs([foreignCrl, crlNew]));
    expect(plan.toRemove.map((r) => `${r.list}:${r.thumbprint}`).sort()).toEqual(
      [
        `trustedCertificates:${thumbprintOf(caRenewed.der)}`,
        `trustedCertificates:${thumbprintOf(gdsOwnOld)}`,
        `trustedCertificates:${thumbprintOf(issuedLeaf)}`,
        `trustedCrls:${thumbprintOf(crlOld)}`,
        `issuerCertificates:${thumbprintOf(caRenewed.der)}`,
        `issuerCrls:${thumbprintOf(crlOld)}`,
      ].sort(),
    );
  });

  it("does not add the GDS's own certificate when our CA in the list issued it", async () => {
    const ownIssued = await issuedBy(ca, "CN=opcua-gds", "urn:host:opcua-gds");
    const plan = await planTrustListMerge({ device: empty(), gds, caCertificates: [ca.der], gdsCertificate: ownIssued });
    expect(thumbs(plan.desired.trustedCertificates)).toEqual(thumbs([ca.der]));
    expect(plan.required.map((r) => r.thumbprint)).not.toContain(thumbprintOf(ownIssued));
  });

  it("an up-to-date device is unchanged; duplicates and garbage entries of the device are kept once", async () => {
    const garbage = Buffer.from("device junk");
    const device: TrustListContent = {
      trustedCertificates: [ca.der, gdsOwn, peer.der, peer.der, garbage],
      trustedCrls: [crlNew, garbage],
      issuerCertificates: [ca.der],
      issuerCrls: [crlNew],
    };
    const plan = await planTrustListMerge({ device, gds, caCertificates: [ca.der], gdsCertificate: gdsOwn });
    expect(plan.unchanged).toBe(true);
    expect(thumbs(plan.desired.trustedCertificates)).toEqual(thumbs([ca.der, gdsOwn, peer.der, garbage]));
    expect(thumbs(plan.desired.trustedCrls)).toEqual(thumbs([crlNew, garbage]));
  });

  it("external entries of the GDS list go to the device too", async () => {
    const withExternal: TrustListContent = { ...gds, trustedCertificates: [ca.der, foreignCa.der], trustedCrls: [crlNew, foreignCrl] };
    const plan = await planTrustListMerge({ device: empty(), gds: withExternal, caCertificates: [ca.der], gdsCertificate: gdsOwn });
    expect(thumbs(plan.desired.trustedCertificates)).toEqual(thumbs([ca.der, foreignCa.der, gdsOwn]));
    expect(thumbs(plan.desired.trustedCrls)).toEqual(thumbs([crlNew, foreignCrl]));
  });

  it("checks a read-back: complete, CRLs missing (certificates confirmed), certificates missing, leftovers", async () => {
    const device: TrustListContent = { ...empty(), trustedCrls: [crlOld] };
    const plan = await planTrustListMerge({ device, gds, caCertificates: [ca.der], gdsCertificate: gdsOwn });

    const complete = checkTrustList(plan.desired, plan);
    expect(complete).toMatchObject({ complete: true, certificatesConfirmed: true, missing: [], leftovers: [] });

    // What node-opcua-server-configuration 2.157 ends with: certificates via AddCertificate, no CRLs, old CRL kept.
    const noCrls: TrustListContent = { trustedCertificates: [ca.der, gdsOwn], trustedCrls: [crlOld], issuerCertificates: [ca.der], issuerCrls: [] };
    const partial = checkTrustList(noCrls, plan);
    expect(partial.complete).toBe(false);
    expect(partial.certificatesConfirmed).toBe(true);
    expect(partial.missing.map((m) => m.list).sort()).toEqual(["issuerCrls", "trustedCrls"]);
    expect(partial.leftovers.map((l) => l.thumbprint)).toEqual([thumbprintOf(crlOld)]);

    // CloseAndUpdate answered Good and nothing changed.
    const unchanged = checkTrustList(device, plan);
    expect(unchanged.certificatesConfirmed).toBe(false);
    expect(unchanged.missing.length).toBe(plan.required.length);
  });
});
