/**
 * "The certificates are real": a certificate and key the GDS issues (StartNewKeyPairRequest, PEM)
 * secure a Basic256Sha256 SignAndEncrypt channel to a plain node-opcua server that trusts nothing
 * but the GDS CA and holds the GDS CRL, both fetched from the GDS over OPC UA (GetTrustList + the
 * TrustList file). After RevokeCertificate the refreshed CRL lists the serial, that server refuses
 * the same client, and openssl agrees before and after.
 *
 * Trust-list refresh on the plain server: the new CRL overwrites the old file in trusted/crl and
 * `reloadCertificates()` re-scans the PKI folders. node-opcua-pki indexes CRLs in memory; without
 * the re-scan, right after the overwrite its watcher is mid-update and verifyCertificate answered
 * BadCertificateUntrusted instead of BadCertificateRevoked. No server restart is needed.
 */
import "reflect-metadata";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as x509 from "@peculiar/x509";
import { AttributeIds, MessageSecurityMode, NodeId, OPCUACertificateManager, OPCUAServer, SecurityPolicy } from "node-opcua";
import { connect, freePort, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { registerOk } from "./helpers/directory-client.js";
import {
  certificatePem,
  connectWithCertificate,
  expectStatus,
  fetchTrustList,
  issueNewKeyPair,
  readLastUpdateTime,
  revokeCertificate,
  serialOf,
  type CertificateIdentity,
  type IssuedCertificate,
} from "./helpers/certificate-client.js";
import { derToPem } from "./helpers/csr.js";

const OPENSSL = "/usr/bin/openssl";

/** A plain node-opcua server whose PKI trusts exactly one CA, with that CA's CRL. */
interface PlainServer {
  endpointUrl: string;
  pki: OPCUACertificateManager;
  /** Overwrites the CRL file and makes the certificate manager re-read its folders. */
  replaceCrl(crlDer: Buffer): Promise<void>;
  stop(): Promise<void>;
}

async function startPlainServer(port: number, caDer: Buffer, crlDer: Buffer): Promise<PlainServer> {
  const root = tempDir("gds-proof-server-");
  const pki = new OPCUACertificateManager({ rootFolder: path.join(root, "pki"), automaticallyAcceptUnknownCertificate: false });
  await pki.initialize();
  const userPki = new OPCUACertificateManager({ rootFolder: path.join(root, "user-pki"), automaticallyAcceptUnknownCertificate: false });
  await userPki.initialize();
  fs.writeFileSync(path.join(pki.trustedFolder, "gds-ca.pem"), certificatePem(caDer));
  const crlFile = path.join(pki.crlFolder, "gds-ca.crl.pem");
  fs.writeFileSync(crlFile, derToPem(crlDer, "X509 CRL"));
  await pki.reloadCertificates();

  const server = new OPCUAServer({
    port,
    hostname: "127.0.0.1",
    alternateHostname: ["127.0.0.1"],
    serverCertificateManager: pki,
    userCertificateManager: userPki,
    securityModes: [MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.Basic256Sha256],
    allowAnonymous: true,
    serverInfo: { applicationUri: `urn:test:plain-server:${process.pid}`, applicationName: { text: "plain test server" } },
  });
  await server.start();
  return {
    endpointUrl: `opc.tcp://127.0.0.1:${port}`,
    pki,
    async replaceCrl(der: Buffer) {
      fs.writeFileSync(crlFile, derToPem(der, "X509 CRL"));
      await pki.reloadCertificates();
    },
    async stop() {
      await server.shutdown(0);
      await pki.dispose();
      await userPki.dispose();
    },
  };
}

/** `openssl verify -CAfile ca -CRLfile crl -crl_check leaf`. */
function opensslVerify(dir: string, caDer: Buffer, crlDer: Buffer, leafDer: Buffer): { status: number | null; output: string } {
  fs.mkdirSync(dir, { recursive: true });
  const ca = path.join(dir, "ca.pem");
  const crl = path.join(dir, "crl.pem");
  const leaf = path.join(dir, "leaf.pem");
  fs.writeFileSync(ca, certificatePem(caDer));
  fs.writeFileSync(crl, derToPem(crlDer, "X509 CRL"));
  fs.writeFileSync(leaf, certificatePem(leafDer));
  const r = spawnSync(OPENSSL, ["verify", "-CAfile", ca, "-CRLfile", crl, "-crl_check", leaf], { encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function crlSerials(crlDer: Buffer): string[] {
  return new x509.X509Crl(new Uint8Array(crlDer)).entries.map((e) => e.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ""));
}

/** The CRL in `crls` issued by `caDer` (the GDS lists one per CA). */
function crlOf(crls: Buffer[], caDer: Buffer): Buffer {
  const ca = new x509.X509Certificate(new Uint8Array(caDer));
  const mine = crls.filter((c) => new x509.X509Crl(new Uint8Array(c)).issuer === ca.subject);
  expect(mine).toHaveLength(1);
  return mine[0];
}

describe("a GDS-issued certificate on a plain OPC UA server", () => {
  const work = tempDir("gds-proof-");
  const applicationUri = `urn:test:proof-client:${process.pid}`;
  let t: TestGds;
  let admin: TestSession;
  let appId: NodeId;
  let issued: IssuedCertificate;
  let caDer: Buffer;
  let crlBefore: Buffer;
  let trustListId: NodeId;
  let plain: PlainServer;
  let identity: CertificateIdentity;

  beforeAll(async () => {
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
    const plainPort = await freePort();
    appId = await registerOk(admin, {
      applicationUri,
      applicationType: 2, // ClientAndServer
      applicationNames: [{ text: "Proof Client", locale: "en" }],
      productUri: "urn:test:product",
      discoveryUrls: [`opc.tcp://127.0.0.1:${plainPort}`],
      serverCapabilities: ["DA"],
    });
    issued = await issueNewKeyPair(admin, appId, { privateKeyFormat: "PEM" });
    identity = { certificate: issued.certificate, privateKeyPem: issued.privateKeyPem!, applicationUri };

    // Everything the plain server gets comes from the GDS over OPC UA.
    const fetched = await fetchTrustList(admin, appId);
    trustListId = fetched.trustListId;
    caDer = issued.issuers[0];
    expect(fetched.list.content.trustedCertificates.some((c) => c.equals(caDer))).toBe(true);
    crlBefore = crlOf(fetched.list.content.trustedCrls, caDer);
    plain = await startPlainServer(plainPort, caDer, crlBefore);
  });

  afterAll(async () => {
    await admin?.close();
    await plain?.stop();
    await t?.stop();
  });

  it("issues a certificate for the application's URI, signed by the CA, with the matching PEM key", () => {
    const cert = new crypto.X509Certificate(issued.certificate);
    const ca = new crypto.X509Certificate(caDer);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subjectAltName).toContain(`URI:${applicationUri}`);
    expect(issued.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const key = crypto.createPrivateKey(issued.privateKeyPem!);
    const fromKey = crypto.createPublicKey(key).export({ type: "spki", format: "der" });
    expect(Buffer.from(fromKey).equals(Buffer.from(cert.publicKey.export({ type: "spki", format: "der" })))).toBe(true);
    expect(crlSerials(crlBefore)).not.toContain(serialOf(issued.certificate));
  });

  it("openssl verifies it against the CA and the current CRL", () => {
    const r = opensslVerify(path.join(work, "before"), caDer, crlBefore, issued.certificate);
    expect(r.output).toMatch(/: OK/);
    expect(r.status).toBe(0);
  });

  it("secures a SignAndEncrypt channel to a server that trusts only the GDS CA", async () => {
    const s = await connectWithCertificate(plain.endpointUrl, identity);
    try {
      const dv = await s.session.read({ nodeId: "i=2258", attributeId: AttributeIds.Value }); // Server_ServerStatus_CurrentTime
      expect(dv.statusCode.name).toBe("Good");
      expect(dv.value.value).toBeInstanceOf(Date);
    } finally {
      await s.close();
    }
  });

  it("once revoked, the GDS trust list carries a new CRL listing it, openssl rejects it, and the refreshed server refuses the client", async () => {
    const updatedBefore = await readLastUpdateTime(admin, trustListId);

    expectStatus(await revokeCertificate(admin, appId, issued.certificate), "Good");

    const updatedAfter = await readLastUpdateTime(admin, trustListId);
    expect(updatedAfter.getTime()).toBeGreaterThan(updatedBefore.getTime());
    const { list } = await fetchTrustList(admin, appId);
    const crlAfter = crlOf(list.content.trustedCrls, caDer);
    expect(crlAfter.equals(crlBefore)).toBe(false);
    expect(crlSerials(crlAfter)).toContain(serialOf(issued.certificate));

    const r = opensslVerify(path.join(work, "after"), caDer, crlAfter, issued.certificate);
    expect(r.output).toMatch(/certificate revoked/);
    expect(r.status).not.toBe(0);

    await plain.replaceCrl(crlAfter);
    expect(String(await plain.pki.verifyCertificate(issued.certificate))).toBe("BadCertificateRevoked");
    const refused = await connectWithCertificate(plain.endpointUrl, identity).then(
      async (s) => {
        await s.close();
        return "connected";
      },
      (err: Error) => err.message,
    );
    expect(refused).not.toBe("connected");
    // The node-opcua server hides the reason (its PKI said BadCertificateRevoked, checked above)
    // behind BadSecurityChecksFailed in the OpenSecureChannel response.
    expect(refused).toMatch(/BadSecurityChecksFailed|BadCertificateRevoked/);
  });
});
