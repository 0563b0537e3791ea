/**
 * ApplicationSelfAdmin (OPC 10000-12 §6 / gds-spec §6): an anonymous session on a channel secured
 * with the certificate the GDS issued to application A may administer A (its certificate groups,
 * trust list, status, renewal, its own record) and nothing else; a self-signed stranger may do
 * none of it; only a CertificateAuthorityAdmin revokes; a revoked certificate loses the privilege
 * at once, on the session that is already open; A may unregister itself, which revokes every
 * certificate it holds.
 */
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { NodeId } from "node-opcua";
import { connect, startTestGds, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { getApplication, registerOk, sampleServer, unregister, update, type AppFields } from "./helpers/directory-client.js";
import {
  checkRevocationStatus,
  connectWithCertificate,
  expectStatus,
  finishRequest,
  getCertificateGroups,
  getCertificates,
  getCertificateStatus,
  getTrustList,
  issueFromCsr,
  issueNewKeyPair,
  revokeCertificate,
  startNewKeyPairRequest,
  startSigningRequest,
  statusName,
  GROUP,
  type CertificateIdentity,
  type IssuedCertificate,
} from "./helpers/certificate-client.js";
import { makeCsr } from "./helpers/csr.js";
import { readTrustListViaSession } from "../../src/opcua/trust-list-client.js";

describe("ApplicationSelfAdmin", () => {
  let t: TestGds;
  let admin: TestSession;
  let asA: TestSession;
  let appA: AppFields;
  let appB: AppFields;
  let idA: NodeId;
  let idB: NodeId;
  let first: IssuedCertificate;
  let firstIdentity: CertificateIdentity;
  /** A's second certificate, from its own CSR (StartSigningRequest as A). */
  let second: CertificateIdentity | undefined;
  const open: TestSession[] = [];

  beforeAll(async () => {
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
    appA = sampleServer({ applicationUri: `urn:test:self-admin:A:${process.pid}`, discoveryUrls: ["opc.tcp://a.plant.local:4840"] });
    appB = sampleServer({ applicationUri: `urn:test:self-admin:B:${process.pid}`, discoveryUrls: ["opc.tcp://b.plant.local:4840"] });
    idA = await registerOk(admin, appA);
    idB = await registerOk(admin, appB);
    first = await issueNewKeyPair(admin, idA, { privateKeyFormat: "PEM" });
    // The CA chain goes with the certificate (SenderCertificate = leaf + issuers), as an
    // application that installed the FinishRequest result sends it.
    // node-opcua keeps the whole chain as the channel's client certificate; the GDS must match the leaf.
    firstIdentity = { certificate: first.certificate, chain: first.issuers, privateKeyPem: first.privateKeyPem!, applicationUri: appA.applicationUri };
    asA = await connectWithCertificate(t.endpointUrl, firstIdentity);
    open.push(asA);
  });

  afterAll(async () => {
    for (const s of open) await s.close().catch(() => undefined);
    await admin?.close();
    await t?.stop();
  });

  it("lets A, anonymous on a channel secured with its GDS-issued certificate, administer itself", async () => {
    const groups = await getCertificateGroups(asA, idA);
    expectStatus(groups, "Good");
    expect((groups.outputs[0].value as NodeId[]).map((n) => n.toString())).toContain(new NodeId(NodeId.NodeIdType.NUMERIC, GROUP.DefaultApplicationGroup, asA.gdsNs).toString());

    const tl = await getTrustList(asA, idA);
    expectStatus(tl, "Good");
    const list = await readTrustListViaSession(asA.session, tl.outputs[0].value as NodeId);
    expect(list.content.trustedCertificates.some((c) => c.equals(first.issuers[0]))).toBe(true);
    expect(list.content.trustedCrls.length).toBeGreaterThan(0);

    const status = await getCertificateStatus(asA, idA);
    expectStatus(status, "Good");
    expect(status.outputs[0].value).toBe(false);

    // renewal from its own key: StartSigningRequest + FinishRequest as A
    const csr = await makeCsr({ applicationUri: appA.applicationUri, subject: "CN=A renewed", dnsNames: ["a.plant.local"] });
    const start = await startSigningRequest(asA, idA, csr.der);
    expectStatus(start, "Good");
    const finish = await finishRequest(asA, idA, start.outputs[0].value as NodeId);
    expectStatus(finish, "Good");
    const renewed = Buffer.from(finish.outputs[0].value as Buffer);
    const renewedKey = new crypto.X509Certificate(renewed).publicKey.export({ type: "spki", format: "der" });
    expect(Buffer.from(renewedKey).equals(csr.publicKeySpki)).toBe(true);
    second = { certificate: renewed, chain: ((finish.outputs[2].value as Buffer[] | null) ?? []).map((b) => Buffer.from(b)), privateKeyPem: csr.privateKeyPem, applicationUri: appA.applicationUri };

    const certs = await getCertificates(asA, idA);
    expectStatus(certs, "Good");

    expectStatus(await getApplication(asA, idA), "Good");
    expectStatus(await update(asA, { ...appA, applicationId: idA, applicationNames: [{ text: "A, renamed by itself", locale: "en" }] }), "Good");
  });

  it("accepts A's certificate sent without its CA chain (the GDS knows its own CA)", async () => {
    // Without the CA in the server's own PKI this fails with BadCertificateChainIncomplete at
    // OpenSecureChannel, which node-opcua never auto-accepts.
    const leafOnly = await connectWithCertificate(t.endpointUrl, { ...firstIdentity, chain: [] });
    open.push(leafOnly);
    expectStatus(await getCertificateGroups(leafOnly, idA), "Good");
  });

  it("refuses A everything about B, and revoking even its own certificate", async () => {
    expectStatus(await getCertificateGroups(asA, idB), "BadUserAccessDenied");
    expectStatus(await startNewKeyPairRequest(asA, idB, { privateKeyFormat: "PEM" }), "BadUserAccessDenied");
    expectStatus(await update(asA, { ...appB, applicationId: idB, applicationNames: [{ text: "B, hijacked", locale: "en" }] }), "BadUserAccessDenied");
    expectStatus(await unregister(asA, idB), "BadUserAccessDenied");
    expectStatus(await getTrustList(asA, idB), "BadUserAccessDenied");
    expectStatus(await getCertificateStatus(asA, idB), "BadUserAccessDenied");
    // only a CertificateAuthorityAdmin revokes
    expectStatus(await revokeCertificate(asA, idA, first.certificate), "BadUserAccessDenied");
    // B is untouched
    expectStatus(await getApplication(admin, idB), "Good");
  });

  it("gives an anonymous client with an untrusted self-signed certificate no self-admin rights", async () => {
    const stranger = await connect(t.endpointUrl, { user: null });
    open.push(stranger);
    expectStatus(await getCertificateGroups(stranger, idA), "BadUserAccessDenied");
    expectStatus(await getCertificateStatus(stranger, idA), "BadUserAccessDenied");
  });

  it("takes the privilege away from the open session the moment the admin revokes its certificate", async () => {
    // A's second certificate, for the last test, must exist before the revocation: normally A got
    // it itself in the first test; if that failed, the admin issues one from A's CSR.
    if (!second) {
      const csr = await makeCsr({ applicationUri: appA.applicationUri, subject: "CN=A second", dnsNames: ["a.plant.local"] });
      const issued = await issueFromCsr(admin, idA, csr.der);
      second = { certificate: issued.certificate, chain: issued.issuers, privateKeyPem: csr.privateKeyPem, applicationUri: appA.applicationUri };
    }
    expectStatus(await revokeCertificate(admin, idA, first.certificate), "Good");
    expectStatus(await getCertificateGroups(asA, idA), "BadUserAccessDenied");
    expectStatus(await getTrustList(asA, idA), "BadUserAccessDenied");
    const check = await checkRevocationStatus(admin, first.certificate);
    expectStatus(check, "Good");
    expect(statusName({ ...check, statusCode: check.outputs[0].value })).toBe("BadCertificateRevoked");
  });

  it("lets A unregister itself with its other certificate, which revokes all of A's certificates", async () => {
    const asA2 = await connectWithCertificate(t.endpointUrl, second!);
    open.push(asA2);
    expectStatus(await getCertificateGroups(asA2, idA), "Good");
    expectStatus(await unregister(asA2, idA), "Good");
    expectStatus(await getApplication(admin, idA), "BadNotFound");
    for (const der of [first.certificate, second!.certificate]) {
      const check = await checkRevocationStatus(admin, der);
      expectStatus(check, "Good");
      expect(statusName({ ...check, statusCode: check.outputs[0].value })).toBe("BadCertificateRevoked");
    }
    // and the privilege is gone with the record
    expect(statusName(await getCertificateGroups(asA2, idA))).toMatch(/^Bad(UserAccessDenied|NotFound)$/);
  });
});
