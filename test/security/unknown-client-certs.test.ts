/**
 * Client certificates nobody trusted: with GDS_ACCEPT_UNKNOWN_CERTIFICATES=true they open a
 * channel, but they are not added to the trust store (server-pki/trusted/certs) nor to
 * rejected/: they land in a bounded list (server-pki/seen, GDS_MAX_SEEN_CLIENT_CERTIFICATES,
 * least recently seen evicted). Restarted with GDS_ACCEPT_UNKNOWN_CERTIFICATES=false, a
 * certificate accepted earlier is refused, while a certificate the GDS issued still connects.
 * An expired unknown certificate, and one an operator put in rejected/, are refused in accept mode too.
 *
 * 120 distinct self-signed certificates share one RSA key (enough to exercise the store; making
 * 120 keys would only cost time).
 */
import "reflect-metadata";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { MessageSecurityMode, OPCUACertificateManager, OPCUAClient, SecurityPolicy, UserTokenType } from "node-opcua";
import { sharedClientPkiDir, startTestGds, tempDir, type TestGds } from "../integration/helpers/gds-harness.js";
import { connectWithCertificate, type CertificateIdentity } from "../integration/helpers/certificate-client.js";
import { derToPem } from "../integration/helpers/csr.js";

x509.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);

const SPRAY = 120;
const BOUND = 40;
const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

interface Sprayed {
  der: Buffer;
  certificateFile: string;
  applicationUri: string;
  thumbprint: string;
}

async function makeSprayedCertificates(dir: string, n: number, validity?: { notBefore: Date; notAfter: Date }): Promise<{ privateKeyFile: string; certs: Sprayed[] }> {
  const keys = (await crypto.webcrypto.subtle.generateKey(RSA, true, ["sign", "verify"])) as CryptoKeyPair;
  const privateKeyFile = path.join(dir, "key.pem");
  fs.writeFileSync(privateKeyFile, derToPem(Buffer.from(await crypto.webcrypto.subtle.exportKey("pkcs8", keys.privateKey)), "PRIVATE KEY"), { mode: 0o600 });
  const usages = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment;
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const aki = await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey);
  const certs: Sprayed[] = [];
  for (let i = 0; i < n; i++) {
    const applicationUri = `urn:spray:${process.pid}:${i}`;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: (0x1000 + i).toString(16),
      name: `CN=sprayed client ${i}`,
      notBefore: validity?.notBefore ?? new Date(Date.now() - 3_600_000),
      notAfter: validity?.notAfter ?? new Date(Date.now() + 30 * 86_400_000),
      keys,
      signingAlgorithm: RSA,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(usages, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: applicationUri }]),
        ski,
        aki,
      ],
    });
    const der = Buffer.from(cert.rawData);
    const certificateFile = path.join(dir, `cert-${i}.pem`);
    fs.writeFileSync(certificateFile, derToPem(der, "CERTIFICATE"));
    certs.push({ der, certificateFile, applicationUri, thumbprint: crypto.createHash("sha1").update(der).digest("hex") });
  }
  return { privateKeyFile, certs };
}

/** Opens a SignAndEncrypt channel and an anonymous session with `cert`; resolves true, or false when refused. */
async function tryConnect(endpointUrl: string, cert: Sprayed, privateKeyFile: string, clientCertificateManager: OPCUACertificateManager): Promise<boolean> {
  const client = OPCUAClient.create({
    applicationName: "sprayed client",
    applicationUri: cert.applicationUri,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager,
    certificateFile: cert.certificateFile,
    privateKeyFile,
  });
  try {
    await client.connect(endpointUrl);
    const session = await client.createSession({ type: UserTokenType.Anonymous });
    await session.close();
    return true;
  } catch {
    return false;
  } finally {
    await client.disconnect().catch(() => undefined);
  }
}

function certFiles(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.includes(".tmp-")) : [];
}

describe("unknown client certificates are accepted per connection, never trusted for good", () => {
  let t: TestGds | undefined;
  let dataDir: string;
  let privateKeyFile: string;
  let sprayed: Sprayed[];
  let issued: CertificateIdentity;
  let clientPki: OPCUACertificateManager;

  beforeAll(async () => {
    dataDir = tempDir("gds-sec-unknown-");
    const made = await makeSprayedCertificates(tempDir("gds-sec-spray-"), SPRAY);
    privateKeyFile = made.privateKeyFile;
    sprayed = made.certs;
    clientPki = new OPCUACertificateManager({ rootFolder: sharedClientPkiDir("spray"), automaticallyAcceptUnknownCertificate: true });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await clientPki?.dispose();
  });

  it(`admits ${SPRAY} unknown certificates without adding them to the trust store; the seen list keeps the ${BOUND} most recent`, async () => {
    // An operator blocked one of them beforehand: a certificate in rejected/ is refused even in accept mode.
    const blocked = sprayed[1];
    fs.mkdirSync(path.join(dataDir, "server-pki/rejected"), { recursive: true });
    fs.copyFileSync(blocked.certificateFile, path.join(dataDir, "server-pki/rejected/blocked.pem"));
    t = await startTestGds({ dataDir, acceptUnknownCertificates: true, maxSeenClientCertificates: BOUND });
    const trustedDir = path.join(dataDir, "server-pki/trusted/certs");
    const trustedBefore = certFiles(trustedDir).sort();

    // A certificate the GDS issued, for the restart below.
    const app = await t.gds.directory.register({
      applicationUri: `urn:test:unknown-certs:issued:${process.pid}`,
      applicationType: 0,
      applicationNames: [{ locale: "en", text: "Issued device" }],
      productUri: "urn:test:product",
      discoveryUrls: ["opc.tcp://issued.local:4840"],
      serverCapabilities: [],
    });
    const request = await t.gds.certificates.startNewKeyPairRequest({ applicationId: app.applicationId, subjectName: "", domainNames: [], privateKeyFormat: "PEM", privateKeyPassword: "", actor: "test" });
    const result = await t.gds.certificates.finishRequest(app.applicationId, request.requestId, "test");
    issued = { certificate: result.certificate, privateKeyPem: result.privateKey!.toString("utf8"), applicationUri: app.applicationUri };

    const outcomes: boolean[] = new Array(SPRAY);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < SPRAY; i = next++) outcomes[i] = await tryConnect(t!.endpointUrl, sprayed[i], privateKeyFile, clientPki);
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(outcomes.map((ok, i) => (ok ? -1 : i)).filter((i) => i >= 0)).toEqual([1]);
    expect(t.gds.seenClientCertificates.get(blocked.thumbprint)).toBeUndefined();
    // The last one again: a known-unknown certificate is accepted again, and becomes the most recent.
    expect(await tryConnect(t.endpointUrl, sprayed[SPRAY - 1], privateKeyFile, clientPki)).toBe(true);

    // An expired unknown certificate is not admitted.
    const expired = await makeSprayedCertificates(tempDir("gds-sec-expired-"), 1, { notBefore: new Date(Date.now() - 60 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    expect(await tryConnect(t.endpointUrl, expired.certs[0], expired.privateKeyFile, clientPki)).toBe(false);
    expect(t.gds.seenClientCertificates.get(expired.certs[0].thumbprint)).toMatchObject({ verdict: "refused", status: "BadCertificateTimeInvalid" });
    expect(await tryConnect(t.endpointUrl, sprayed[SPRAY - 1], privateKeyFile, clientPki)).toBe(true); // most recent again

    // Nothing of it in the trust store or in rejected/.
    expect(certFiles(trustedDir).sort()).toEqual(trustedBefore);
    expect(certFiles(path.join(dataDir, "server-pki/rejected"))).toEqual(["blocked.pem"]);

    await t.stop();
    t = undefined;
    const index = JSON.parse(fs.readFileSync(path.join(dataDir, "server-pki/seen/index.json"), "utf8")) as { certificates: { thumbprint: string; applicationUri: string; verdict: string; connections: number }[] };
    expect(index.certificates.length).toBe(BOUND);
    expect(certFiles(path.join(dataDir, "server-pki/seen/certs")).length).toBe(BOUND);
    const kept = new Map(index.certificates.map((c) => [c.thumbprint, c]));
    const last = kept.get(sprayed[SPRAY - 1].thumbprint);
    expect(last).toMatchObject({ applicationUri: sprayed[SPRAY - 1].applicationUri, verdict: "accepted", connections: 3 });
    expect(kept.has(sprayed[0].thumbprint)).toBe(false); // evicted: the least recently seen
  }, 300_000);

  it("with GDS_ACCEPT_UNKNOWN_CERTIFICATES=false refuses a certificate accepted earlier; a GDS-issued one connects", async () => {
    await t?.stop(); // when the test above failed half-way
    t = await startTestGds({ dataDir, acceptUnknownCertificates: false, maxSeenClientCertificates: BOUND });
    expect(await tryConnect(t.endpointUrl, sprayed[SPRAY - 1], privateKeyFile, clientPki)).toBe(false);
    // One it never saw is refused as well.
    expect(await tryConnect(t.endpointUrl, sprayed[0], privateKeyFile, clientPki)).toBe(false);

    const s = await connectWithCertificate(t.endpointUrl, issued);
    await s.close();

    const seen = t.gds.seenClientCertificates.get(sprayed[SPRAY - 1].thumbprint);
    expect(seen).toMatchObject({ verdict: "refused", status: "BadCertificateUntrusted", connections: 4 });
  }, 120_000);
});
