import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { NodeId } from "node-opcua";
import { connect, startTestGds, tempDir, type TestGds, type TestSession } from "../integration/helpers/gds-harness.js";
import { expectStatus, finishRequest, startNewKeyPairRequest } from "../integration/helpers/certificate-client.js";
import { registerOk, sampleServer, unregister } from "../integration/helpers/directory-client.js";
import { pbes2Of, pemDer, pfxParams } from "../unit/helpers/pkcs-params.js";

/**
 * A key pair the GDS makes (StartNewKeyPairRequest) is protected by the device's password. That
 * password waits, sealed, in the store until FinishRequest; once the key is delivered it must be
 * in no file of the data dir (the store's journal keeps every commit until it is compacted). The
 * delivered PEM/PFX must resist an offline attack on that password: PBKDF2 with at least 100,000
 * iterations, and a PFX MAC that costs as much, and still open in OpenSSL and node.
 */

const SEALED = /"sealedPassword":"(v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"/g;

/** Every file under dir (relative path → bytes). */
function allFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) out.set(r, fs.readFileSync(path.join(dir, r)));
    }
  };
  walk("");
  return out;
}

/** The forms in which a sealed value could sit in a file: as stored, its parts, base64 of the whole. */
function needles(sealed: string): string[] {
  const [, , , ct] = sealed.split(".");
  return [sealed, ct!, Buffer.from(sealed).toString("base64"), Buffer.from(ct!, "base64url").toString("base64"), Buffer.from(ct!, "base64url").toString("hex")];
}

function filesHolding(dir: string, sealed: string): string[] {
  const found: string[] = [];
  for (const [file, bytes] of allFiles(dir)) {
    for (const n of needles(sealed)) if (bytes.includes(n)) found.push(`${file} (${n.slice(0, 12)}…)`);
  }
  return found;
}

describe("key delivery: the sealed password is gone once delivered; delivered keys use PBKDF2 >= 100,000", () => {
  let t: TestGds;
  let admin: TestSession;
  let appId: NodeId;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir("gds-sec-keys-");
    t = await startTestGds({ dataDir });
    admin = await connect(t.endpointUrl);
    appId = await registerOk(admin, sampleServer());
  }, 120_000);

  afterAll(async () => {
    await admin?.close();
    await t?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** StartNewKeyPairRequest with a password; returns the request and the sealed value the store wrote. */
  async function start(format: "PEM" | "PFX", password: string): Promise<{ requestId: NodeId; sealed: string }> {
    const before = new Set(fs.readFileSync(path.join(dataDir, "gds.db.json.journal"), "utf8").match(SEALED) ?? []);
    const r = await startNewKeyPairRequest(admin, appId, { privateKeyFormat: format, privateKeyPassword: password, domainNames: ["device1.local"] });
    expectStatus(r, "Good");
    const journal = fs.readFileSync(path.join(dataDir, "gds.db.json.journal"), "utf8") + fs.readFileSync(path.join(dataDir, "gds.db.json"), "utf8");
    const fresh = [...new Set(journal.match(SEALED) ?? [])].filter((m) => !before.has(m));
    expect(fresh).toHaveLength(1); // the password went to disk sealed, never in the clear
    expect(journal).not.toContain(password);
    const sealed = SEALED.exec(fresh[0]!)![1]!;
    SEALED.lastIndex = 0;
    return { requestId: r.outputs[0].value as NodeId, sealed };
  }

  it("PEM: after FinishRequest the sealed password is in no file (snapshot, journal, audit log, anything); the key is PBES2/PBKDF2-SHA256 x >= 100,000 and opens in node and openssl", async () => {
    const password = "pem device password 1";
    const { requestId, sealed } = await start("PEM", password);
    expect(filesHolding(dataDir, sealed).length).toBeGreaterThan(0); // the test finds it while it is there

    const finish = await finishRequest(admin, appId, requestId);
    expectStatus(finish, "Good");
    expect(filesHolding(dataDir, sealed)).toEqual([]);
    const journal = fs.readFileSync(path.join(dataDir, "gds.db.json.journal"));
    const snapshot = fs.readFileSync(path.join(dataDir, "gds.db.json"));
    expect(journal.includes(sealed)).toBe(false);
    expect(snapshot.includes(sealed)).toBe(false);
    expect(journal.includes(Buffer.from(sealed).toString("base64"))).toBe(false);
    expect(snapshot.includes(Buffer.from(sealed).toString("base64"))).toBe(false);
    expect(snapshot.includes("sealedPassword")).toBe(false);

    const keyPem = Buffer.from(finish.outputs[1].value as Buffer).toString("utf8");
    expect(keyPem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    const params = pbes2Of(pemDer(keyPem));
    expect(params).toMatchObject({ kdf: "pbkdf2", prf: "hmacWithSHA256", cipher: "aes-256-cbc" });
    expect(params.iterations).toBeGreaterThanOrEqual(100_000);
    const key = crypto.createPrivateKey({ key: keyPem, passphrase: password });
    const cert = new crypto.X509Certificate(Buffer.from(finish.outputs[0].value as Buffer));
    expect(crypto.createPublicKey(key).export({ type: "spki", format: "der" })).toEqual(cert.publicKey.export({ type: "spki", format: "der" }));
    const o = spawnSync("openssl", ["pkey", "-passin", `pass:${password}`, "-pubout"], { input: keyPem, encoding: "utf8" });
    expect(o.status).toBe(0);
  });

  it("PFX: after FinishRequest the sealed password is in no file; MAC SHA-256 and key bag PBKDF2 x >= 100,000; openssl and node open it", async () => {
    const password = "pfx device password 2";
    const { requestId, sealed } = await start("PFX", password);
    const finish = await finishRequest(admin, appId, requestId);
    expectStatus(finish, "Good");
    expect(filesHolding(dataDir, sealed)).toEqual([]);

    const pfx = Buffer.from(finish.outputs[1].value as Buffer);
    const p = pfxParams(pfx);
    expect(p.macDigest).toBe("2.16.840.1.101.3.4.2.1"); // SHA-256
    expect(p.macIterations).toBeGreaterThanOrEqual(100_000);
    expect(p.keyBag).toMatchObject({ kdf: "pbkdf2", prf: "hmacWithSHA256", cipher: "aes-256-cbc" });
    expect(p.keyBag.iterations).toBeGreaterThanOrEqual(100_000);

    const file = path.join(dataDir, "..", `${path.basename(dataDir)}-delivered.pfx`);
    fs.writeFileSync(file, pfx);
    try {
      const o = spawnSync("openssl", ["pkcs12", "-in", file, "-passin", `pass:${password}`, "-nodes"], { encoding: "utf8" });
      expect(o.status).toBe(0);
      expect(o.stdout).toContain("-----BEGIN PRIVATE KEY-----");
      expect(spawnSync("openssl", ["pkcs12", "-in", file, "-passin", "pass:wrong", "-nodes"], { encoding: "utf8" }).status).not.toBe(0);
    } finally {
      fs.rmSync(file, { force: true });
    }
    expect(tls.createSecureContext({ pfx, passphrase: password })).toBeDefined();
  });

  it("a request rejected before delivery drops its sealed password from every file too", async () => {
    const { requestId, sealed } = await start("PEM", "rejected device password 3");
    // An unregistered application's open requests are rejected; its sealed password goes with them.
    const other = await registerOk(admin, sampleServer());
    const r = await startNewKeyPairRequest(admin, other, { privateKeyFormat: "PEM", privateKeyPassword: "rejected device password 4" });
    expectStatus(r, "Good");
    const journal = fs.readFileSync(path.join(dataDir, "gds.db.json.journal"), "utf8");
    const sealedOther = [...journal.matchAll(SEALED)].map((m) => m[1]!).filter((s) => s !== sealed).pop()!;
    expect(sealedOther).toBeDefined();
    const un = await unregister(admin, other);
    expect(un.statusCode.isGood()).toBe(true);
    expect(filesHolding(dataDir, sealedOther)).toEqual([]);
    // The first request is still open: its sealed password is still there, and goes at delivery.
    expect(filesHolding(dataDir, sealed).length).toBeGreaterThan(0);
    expectStatus(await finishRequest(admin, appId, requestId), "Good");
    expect(filesHolding(dataDir, sealed)).toEqual([]);
  });
});
