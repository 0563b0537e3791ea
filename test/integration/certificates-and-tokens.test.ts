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
  it("refuses an unknown client application certificate until an admin trusts it; lists it in server-pki/seen", async () => {
    const t = await startTestGds({ acceptUnknownCertificates: false });
    running.push(t);
    const pki = "locked-down";
    await expect(connect(t.endpointUrl, { pkiName: pki })).rejects.toThrow();
    const [seen] = t.gds.seenClientCertificates.list();
    expect(seen).toMatchObject({ applicationUri: "urn:opcua-gds-test-client:locked-down", verdict: "refused", status: "BadCertificateUntrusted" });
    expect(fs.readdirSync(path.join(t.config.dataDir, "server-pki/rejected"))).toEqual([]);
    // the operator admits the client: copies the certificate from seen/ into trusted/
    await t.gds.seenClientCertificates.flush();
    const seenFile = path.join(t.config.dataDir, "server-pki/seen/certs", `${seen.thumbprint}.pem`);
    fs.copyFileSync(seenFile, path.join(t.config.dataDir, "server-pki/trusted/certs", `${seen.thumbprint}.pem`));
    // the certificate manager notices the new file (a file watcher): retry for a while
    const deadline = Date.now() + 20_000;
    let admitted: Awaited<ReturnType<typeof connect>> | undefined;
    while (!admitted) {
      try {
        admitted = await connect(t.endpointUrl, { pkiName: pki });
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await admitted.close();
    expect(fs.existsSync(sharedClientPkiDir(pki))).toBe(true);
  });

  it("admits unknown client certificates by default without trusting them for good: they are listed in server-pki/seen", async () => {
    const t = await startTestGds();
    running.push(t);
    const trustedBefore = fs.readdirSync(path.join(t.config.dataDir, "server-pki/trusted/certs")).sort();
    const s = await connect(t.endpointUrl);
    await s.close();
    expect(t.gds.seenClientCertificates.list()).toEqual([expect.objectContaining({ applicationUri: "urn:opcua-gds-test-client:default", verdict: "accepted", status: "Good" })]);
    expect(fs.readdirSync(path.join(t.config.dataDir, "server-pki/trusted/certs")).sort()).toEqual(trustedBefore);
  });
});
