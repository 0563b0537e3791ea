import fs from "node:fs";
import path from "node:path";
import { webcrypto } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as x509 from "@peculiar/x509";
import { UserTokenType, type UserIdentityInfo } from "node-opcua";
import type { AuditEntry } from "../../src/audit/audit-log.types.js";
import { gdsCli } from "../integration/helpers/gds-cli.js";
import { callAdmin, connect, isGood, startTestGds, tempDir, type TestGds } from "../integration/helpers/gds-harness.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const ALG = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

interface UserCert {
  der: Buffer;
  keyPem: string;
}

/** A CA for user tokens (certificate, empty CRL) and a way to issue user certificates from it. */
async function makeUserTokenCa(): Promise<{ caDer: Buffer; crlDer: Buffer; issue(cn: string): Promise<UserCert> }> {
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = new Date(Date.now() - 60_000);
  const later = new Date(Date.now() + 30 * 86_400_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=Test User Token CA",
    notBefore: now,
    notAfter: later,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.subject,
    thisUpdate: now,
    nextUpdate: later,
    entries: [],
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca, false)],
  });
  let serial = 2;
  return {
    caDer: Buffer.from(ca.rawData),
    crlDer: Buffer.from(crl.rawData),
    async issue(cn: string) {
      const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, "0"),
        subject: `CN=${cn}`,
        issuer: ca.subject,
        notBefore: now,
        notAfter: later,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment, true),
          await x509.AuthorityKeyIdentifierExtension.create(ca, false),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
      const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END PRIVATE KEY-----\n`;
      return { der: Buffer.from(cert.rawData), keyPem };
    },
  };
}

const identity = (c: UserCert): UserIdentityInfo => ({ type: UserTokenType.Certificate, certificateData: c.der, privateKey: c.keyPem }) as UserIdentityInfo;

function readAudit(t: TestGds): AuditEntry[] {
  return fs
    .readFileSync(path.join(t.config.dataDir, "audit.log"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as AuditEntry);
}

const cliPki = tempDir("gds-x509-binding-cli-");
const cli = gdsCli(() => cliPki);
async function gds(t: TestGds, ...args: string[]): Promise<string> {
  const r = await cli([...args, "--endpoint", t.endpointUrl], { OBS_PASSWORD: "observer-password-1" });
  if (r.code !== 0) throw new Error(`gds ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

describe("X509 user tokens map to users only through certificates bound by a SecurityAdmin", () => {
  let t: TestGds;
  let ca: Awaited<ReturnType<typeof makeUserTokenCa>>;
  let work: string;
  beforeAll(async () => {
    ca = await makeUserTokenCa();
    work = tempDir("gds-x509-binding-");
    const dataDir = tempDir("gds-x509-binding-data-");
    // The operator trusts the user-token CA for X509 logins.
    fs.mkdirSync(path.join(dataDir, "user-pki/trusted/certs"), { recursive: true });
    fs.mkdirSync(path.join(dataDir, "user-pki/trusted/crl"), { recursive: true });
    fs.writeFileSync(path.join(dataDir, "user-pki/trusted/certs/user-token-ca.der"), ca.caDer);
    fs.writeFileSync(path.join(dataDir, "user-pki/trusted/crl/user-token-ca.crl"), ca.crlDer);
    t = await startTestGds({ dataDir });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("a certificate with CN=admin from the trusted CA does not log in as admin; it is refused and audited", async () => {
    const impostor = await ca.issue("admin");
    await expect(connect(t.endpointUrl, { identity: identity(impostor) })).rejects.toThrow(/BadIdentityTokenRejected|BadUserAccessDenied/);
    const failed = readAudit(t).filter((e) => e.event === "LoginFailed");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ actor: "x509:CN=admin", clientAddress: "127.0.0.1", outcome: "BadIdentityTokenRejected" });
  });

  it("a certificate from a CA nobody trusted is refused and audited too", async () => {
    const stranger = await (await makeUserTokenCa()).issue("admin");
    const before = readAudit(t).filter((e) => e.event === "LoginFailed").length;
    await expect(connect(t.endpointUrl, { identity: identity(stranger) })).rejects.toThrow(/Bad/);
    const failed = readAudit(t).filter((e) => e.event === "LoginFailed").slice(before);
    expect(failed).toEqual([expect.objectContaining({ actor: "x509:CN=admin", clientAddress: "127.0.0.1", detail: expect.stringMatching(/refused before any user/) })]);
  });

  it("after `gds users add-cert` (PEM or DER) a bound certificate logs in as its user, whatever its CN", async () => {
    // A CN=admin certificate bound to an Observer: it gets the Observer's roles, not admin's.
    const observerCert = await ca.issue("admin");
    const adminCert = await ca.issue("Jane Operator");
    fs.writeFileSync(path.join(work, "observer.der"), observerCert.der);
    fs.writeFileSync(path.join(work, "admin.pem"), `-----BEGIN CERTIFICATE-----\n${adminCert.der.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`);

    await gds(t, "users", "add", "watcher", "--role", "Observer", "--password-env", "OBS_PASSWORD");
    const out = await gds(t, "users", "add-cert", "watcher", "--cert", path.join(work, "observer.der"), "--json");
    expect(JSON.parse(out)).toMatchObject({ user: "watcher", thumbprint: expect.stringMatching(/^[0-9a-f]{40}$/) });
    await gds(t, "users", "add-cert", "admin", "--cert", path.join(work, "admin.pem"));

    const asWatcher = await connect(t.endpointUrl, { identity: identity(observerCert) });
    try {
      const status = await callAdmin(asWatcher, "ListUsers", []);
      expect(status.statusCode.name).toBe("BadUserAccessDenied");
      expect(status.text).toMatch(/user watcher/);
    } finally {
      await asWatcher.close();
    }
    const asAdmin = await connect(t.endpointUrl, { identity: identity(adminCert) });
    try {
      const users = await callAdmin(asAdmin, "ListUsers", []);
      expect(isGood(users)).toBe(true);
      const list = JSON.parse(String(users.outputs[0].value)) as { name: string; certificates: { thumbprint: string }[] }[];
      expect(list.find((u) => u.name === "admin")?.certificates).toHaveLength(1);
      expect(list.find((u) => u.name === "watcher")?.certificates).toHaveLength(1);
    } finally {
      await asAdmin.close();
    }
    const bound = readAudit(t).filter((e) => e.event === "UserCertificateBound");
    expect(bound.map((e) => [e.userName, e.actor])).toEqual([
      ["watcher", "admin"],
      ["admin", "admin"],
    ]);
  });
});
