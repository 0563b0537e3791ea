/**
 * `gds trustlist export` (issue 4) against a real server through the real CLI: the files are the
 * group's CA certificate, its current CRL and the GDS's own certificate; a demo device started
 * with `--trust DIR --strict` then accepts the GDS (its own certificate) and applications holding
 * certificates from the GDS CA, and still refuses a stranger.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { DataType, MessageSecurityMode, NodeId, OPCUACertificateManager, OPCUAClient, SecurityPolicy, UserTokenType, type ClientSession, type UserIdentityInfo } from "node-opcua";
import { readTrustListViaSession } from "../../src/opcua/trust-list-client.js";
import { certificatePem, connectWithCertificate, issueNewKeyPair, TRUST_LIST, type CertificateIdentity } from "./helpers/certificate-client.js";
import { startDemoDevice, type DemoDevice } from "./helpers/demo-device.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";
import { callMethod, connect, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";

interface ExportJson {
  group: string;
  out: string;
  files: { name: string; kind: "caCertificate" | "crl" | "gdsCertificate"; path: string; bytes: number }[];
}

const pemToDer = (pem: string) => Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
const sha1 = (der: Buffer) => crypto.createHash("sha1").update(der).digest("hex");

describe("gds trustlist export", () => {
  let t: TestGds;
  let admin: TestSession;
  let cliPki: string;
  let outDir: string;
  let exported: ExportJson;
  const gds = gdsCli(() => cliPki);

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = tempDir("gds-cli-tl-pki-");
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
    outDir = path.join(tempDir("gds-tl-export-"), "device-trust");
  }, 90_000);
  afterAll(async () => {
    await admin?.close();
    await t?.stop();
  });

  it("writes the group's CA certificate and CRL and the GDS certificate as DER files and prints them", async () => {
    const r = await gds(["trustlist", "export", "--group", "DefaultApplicationGroup", "--out", outDir, "--json", "--endpoint", t.endpointUrl]);
    expect(r.code).toBe(0);
    exported = JSON.parse(r.stdout) as ExportJson;
    expect(exported.group).toBe("DefaultApplicationGroup");
    expect(exported.out).toBe(outDir);
    expect(exported.files.map((f) => f.kind).sort()).toEqual(["caCertificate", "crl", "gdsCertificate"]);
    expect(fs.readdirSync(outDir).sort()).toEqual(exported.files.map((f) => f.name).sort());

    // The CA certificate: the one in the GDS's own trust list, a CA, named by its thumbprint.
    const { content } = await readTrustListViaSession(admin.session, new NodeId(NodeId.NodeIdType.NUMERIC, TRUST_LIST.DefaultApplicationGroup, admin.gdsNs));
    const caFile = exported.files.find((f) => f.kind === "caCertificate")!;
    const caDer = fs.readFileSync(caFile.path);
    expect(content.trustedCertificates.some((c) => c.equals(caDer))).toBe(true);
    expect(caFile.name).toBe(`DefaultApplicationGroup-ca-${sha1(caDer).slice(0, 8)}.der`);
    const ca = new x509.X509Certificate(caDer);
    expect(ca.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);

    // The CRL: the current one, issued and signed by that CA.
    const crlFile = exported.files.find((f) => f.kind === "crl")!;
    expect(crlFile.name).toBe("DefaultApplicationGroup-crl-1.crl");
    const crlDer = fs.readFileSync(crlFile.path);
    expect(content.trustedCrls.some((c) => c.equals(crlDer))).toBe(true);
    const crl = new x509.X509Crl(crlDer);
    expect(crl.issuer).toBe(ca.subject);
    expect(await crl.verify({ publicKey: ca.publicKey })).toBe(true);

    // The GDS's own application certificate, as in its server PKI.
    const gdsFile = exported.files.find((f) => f.kind === "gdsCertificate")!;
    expect(gdsFile.name).toBe("gds-server.der");
    const own = pemToDer(fs.readFileSync(path.join(t.config.dataDir, "server-pki", "own", "certs", "certificate.pem"), "utf8"));
    expect(fs.readFileSync(gdsFile.path).equals(own)).toBe(true);
    for (const f of exported.files) expect(f.bytes).toBe(fs.statSync(f.path).size);
  });

  it("prints one line per file without --json; the group defaults to DefaultApplicationGroup; other groups export their own CA", async () => {
    const dir = path.join(tempDir("gds-tl-export-"), "plain");
    const r = await gds(["trustlist", "export", "--out", dir, "--endpoint", t.endpointUrl]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`DefaultApplicationGroup: wrote 3 file(s) to ${dir}`);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[1]).sort()).toEqual(["CA", "CRL", "GDS"]);

    const https = path.join(tempDir("gds-tl-export-"), "https");
    const h = await gds(["trustlist", "export", "--group", "DefaultHttpsGroup", "--out", https, "--json", "--endpoint", t.endpointUrl]);
    expect(h.code).toBe(0);
    const hj = JSON.parse(h.stdout) as ExportJson;
    const httpsCa = hj.files.find((f) => f.kind === "caCertificate")!;
    expect(httpsCa.name).toMatch(/^DefaultHttpsGroup-ca-[0-9a-f]{8}\.der$/);
    expect(fs.readFileSync(httpsCa.path).equals(fs.readFileSync(exported.files.find((f) => f.kind === "caCertificate")!.path))).toBe(false);
  });

  it("ExportTrustList refuses an unknown group (BadInvalidArgument) and an anonymous caller (BadUserAccessDenied)", async () => {
    const adminNs = (await admin.session.readNamespaceArray()).indexOf("urn:opcua-gds:admin");
    const obj = new NodeId(NodeId.NodeIdType.NUMERIC, 1000, adminNs);
    const method = new NodeId(NodeId.NodeIdType.NUMERIC, 1150, adminNs);
    const bad = await callMethod(admin, obj, method, [{ dataType: "String", value: "NoSuchGroup" }]);
    expect(bad.statusCode.name).toBe("BadInvalidArgument");
    expect(bad.text).toMatch(/Group: expected one of DefaultApplicationGroup/);
    const anon = await connect(t.endpointUrl, { user: null });
    try {
      const denied = await callMethod(anon, obj, method, [{ dataType: "String", value: "" }]);
      expect(denied.statusCode.name).toBe("BadUserAccessDenied");
    } finally {
      await anon.close();
    }
  });

  describe("a demo device started with --trust DIR --strict", () => {
    let device: DemoDevice;

    beforeAll(async () => {
      device = await startDemoDevice({ trustDir: outDir, acceptUnknown: false, adminCertFiles: [path.join(outDir, "gds-server.der")] });
    }, 90_000);
    afterAll(async () => {
      await device?.stop();
    });

    /** The GDS's own certificate, key and ApplicationUri, from its data dir. */
    function gdsIdentity(): CertificateIdentity {
      const own = path.join(t.config.dataDir, "server-pki", "own");
      const certificate = pemToDer(fs.readFileSync(path.join(own, "certs", "certificate.pem"), "utf8"));
      const privateKeyPem = fs.readFileSync(path.join(own, "private", "private_key.pem"), "utf8");
      const applicationUri = new x509.X509Certificate(certificate).getExtension(x509.SubjectAlternativeNameExtension)!.names.items.find((n) => n.type === "url")!.value;
      return { certificate, privateKeyPem, applicationUri };
    }

    /** A SignAndEncrypt channel secured with `channel`, and a session with `user` as X509 identity. */
    async function connectX509(endpointUrl: string, channel: CertificateIdentity, user: CertificateIdentity): Promise<{ session: ClientSession; close(): Promise<void> }> {
      const dir = tempDir("gds-it-x509client-");
      const certificateFile = path.join(dir, "cert.pem");
      const privateKeyFile = path.join(dir, "key.pem");
      fs.writeFileSync(certificateFile, certificatePem(channel.certificate));
      fs.writeFileSync(privateKeyFile, channel.privateKeyPem, { mode: 0o600 });
      const clientCertificateManager = new OPCUACertificateManager({ rootFolder: path.join(dir, "pki"), automaticallyAcceptUnknownCertificate: true });
      const client = OPCUAClient.create({
        applicationUri: channel.applicationUri,
        securityMode: MessageSecurityMode.SignAndEncrypt,
        securityPolicy: SecurityPolicy.Basic256Sha256,
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 0 },
        clientCertificateManager,
        certificateFile,
        privateKeyFile,
      });
      try {
        await client.connect(endpointUrl);
        const session = await client.createSession({ type: UserTokenType.Certificate, certificateData: user.certificate, privateKey: user.privateKeyPem } as UserIdentityInfo);
        return {
          session,
          async close() {
            await session.close().catch(() => undefined);
            await client.disconnect();
            await clientCertificateManager.dispose();
          },
        };
      } catch (err) {
        await client.disconnect().catch(() => undefined);
        await clientCertificateManager.dispose();
        throw err;
      }
    }

    it("accepts a client using the GDS's own certificate and key", async () => {
      const s = await connectWithCertificate(device.endpointUrl, gdsIdentity(), { user: { userName: device.user, password: device.password } });
      try {
        expect(Buffer.from(s.session.serverCertificate!).length).toBeGreaterThan(0);
      } finally {
        await s.close();
      }
    });

    it("with --admin-cert gds-server.der, the GDS's certificate as X509 user token gets SecurityAdmin; another trusted certificate does not", async () => {
      const gdsId = gdsIdentity();
      const s = await connectX509(device.endpointUrl, gdsId, gdsId);
      try {
        const r = await s.session.call({
          objectId: new NodeId(NodeId.NodeIdType.NUMERIC, 12637, 0),
          methodId: new NodeId(NodeId.NodeIdType.NUMERIC, 12737, 0),
          inputArguments: [
            { dataType: DataType.NodeId, value: new NodeId(NodeId.NodeIdType.NUMERIC, 14156, 0) },
            { dataType: DataType.NodeId, value: new NodeId(NodeId.NodeIdType.NUMERIC, 12560, 0) },
            { dataType: DataType.String, value: "" },
            { dataType: DataType.Boolean, value: false },
            { dataType: DataType.ByteString, value: null },
          ],
        });
        expect(r.statusCode.name).toBe("Good");
        expect((r.outputArguments![0].value as Buffer).length).toBeGreaterThan(100);
      } finally {
        await s.close();
      }

      // A certificate from the GDS CA opens the channel but is no admin identity (not in user-pki).
      const app = sampleServer();
      const applicationId = await registerOk(admin, app);
      const issued = await issueNewKeyPair(admin, applicationId, { privateKeyFormat: "PEM", privateKeyPassword: "" });
      const other = { certificate: issued.certificate, privateKeyPem: issued.privateKeyPem!, applicationUri: app.applicationUri };
      await expect(connectX509(device.endpointUrl, other, other)).rejects.toThrow(/BadIdentityTokenRejected/);
    });

    it("accepts an application holding a certificate from the GDS CA (CA + CRL trusted), and refuses a stranger", async () => {
      const app = sampleServer();
      const applicationId = await registerOk(admin, app);
      const issued = await issueNewKeyPair(admin, applicationId, { privateKeyFormat: "PEM", privateKeyPassword: "" });
      const s = await connectWithCertificate(device.endpointUrl, { certificate: issued.certificate, privateKeyPem: issued.privateKeyPem!, applicationUri: app.applicationUri });
      await s.close();

      let refused: unknown;
      try {
        const stranger = await connect(device.endpointUrl, { user: null, pkiName: "trustlist-export-stranger" });
        await stranger.close();
      } catch (err) {
        refused = err;
      }
      expect(String(refused)).toMatch(/rejected by server|disconnected/);
    });
  });
});
