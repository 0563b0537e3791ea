import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { OPCUACertificateManager, StatusCodes, UserTokenType, type UserIdentityInfo } from "node-opcua";
import { UserService } from "../../src/users/user-service.js";
import { LowdbStore } from "../../src/store/lowdb-store.js";
import { systemClock } from "../../src/clock.js";
import { connect, sharedClientPkiDir, startTestGds, tempDir, type TestGds } from "./helpers/gds-harness.js";
import { register, sampleServer } from "./helpers/directory-client.js";

/** A self-signed X509 user certificate with CN = `name`; returns its DER and its key PEM. */
async function makeUserCertificate(name: string): Promise<{ der: Buffer; keyPem: string; pemFile: string }> {
  const cm = new OPCUACertificateManager({ rootFolder: tempDir("gds-usercert-"), automaticallyAcceptUnknownCertificate: true });
  await cm.initialize();
  const pemFile = path.join(cm.rootDir, "own/certs/user.pem");
  await cm.createSelfSignedCertificate({ subject: `/CN=${name}`, applicationUri: `urn:user:${name}`, dns: [], startDate: new Date(), validity: 30, outputFile: pemFile });
  const der = Buffer.from(new crypto.X509Certificate(fs.readFileSync(pemFile)).raw);
  const keyPem = fs.readFileSync(cm.privateKey, "utf8");
  await cm.dispose();
  return { der, keyPem, pemFile };
}

/** Adds a user directly in the data dir, before the server starts (as an operator restoring a site would), with a bound certificate. */
async function addUserOffline(dataDir: string, name: string, roles: string[], certificate: Buffer): Promise<void> {
  const store = new LowdbStore({ dir: dataDir });
  await store.open();
  const users = new UserService({ store, clock: systemClock });
  await users.init();
  await users.add(name, roles, "unused-password-for-x509");
  await users.bindCertificate(name, certificate, "test");
  await store.close();
}

const running: TestGds[] = [];
afterAll(async () => {
  for (const t of running) await t.stop().catch(() => undefined);
});

describe("X509 user tokens", () => {
  it("accepts a trusted user certificate bound to a user and applies that user's roles; refuses an untrusted one", async () => {
    const dataDir = tempDir("gds-x509-");
    const trusted = await makeUserCertificate("certadmin");
    const stranger = await makeUserCertificate("certadmin"); // same CN, but nobody trusted it
    await addUserOffline(dataDir, "certadmin", ["DiscoveryAdmin"], trusted.der);
    fs.mkdirSync(path.join(dataDir, "user-pki/trusted/certs"), { recursive: true });
    fs.copyFileSync(trusted.pemFile, path.join(dataDir, "user-pki/trusted/certs/certadmin.pem"));

    const t = await startTestGds({ dataDir });
    running.push(t);
    const identity = (c: { der: Buffer; keyPem: string }): UserIdentityInfo => ({ type: UserTokenType.Certificate, certificateData: c.der, privateKey: c.keyPem }) as UserIdentityInfo;

    const ok = await connect(t.endpointUrl, { identity: identity(trusted) });
    try {
      expect((await register(ok, sampleServer())).statusCode).toBe(StatusCodes.Good);
    } finally {
      await ok.close();
    }
    await expect(connect(t.endpointUrl, { identity: identity(stranger) })).rejects.toThrow(/Bad/);
  });
});

describe("GDS_ACCEPT_UNKNOWN_CERTIFICATES=false", () => {
  it("refuses an unknown client application certificate until an admin moves it to trusted", async () => {
    const t = await startTestGds({ acceptUnknownCertificates: false });
    running.push(t);
    const pki = "locked-down";
    await expect(connect(t.endpointUrl, { pkiName: pki })).rejects.toThrow();
    const rejectedDir = path.join(t.config.dataDir, "server-pki/rejected");
    const rejected = fs.readdirSync(rejectedDir);
    expect(rejected.length).toBeGreaterThan(0);
    // the operator admits the client
    const trustedDir = path.join(t.config.dataDir, "server-pki/trusted/certs");
    for (const f of rejected) fs.renameSync(path.join(rejectedDir, f), path.join(trustedDir, f));
    await new Promise((r) => setTimeout(r, 1500)); // the certificate manager notices the move
    const s = await connect(t.endpointUrl, { pkiName: pki });
    await s.close();
    expect(fs.existsSync(sharedClientPkiDir(pki))).toBe(true);
  });

  it("records unknown client certificates it accepts by default", async () => {
    const t = await startTestGds();
    running.push(t);
    const s = await connect(t.endpointUrl);
    await s.close();
    expect(fs.readdirSync(path.join(t.config.dataDir, "server-pki/trusted/certs")).length).toBeGreaterThan(0);
  });
});
