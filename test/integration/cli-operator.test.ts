/**
 * What a new operator needs from the CLI, against a real server and real `gds` processes:
 * - `gds requests list|show` show who asks and what the certificate will hold, as the issuance
 *   policy decides it (not what the CSR asked for), and the key for `show`;
 * - one form of ApplicationId and RequestId in CLI output, --json, the audit log and the log lines;
 * - `gds users passwd` (SecurityAdmin, or the user itself), audited, the old password dead at once;
 * - `gds clients list|trust|remove` over the certificates the server has seen and trusts.
 */
import "reflect-metadata";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { MessageSecurityMode, NodeId, OPCUACertificateManager, OPCUAClient, SecurityPolicy, UserTokenType } from "node-opcua";
import { startNewKeyPairRequest, startSigningRequest } from "./helpers/certificate-client.js";
import { derToPem, makeCsr } from "./helpers/csr.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";
import { connect, sharedClientPkiDir, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";

x509.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);

interface RequestJson {
  requestId: string;
  applicationId: string;
  applicationUri?: string;
  applicationName?: string;
  kind: string;
  group: string;
  type: string;
  state: string;
  subject: string;
  dnsNames: string[];
  ipAddresses: string[];
  key?: { keyType: string; keySize?: number; curve?: string; source: string };
}

interface ClientJson {
  thumbprint: string;
  state: "trusted" | "seen";
  subject: string;
  applicationUri: string;
  verdict?: string;
}

const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

interface ClientIdentity {
  applicationUri: string;
  certificateFile: string;
  privateKeyFile: string;
  thumbprint: string;
}

/** A self-signed client application certificate with its own key, as a third-party client brings. */
async function makeClientIdentity(dir: string, name: string): Promise<ClientIdentity> {
  const keys = (await crypto.webcrypto.subtle.generateKey(RSA, true, ["sign", "verify"])) as CryptoKeyPair;
  const applicationUri = `urn:operator-test:${process.pid}:${name}`;
  const usages = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: crypto.randomBytes(8).toString("hex"),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
    keys,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: applicationUri }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const der = Buffer.from(cert.rawData);
  const certificateFile = path.join(dir, `${name}.pem`);
  const privateKeyFile = path.join(dir, `${name}.key`);
  fs.writeFileSync(certificateFile, derToPem(der, "CERTIFICATE"));
  fs.writeFileSync(privateKeyFile, derToPem(Buffer.from(await crypto.webcrypto.subtle.exportKey("pkcs8", keys.privateKey)), "PRIVATE KEY"), { mode: 0o600 });
  return { applicationUri, certificateFile, privateKeyFile, thumbprint: crypto.createHash("sha1").update(der).digest("hex") };
}

/** Opens a SignAndEncrypt channel and an anonymous session with the identity; true when the server let it in. */
async function canConnect(endpointUrl: string, id: ClientIdentity, clientCertificateManager: OPCUACertificateManager): Promise<boolean> {
  const client = OPCUAClient.create({
    applicationName: "operator test client",
    applicationUri: id.applicationUri,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager,
    certificateFile: id.certificateFile,
    privateKeyFile: id.privateKeyFile,
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

/** Whether a user/password login opens a session. */
async function canLogin(endpointUrl: string, userName: string, password: string): Promise<boolean> {
  try {
    const s = await connect(endpointUrl, { user: { userName, password } });
    await s.close();
    return true;
  } catch {
    return false;
  }
}

const guidOf = (id: NodeId) => String(id.value).toLowerCase();

describe("gds for a new operator: requests, identifiers, passwords, client certificates", () => {
  let t: TestGds;
  let admin: TestSession;
  let dataDir: string;
  let cliPki: string;
  let keysDir: string;
  const gds = gdsCli(() => cliPki);
  const at = () => ["--endpoint", t.endpointUrl];
  const auditText = () => fs.readFileSync(path.join(dataDir, "audit.log"), "utf8");
  const auditEntries = () =>
    auditText()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, string>);

  async function json<T>(args: string[], env: Record<string, string | undefined> = {}): Promise<T> {
    const r = await gds([...args, "--json", ...at()], env);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    return JSON.parse(r.stdout) as T;
  }

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = tempDir("gds-op-cli-pki-");
    keysDir = tempDir("gds-op-keys-");
    dataDir = tempDir("gds-op-data-");
    t = await startTestGds({ dataDir, autoApprove: false, certOrganization: "Acme Plant" });
    admin = await connect(t.endpointUrl);
    // the first CLI call pins the server certificate (a line on stderr); later calls are quiet
    expect((await gds(["users", "list", ...at()])).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await admin?.close();
    await t?.stop();
    for (const dir of [cliPki, keysDir, dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("gds requests list and show", () => {
    let applicationId: NodeId;
    let signingId: NodeId;
    let keyPairId: NodeId;
    const app = sampleServer({
      applicationNames: [{ text: "Press 7", locale: "en" }],
      discoveryUrls: ["opc.tcp://press7.plant.example:4840", "opc.tcp://10.20.30.40:4840"],
    });

    beforeAll(async () => {
      applicationId = await registerOk(admin, app);
      // The CSR asks for its own subject and only one of the registered hosts: the policy builds
      // the subject from the record and takes the names the CSR asked for among the registered ones.
      const csr = await makeCsr({ applicationUri: app.applicationUri, subject: "CN=root, O=Evil Corp", dnsNames: ["press7.plant.example"], key: "P-256" });
      const signing = await startSigningRequest(admin, applicationId, csr.der, "DefaultApplicationGroup", "EccNistP256");
      expect(signing.statusCode.name).toBe("Good");
      signingId = signing.outputs[0].value as NodeId;
      const keyPair = await startNewKeyPairRequest(admin, applicationId, { subjectName: "CN=ignored", domainNames: [], privateKeyFormat: "PEM", privateKeyPassword: "" });
      expect(keyPair.statusCode.name).toBe("Good");
      keyPairId = keyPair.outputs[0].value as NodeId;
    });

    it("list --json: per pending request the application's URI and name, group, type, and the names and subject the certificate will get", async () => {
      const pending = await json<RequestJson[]>(["requests", "list", "--state", "pending"]);
      const signing = pending.find((r) => r.requestId === guidOf(signingId));
      const keyPair = pending.find((r) => r.requestId === guidOf(keyPairId));
      expect(signing).toMatchObject({
        applicationId: guidOf(applicationId),
        applicationUri: app.applicationUri,
        applicationName: "Press 7",
        kind: "signing",
        group: "DefaultApplicationGroup",
        type: "EccNistP256ApplicationCertificateType",
        state: "pending",
        subject: "CN=Press 7, O=Acme Plant, DC=press7.plant.example",
        dnsNames: ["press7.plant.example"],
        ipAddresses: [],
      });
      expect(keyPair).toMatchObject({
        applicationUri: app.applicationUri,
        kind: "newKeyPair",
        type: "RsaSha256ApplicationCertificateType",
        subject: "CN=Press 7, O=Acme Plant, DC=press7.plant.example",
        dnsNames: ["press7.plant.example"],
        ipAddresses: ["10.20.30.40"],
      });
      expect(JSON.stringify(pending)).not.toContain("Evil Corp");
    });

    it("list (text): one block per request with the application, names and subject", async () => {
      const r = await gds(["requests", "list", "--state", "pending", ...at()]);
      expect(r).toMatchObject({ code: 0, stderr: "" });
      const block = r.stdout.split("\n\n").find((b) => b.startsWith(`request ${guidOf(keyPairId)}  pending  newKeyPair\n`));
      expect(block).toBeDefined();
      expect(block).toContain(`  application   ${guidOf(applicationId)}  ${app.applicationUri}  "Press 7"\n`);
      expect(block).toContain("  group         DefaultApplicationGroup\n");
      expect(block).toContain("  type          RsaSha256ApplicationCertificateType\n");
      expect(block).toContain("  subject       CN=Press 7, O=Acme Plant, DC=press7.plant.example\n");
      expect(block).toContain("  dns names     press7.plant.example\n");
      expect(block).toContain("  ip addresses  10.20.30.40\n");
    });

    it("show ID: everything, with the CSR's key type and size (or the key the GDS will generate); --json the same", async () => {
      const signing = await json<RequestJson>(["requests", "show", guidOf(signingId)]);
      expect(signing).toMatchObject({ requestId: guidOf(signingId), applicationUri: app.applicationUri, subject: "CN=Press 7, O=Acme Plant, DC=press7.plant.example", key: { keyType: "EC", curve: "P-256", keySize: 256, source: "csr" } });
      // the NodeId form a device logs is accepted too
      const keyPair = await json<RequestJson>(["requests", "show", keyPairId.toString()]);
      expect(keyPair).toMatchObject({ requestId: guidOf(keyPairId), key: { keyType: "RSA", keySize: 2048, source: "generated" } });

      const text = await gds(["requests", "show", guidOf(signingId), ...at()]);
      expect(text).toMatchObject({ code: 0, stderr: "" });
      expect(text.stdout).toMatch(new RegExp(`^request ${guidOf(signingId)}  pending  signing\\n`));
      expect(text.stdout).toContain("  key           EC P-256 (256 bits), from the CSR\n");
      expect(text.stdout).toContain("  subject       CN=Press 7, O=Acme Plant, DC=press7.plant.example\n");

      const unknown = await gds(["requests", "show", crypto.randomUUID(), ...at()]);
      expect(unknown).toMatchObject({ code: 5, stdout: "" });
    });

    it("one form of ApplicationId and RequestId: what the CLI prints is found with grep in --json, the audit log and the log lines", async () => {
      const approve = await gds(["requests", "approve", guidOf(keyPairId), ...at()]);
      expect(approve).toMatchObject({ code: 0, stderr: "" });
      const [, requestId, applicationIdText] = /^approved request (\S+) of application (\S+) /.exec(approve.stdout) ?? [];
      expect(requestId).toBe(guidOf(keyPairId));
      expect(applicationIdText).toBe(guidOf(applicationId));

      const apps = await json<{ applicationId: string; applicationUri: string }[]>(["apps", "list"]);
      expect(apps.find((a) => a.applicationUri === app.applicationUri)?.applicationId).toBe(applicationIdText);
      const audit = await json<{ entries: Record<string, string>[] }>(["audit"]);
      const approved = audit.entries.find((e) => e.event === "RequestApproved" && e.requestId === requestId);
      expect(approved).toMatchObject({ applicationId: applicationIdText });
      const certsOfApp = await gds(["certs", "list", "--app", applicationIdText, ...at()]);
      expect(certsOfApp.code).toBe(0);

      // grep: the very strings, in the audit log file and in the server's log lines
      const auditLines = auditText().split("\n");
      expect(auditLines.some((l) => l.includes(`"RequestApproved"`) && l.includes(requestId) && l.includes(applicationIdText))).toBe(true);
      const logLines = fs.readFileSync(t.logFile, "utf8").split("\n");
      expect(logLines.some((l) => l.includes(requestId) && l.includes(applicationIdText))).toBe(true);
    });
  });

  describe("gds users passwd", () => {
    const USER = "operator7";
    const PW1 = "first-password-17";
    const PW2 = "second-password-27";
    const PW3 = "third-password-37";

    beforeAll(async () => {
      const add = await gds(["users", "add", USER, "--role", "Observer", "--password-env", "PW", ...at()], { PW: PW1 });
      expect(add.code).toBe(0);
    });

    it("the user changes its own password: the old one is refused at once (though just verified and cached), the new one works; audited", async () => {
      expect(await canLogin(t.endpointUrl, USER, PW1)).toBe(true); // now in the verified-password cache
      const r = await gds(["users", "passwd", USER, "--password-env", "NEW_PW", ...at()], { GDS_ADMIN_USER: USER, GDS_ADMIN_PASSWORD: PW1, NEW_PW: PW2 });
      expect(r).toMatchObject({ code: 0, stderr: "", stdout: `password of user ${USER} changed\n` });
      expect(await canLogin(t.endpointUrl, USER, PW1)).toBe(false);
      expect(await canLogin(t.endpointUrl, USER, PW2)).toBe(true);
      expect(auditEntries().filter((e) => e.event === "UserPasswordChanged")).toEqual([expect.objectContaining({ actor: USER, outcome: "Good", userName: USER })]);
    });

    it("another user's password needs SecurityAdmin (exit 4); a SecurityAdmin sets it (--json)", async () => {
      const denied = await gds(["users", "passwd", "admin", "--password-env", "NEW_PW", ...at()], { GDS_ADMIN_USER: USER, GDS_ADMIN_PASSWORD: PW2, NEW_PW: "hijacked-password-1" });
      expect(denied.code).toBe(4);
      expect(denied.stderr).toMatch(/SecurityAdmin/);

      const byAdmin = await json<{ user: string; passwordChanged: boolean }>(["users", "passwd", USER, "--password-env", "NEW_PW"], { NEW_PW: PW3 });
      expect(byAdmin).toEqual({ user: USER, passwordChanged: true });
      expect(await canLogin(t.endpointUrl, USER, PW2)).toBe(false);
      expect(await canLogin(t.endpointUrl, USER, PW3)).toBe(true);
      const changes = auditEntries().filter((e) => e.event === "UserPasswordChanged");
      expect(changes.map((e) => [e.actor, e.userName, e.outcome])).toEqual([
        [USER, USER, "Good"],
        ["admin", USER, "Good"],
      ]);
      // no password in the audit log or the log lines
      for (const text of [auditText(), fs.readFileSync(t.logFile, "utf8")]) {
        for (const pw of [PW1, PW2, PW3]) expect(text).not.toContain(pw);
      }
    });

    it("usage errors: no --password-env (exit 2), an unset variable (exit 2), a short password, an unknown user (exit 5)", async () => {
      expect((await gds(["users", "passwd", USER, ...at()])).code).toBe(2);
      expect((await gds(["users", "passwd", USER, "--password-env", "UNSET_PW_VAR", ...at()], { UNSET_PW_VAR: undefined })).code).toBe(2);
      const short = await gds(["users", "passwd", USER, "--password-env", "NEW_PW", ...at()], { NEW_PW: "short" });
      expect(short.code).toBe(1);
      expect(short.stderr).toMatch(/Password: must have 8/);
      expect((await gds(["users", "passwd", "nobody-here", "--password-env", "NEW_PW", ...at()], { NEW_PW: PW1 })).code).toBe(5);
    });
  });

  describe("gds clients list|trust|remove", () => {
    let pki: OPCUACertificateManager;
    let seenOnly: ClientIdentity;
    let refused: ClientIdentity;
    let cliThumbprint: string;
    const cliUri = `urn:${os.hostname()}:opcua-gds:cli`;

    beforeAll(async () => {
      pki = new OPCUACertificateManager({ rootFolder: sharedClientPkiDir("operator-clients"), automaticallyAcceptUnknownCertificate: true });
      seenOnly = await makeClientIdentity(keysDir, "seen-only");
      refused = await makeClientIdentity(keysDir, "third-party");
    });
    afterAll(async () => {
      await pki?.dispose();
    });

    it("lists the client certificates the server has seen with their SHA-1 thumbprints; trust and remove them (exit 5 for unknown ones)", async () => {
      expect(await canConnect(t.endpointUrl, seenOnly, pki)).toBe(true); // GDS_ACCEPT_UNKNOWN_CERTIFICATES=true here
      const listed = await json<ClientJson[]>(["clients", "list"]);
      expect(listed.find((c) => c.thumbprint === seenOnly.thumbprint)).toMatchObject({ state: "seen", applicationUri: seenOnly.applicationUri, subject: "CN=seen-only", verdict: "accepted" });
      const cli = listed.find((c) => c.applicationUri === cliUri);
      expect(cli).toMatchObject({ state: "seen" });
      cliThumbprint = cli!.thumbprint;
      expect(cliThumbprint).toMatch(/^[0-9a-f]{40}$/);

      const table = await gds(["clients", "list", ...at()]);
      expect(table.stdout).toMatch(/^THUMBPRINT\s+STATE\s+APPLICATION URI\s+SUBJECT\s+NOT AFTER\s+LAST SEEN\s+CONNECTIONS\s+LAST ANSWER\n/);
      expect(table.stdout).toMatch(new RegExp(`\\n${seenOnly.thumbprint}\\s+seen\\s+${seenOnly.applicationUri.replace(/[.:]/g, "\\$&")}\\s+CN=seen-only\\s`));

      // The operator trusts the CLI's own certificate (copied with colons and in upper case).
      const colons = cliThumbprint.toUpperCase().match(/../g)!.join(":");
      const trust = await gds(["clients", "trust", colons, ...at()]);
      expect(trust).toMatchObject({ code: 0, stderr: "" });
      expect(trust.stdout).toBe(`trusted client certificate ${cliThumbprint} (${cliUri})\n`);
      const again = await gds(["clients", "trust", cliThumbprint, ...at()]);
      expect(again.code).toBe(6);
      // dropped from the seen list (seen ones only), removed as "seen"
      const removed = await json<ClientJson>(["clients", "remove", seenOnly.thumbprint]);
      expect(removed).toMatchObject({ thumbprint: seenOnly.thumbprint, state: "seen" });

      const after = await json<ClientJson[]>(["clients", "list"]);
      expect(after.find((c) => c.thumbprint === cliThumbprint)).toMatchObject({ state: "trusted", applicationUri: cliUri });
      expect(after.find((c) => c.thumbprint === seenOnly.thumbprint)).toBeUndefined();
      const trustedDir = path.join(dataDir, "server-pki", "trusted", "certs");
      const trustedThumbprints = fs.readdirSync(trustedDir).map((f) => crypto.createHash("sha1").update(new crypto.X509Certificate(fs.readFileSync(path.join(trustedDir, f))).raw).digest("hex"));
      expect(trustedThumbprints).toContain(cliThumbprint);

      expect((await gds(["clients", "trust", "ab".repeat(20), ...at()])).code).toBe(5);
      expect((await gds(["clients", "remove", "ab".repeat(20), ...at()])).code).toBe(5);
      expect((await gds(["clients", "trust", "not-a-thumbprint", ...at()])).code).toBe(2);
      const observer = await gds(["clients", "list", ...at()], { GDS_ADMIN_USER: "operator7", GDS_ADMIN_PASSWORD: "third-password-37" });
      expect(observer.code).toBe(4);
    });

    it("with unknown certificates refused: trust lets a refused client in at once, remove shuts it out at once; both audited", async () => {
      await t.stop();
      t = await startTestGds({ dataDir, autoApprove: false, acceptUnknownCertificates: false });
      // the CLI's certificate was trusted above: the CLI still gets in (and pins the new endpoint)
      expect((await gds(["clients", "list", ...at()])).code).toBe(0);
      expect(await canConnect(t.endpointUrl, refused, pki)).toBe(false);
      const listed = await json<ClientJson[]>(["clients", "list"]);
      expect(listed.find((c) => c.thumbprint === refused.thumbprint)).toMatchObject({ state: "seen", verdict: "refused" });
      expect(listed.find((c) => c.thumbprint === cliThumbprint)).toMatchObject({ state: "trusted" });

      expect((await gds(["clients", "trust", refused.thumbprint, ...at()])).code).toBe(0);
      expect(await canConnect(t.endpointUrl, refused, pki)).toBe(true);

      const removed = await json<ClientJson>(["clients", "remove", refused.thumbprint]);
      expect(removed).toMatchObject({ thumbprint: refused.thumbprint, state: "trusted", applicationUri: refused.applicationUri });
      expect(await canConnect(t.endpointUrl, refused, pki)).toBe(false);

      const events = auditEntries().filter((e) => e.event === "ClientCertificateTrusted" || e.event === "ClientCertificateRemoved");
      expect(events.map((e) => [e.event, e.actor, e.thumbprint])).toEqual([
        ["ClientCertificateTrusted", "admin", cliThumbprint],
        ["ClientCertificateRemoved", "admin", seenOnly.thumbprint],
        ["ClientCertificateTrusted", "admin", refused.thumbprint],
        ["ClientCertificateRemoved", "admin", refused.thumbprint],
      ]);
      const audit = await gds(["audit", ...at()]);
      expect(audit.stdout).toContain(`ClientCertificateTrusted  admin  Good  uri=${refused.applicationUri}  thumbprint=${refused.thumbprint}`);
    });
  });
});
