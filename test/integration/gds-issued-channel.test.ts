import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestGds, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { NodeId } from "node-opcua";
import { APPLICATIONS_NAMESPACE_URI } from "../../src/opcua/application-codec.js";
import { connectWithCertificate, expectStatus, getCertificateGroups } from "./helpers/certificate-client.js";

/** The ApplicationId NodeId a client uses for a GUID the domain returned. */
async function applicationNodeId(s: TestSession, guid: string): Promise<NodeId> {
  const ns = ((await s.session.readNamespaceArray()) as string[]).indexOf(APPLICATIONS_NAMESPACE_URI);
  return new NodeId(NodeId.NodeIdType.GUID, guid, ns);
}

/**
 * GDS_ACCEPT_UNKNOWN_CERTIFICATES=false: unknown client certificates are refused, but the ones
 * this GDS issued open channels (the server's PKI trusts its own CAs), until they are revoked.
 */
describe("channels secured with GDS-issued certificates on a locked-down GDS", () => {
  let t: TestGds;
  const open: TestSession[] = [];
  let appId = "";
  let identity: { certificate: Buffer; privateKeyPem: string; applicationUri: string };

  beforeAll(async () => {
    t = await startTestGds({ acceptUnknownCertificates: false });
    const app = await t.gds.directory.register({
      applicationUri: "urn:test:locked-down:device",
      applicationType: 0,
      applicationNames: [{ locale: "en", text: "Locked-down device" }],
      productUri: "urn:test:product",
      discoveryUrls: ["opc.tcp://device.local:4840"],
      serverCapabilities: [],
    });
    appId = app.applicationId;
    // Issued in-process: no admin client can connect to a server that refuses unknown certificates.
    const request = await t.gds.certificates.startNewKeyPairRequest({ applicationId: appId, subjectName: "", domainNames: [], privateKeyFormat: "PEM", privateKeyPassword: "", actor: "test" });
    const result = await t.gds.certificates.finishRequest(appId, request.requestId, "test");
    identity = { certificate: result.certificate, privateKeyPem: result.privateKey!.toString("utf8"), applicationUri: app.applicationUri };
  });

  afterAll(async () => {
    for (const s of open) await s.close().catch(() => undefined);
    await t?.stop();
  });

  it("admits the GDS-issued certificate (without its chain) and the session acts as ApplicationSelfAdmin", async () => {
    const s = await connectWithCertificate(t.endpointUrl, identity);
    open.push(s);
    expectStatus(await getCertificateGroups(s, await applicationNodeId(s, appId)), "Good");
  });

  it("refuses it once revoked: the server PKI follows the CRL", async () => {
    await t.gds.certificates.revokeCertificate(appId, identity.certificate, "test");
    // The PKI update runs on the trust-list change, asynchronously: allow it up to 3 s.
    const deadline = Date.now() + 3000;
    let refused: unknown;
    while (!refused && Date.now() < deadline) {
      try {
        const s = await connectWithCertificate(t.endpointUrl, identity);
        await s.close();
        await new Promise((r) => setTimeout(r, 100));
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toBeInstanceOf(Error);
  });
});
