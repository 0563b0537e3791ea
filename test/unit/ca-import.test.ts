import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { CaImportError, importCa } from "../../src/ca/ca-import.js";
import { certificateInfo } from "../../src/ca/certificate-info.js";
import { CERTIFICATE_TYPES } from "../../src/ca/certificate-types.js";
import { LocalCaBackend } from "../../src/ca/local-ca-backend.js";
import { randomSerialHex } from "../../src/ca/serial-number.js";
import { openssl, opensslOk, pem, tempDir, writePem } from "./helpers/ca-tools.js";

let root: string;
let n = 0;
/** A data dir whose DefaultHttpsGroup and DefaultUserTokenGroup CAs are copied into new data dirs (no key generation per test). */
let seedDir: string;

beforeAll(async () => {
  root = tempDir("gds-ca-import-");
  seedDir = path.join(root, "seed");
  fs.mkdirSync(seedDir);
  await new LocalCaBackend({ dataDir: seedDir, keySize: 2048, lifetimeMs: 86_400_000, subjectTemplate: "CN={group}", clock: { now: () => new Date() } }).init();
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

interface ExternalCa {
  certFile: string;
  keyFile: string;
  certDer: Buffer;
}

/**
 * A CA made by openssl. `key`: "rsa" (PKCS#1 PEM), "rsa1024", "ec" (SEC1 PEM), "pkcs8"; `ext`: the
 * v3 extensions; `issuer`: sign with another CA instead of self-signing.
 */
function externalCa(opts: { key?: "rsa" | "rsa1024" | "ec" | "pkcs8"; ext?: string; issuer?: ExternalCa; subj?: string } = {}): ExternalCa {
  const base = path.join(root, `ext-${++n}`);
  const keyFile = `${base}.key`;
  const certFile = `${base}.pem`;
  const kind = opts.key ?? "rsa";
  if (kind === "ec") opensslOk(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyFile]);
  else if (kind === "pkcs8") opensslOk(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyFile]);
  else opensslOk(["genrsa", "-traditional", "-out", keyFile, kind === "rsa1024" ? "1024" : "2048"]);
  const extFile = `${base}.cnf`;
  fs.writeFileSync(extFile, `[v3]\n${opts.ext ?? "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash"}\n`);
  const csr = opensslOk(["req", "-new", "-key", keyFile, "-subj", opts.subj ?? `/CN=External CA ${n}/O=Plant`]);
  const sign = opts.issuer ? ["-CA", opts.issuer.certFile, "-CAkey", opts.issuer.keyFile, "-CAcreateserial"] : ["-signkey", keyFile];
  opensslOk(["x509", "-req", ...sign, "-extfile", extFile, "-extensions", "v3", "-days", "30", "-out", certFile], csr);
  const certDer = Buffer.from(opensslOk(["x509", "-in", certFile, "-outform", "DER"]), "latin1");
  return { certFile, keyFile, certDer };
}

function newDataDir(seedOtherGroups = true): string {
  const d = path.join(root, `data-${++n}`);
  fs.mkdirSync(d);
  if (seedOtherGroups) {
    fs.mkdirSync(path.join(d, "ca"), { mode: 0o700 });
    for (const g of ["DefaultHttpsGroup", "DefaultUserTokenGroup"]) fs.cpSync(path.join(seedDir, "ca", g), path.join(d, "ca", g), { recursive: true });
  }
  return d;
}

async function importError(p: Promise<unknown>): Promise<CaImportError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CaImportError);
  return e as CaImportError;
}

const clock = { now: () => new Date() };

async function issueWith(backend: LocalCaBackend): Promise<Buffer> {
  const kp = await backend.generateKeyPair(CERTIFICATE_TYPES.EccNistP256ApplicationCertificateType);
  return backend.issue({
    group: "DefaultApplicationGroup",
    type: CERTIFICATE_TYPES.EccNistP256ApplicationCertificateType,
    publicKeySpki: kp.publicKeySpki,
    subject: "CN=Device",
    uris: ["urn:device"],
    dnsNames: [],
    ipAddresses: [],
    serialHex: randomSerialHex(),
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
  });
}

describe("importCa", () => {
  test("PEM certificate + PKCS#1 key: written like a created CA, and the backend signs with it", async () => {
    const ext = externalCa();
    const dataDir = newDataDir();
    const r = await importCa({ dataDir, group: "DefaultApplicationGroup", certFile: ext.certFile, keyFile: ext.keyFile });
    expect(r).toMatchObject({ group: "DefaultApplicationGroup", subject: `O=Plant, CN=External CA ${n - 1}`, keyAlgorithm: "RSA 2048", chainLength: 0 });
    expect(r.thumbprint).toBe(crypto.createHash("sha1").update(ext.certDer).digest("hex"));
    const dir = path.join(dataDir, "ca", "DefaultApplicationGroup");
    expect(fs.readdirSync(dir).sort()).toEqual(["ca.cert.der", "ca.cert.pem", "ca.key.pem"]);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, "ca.key.pem")).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(dir, "ca.cert.der"))).toEqual(ext.certDer);
    expect(fs.readFileSync(path.join(dir, "ca.key.pem"), "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/); // normalised to PKCS#8

    const backend = new LocalCaBackend({ dataDir, keySize: 2048, lifetimeMs: 86_400_000, subjectTemplate: "CN={group}", clock });
    const init = await backend.initialize();
    expect(init.loaded).toEqual(["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"]);
    const leaf = await issueWith(backend);
    expect(certificateInfo(leaf).issuer).toBe(r.subject);
    const leafFile = writePem(root, `leaf-${n}.pem`, leaf);
    expect(openssl(["verify", "-CAfile", ext.certFile, leafFile]).status).toBe(0);
  });

  test("ECDSA CA (SEC1 key): issued certificates are signed ecdsa-with-SHA256 and verify", async () => {
    const ext = externalCa({ key: "ec" });
    const dataDir = newDataDir();
    const r = await importCa({ dataDir, group: "DefaultApplicationGroup", certFile: ext.certFile, keyFile: ext.keyFile });
    expect(r.keyAlgorithm).toBe("EC P-256");
    const backend = new LocalCaBackend({ dataDir, keySize: 2048, lifetimeMs: 86_400_000, subjectTemplate: "CN={group}", clock });
    await backend.init();
    expect(backend.info("DefaultApplicationGroup").keyAlgorithm).toBe("EC P-256");
    const leaf = await issueWith(backend);
    expect(certificateInfo(leaf).signatureAlgorithm).toBe("1.2.840.10045.4.3.2");
    expect(openssl(["verify", "-CAfile", ext.certFile, writePem(root, `leaf-${n}.pem`, leaf)]).status).toBe(0);
    const crl = await backend.signCrl({ group: "DefaultApplicationGroup", revoked: [{ serialHex: certificateInfo(leaf).serialHex, revokedAt: new Date() }], crlNumber: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 86_400_000) });
    const crlFile = path.join(root, `ec-${n}.crl`);
    fs.writeFileSync(crlFile, crl);
    expect(openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", ext.certFile, "-noout"]).stderr).toContain("verify OK");
  });

  test("DER certificate + DER PKCS#8 key", async () => {
    const ext = externalCa({ key: "pkcs8" });
    const certDerFile = path.join(root, `der-${n}.cer`);
    fs.writeFileSync(certDerFile, ext.certDer);
    const keyDerFile = path.join(root, `der-${n}.key`);
    fs.writeFileSync(keyDerFile, Buffer.from(opensslOk(["pkey", "-in", ext.keyFile, "-outform", "DER"]), "latin1"));
    const r = await importCa({ dataDir: newDataDir(false), group: "DefaultHttpsGroup", certFile: certDerFile, keyFile: keyDerFile });
    expect(r.group).toBe("DefaultHttpsGroup");
  });

  test("an intermediate CA with its root: the chain is stored and info() returns it", async () => {
    const rootCa = externalCa({ key: "ec", subj: "/CN=Root" });
    const inter = externalCa({ key: "ec", issuer: rootCa, subj: "/CN=Intermediate" });
    const bundle = path.join(root, `bundle-${n}.pem`);
    fs.writeFileSync(bundle, fs.readFileSync(inter.certFile, "utf8") + fs.readFileSync(rootCa.certFile, "utf8"));
    const dataDir = newDataDir();
    const r = await importCa({ dataDir, group: "DefaultApplicationGroup", certFile: bundle, keyFile: inter.keyFile });
    expect(r.chainLength).toBe(1);
    expect(fs.readFileSync(path.join(dataDir, "ca", "DefaultApplicationGroup", "ca.chain.pem"), "utf8")).toBe(pem(rootCa.certDer));
    const backend = new LocalCaBackend({ dataDir, keySize: 2048, lifetimeMs: 86_400_000, subjectTemplate: "CN={group}", clock });
    await backend.init();
    expect(backend.info("DefaultApplicationGroup").chain).toEqual([inter.certDer, rootCa.certDer]);
    const leaf = writePem(root, `leaf-${n}.pem`, await issueWith(backend));
    expect(openssl(["verify", "-CAfile", rootCa.certFile, "-untrusted", inter.certFile, leaf]).status).toBe(0);

    // the other order is refused
    const wrong = path.join(root, `wrong-${n}.pem`);
    fs.writeFileSync(wrong, fs.readFileSync(rootCa.certFile, "utf8") + fs.readFileSync(inter.certFile, "utf8"));
    expect((await importError(importCa({ dataDir: newDataDir(), group: "DefaultApplicationGroup", certFile: wrong, keyFile: inter.keyFile }))).message).toContain("does not belong");
  });

  test("an existing CA is not overwritten without force; force keeps the old one beside it", async () => {
    const a = externalCa({ key: "ec" });
    const b = externalCa({ key: "ec" });
    const dataDir = newDataDir(false);
    await importCa({ dataDir, group: "DefaultUserTokenGroup", certFile: a.certFile, keyFile: a.keyFile });
    const e = await importError(importCa({ dataDir, group: "DefaultUserTokenGroup", certFile: b.certFile, keyFile: b.keyFile }));
    expect(e.statusName).toBe("BadEntryExists");
    expect(e.message).toContain("DefaultUserTokenGroup already has a CA");
    expect(fs.readFileSync(path.join(dataDir, "ca", "DefaultUserTokenGroup", "ca.cert.der"))).toEqual(a.certDer);

    const r = await importCa({ dataDir, group: "DefaultUserTokenGroup", certFile: b.certFile, keyFile: b.keyFile, force: true });
    expect(fs.readFileSync(path.join(dataDir, "ca", "DefaultUserTokenGroup", "ca.cert.der"))).toEqual(b.certDer);
    expect(r.replacedTo).toMatch(/DefaultUserTokenGroup\.replaced-/);
    expect(fs.readFileSync(path.join(r.replacedTo!, "ca.cert.der"))).toEqual(a.certDer);
    expect(fs.readdirSync(path.join(dataDir, "ca")).filter((f) => f.includes("staging"))).toEqual([]);
  });

  test.each([
    ["a leaf certificate", () => externalCa({ key: "ec", ext: "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature" }), "is not a CA certificate"],
    ["keyUsage without keyCertSign", () => externalCa({ key: "ec", ext: "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,cRLSign" }), "lacks keyCertSign"],
    ["keyUsage without cRLSign", () => externalCa({ key: "ec", ext: "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign" }), "lacks cRLSign"],
    ["an RSA 1024-bit key", () => externalCa({ key: "rsa1024" }), "RSA 1024-bit CA keys are refused"],
  ])("refused: %s", async (_label, make, fragment) => {
    const ext = make();
    const e = await importError(importCa({ dataDir: newDataDir(), group: "DefaultApplicationGroup", certFile: ext.certFile, keyFile: ext.keyFile }));
    expect(e.message).toContain(fragment);
    expect(e.statusName).toBeUndefined();
  });

  test("refused: key of another CA, expired certificate, encrypted key, garbage and missing files", async () => {
    const a = externalCa({ key: "ec" });
    const b = externalCa({ key: "ec" });
    const dataDir = newDataDir(false);
    const imp = (certFile: string, keyFile: string, extra = {}) => importError(importCa({ dataDir, group: "DefaultApplicationGroup", certFile, keyFile, ...extra }));
    expect((await imp(a.certFile, b.keyFile)).message).toContain("the private key does not belong to the certificate");
    expect((await imp(a.certFile, a.keyFile, { clock: { now: () => new Date("2100-01-01T00:00:00Z") } })).message).toContain("expired on");

    const encrypted = path.join(root, `enc-${n}.pem`);
    opensslOk(["pkey", "-in", a.keyFile, "-aes256", "-passout", "pass:secret", "-out", encrypted]);
    expect((await imp(a.certFile, encrypted)).message).toContain("is an encrypted private key; decrypt it first");

    const garbage = path.join(root, `garbage-${n}`);
    fs.writeFileSync(garbage, "hello");
    expect((await imp(garbage, a.keyFile)).message).toContain("holds no certificate");
    expect((await imp(a.certFile, garbage)).message).toContain("holds no private key");
    expect((await imp(path.join(root, "missing.pem"), a.keyFile)).message).toMatch(/cannot read the certificate file .*ENOENT/);
    expect(fs.existsSync(path.join(dataDir, "ca", "DefaultApplicationGroup"))).toBe(false);
  });
});

describe("LocalCaBackend importOnFirstStart", () => {
  test("imports DefaultApplicationGroup's CA on the first start, then loads it and ignores (with a warning) different files", async () => {
    const a = externalCa({ key: "ec" });
    const b = externalCa({ key: "ec" });
    const dataDir = newDataDir();
    const lines: string[] = [];
    const log = pino(
      { level: "debug" },
      new Writable({
        write(chunk, _e, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const opts = { dataDir, keySize: 2048, lifetimeMs: 86_400_000, subjectTemplate: "CN=opcua-gds {group} CA", clock, log };
    const first = await new LocalCaBackend({ ...opts, importOnFirstStart: { certFile: a.certFile, keyFile: a.keyFile } }).initialize();
    expect(first.imported).toEqual(["DefaultApplicationGroup"]);
    expect(first.loaded).toEqual(["DefaultHttpsGroup", "DefaultUserTokenGroup"]);
    expect(lines.some((l) => l.includes('"CA imported"'))).toBe(true);

    const second = new LocalCaBackend({ ...opts, importOnFirstStart: { certFile: b.certFile, keyFile: b.keyFile } });
    const r = await second.initialize();
    expect(r.loaded).toEqual(["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"]);
    expect(second.info("DefaultApplicationGroup").chain[0]).toEqual(a.certDer);
    expect(lines.some((l) => l.includes("differ from the CA in the data dir and are ignored"))).toBe(true);
  });

  test("a refused first-start import stops init", async () => {
    const leaf = externalCa({ key: "ec", ext: "basicConstraints=critical,CA:FALSE" });
    const backend = new LocalCaBackend({ dataDir: newDataDir(), keySize: 2048, lifetimeMs: 86_400_000, subjectTemplate: "CN={group}", clock, importOnFirstStart: { certFile: leaf.certFile, keyFile: leaf.keyFile } });
    expect((await importError(backend.init())).message).toContain("is not a CA certificate");
  });
});
