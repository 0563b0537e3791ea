import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { LocalCaBackend } from "../../src/ca/local-ca-backend.js";
import { CERTIFICATE_TYPES, type CertificateTypeName } from "../../src/ca/certificate-types.js";
import tls from "node:tls";
import { encodePrivateKey, KEY_ITERATIONS, MAC_ITERATIONS, pkcs12Kdf, pkcs12KdfAsync, privateKeyFormatOf } from "../../src/ca/private-key-format.js";
import { pemDer, pbes2Of, pfxParams } from "./helpers/pkcs-params.js";
import { randomSerialHex } from "../../src/ca/serial-number.js";
import { rejectsGdsError } from "./helpers/gds-error.js";
import { openssl, pem, tempDir } from "./helpers/ca-tools.js";

let dir: string;
let ca: LocalCaBackend;
let caDer: Buffer;

interface Issued {
  pkcs8: Buffer;
  spki: Buffer;
  cert: Buffer;
}
const issued: Partial<Record<CertificateTypeName, Issued>> = {};

beforeAll(async () => {
  dir = tempDir("gds-pkf-");
  const dataDir = path.join(dir, "data");
  fs.mkdirSync(dataDir);
  ca = new LocalCaBackend({ dataDir, keySize: 2048, lifetimeMs: 86_400_000 * 365, subjectTemplate: "CN=Test {group} CA", clock: { now: () => new Date() } });
  await ca.init();
  caDer = ca.info("DefaultApplicationGroup").chain[0]!;
  for (const t of ["RsaSha256ApplicationCertificateType", "EccNistP256ApplicationCertificateType"] as const) {
    const kp = await ca.generateKeyPair(CERTIFICATE_TYPES[t]);
    const cert = await ca.issue({
      group: "DefaultApplicationGroup",
      type: CERTIFICATE_TYPES[t],
      publicKeySpki: kp.publicKeySpki,
      subject: "CN=Device",
      uris: ["urn:device"],
      dnsNames: ["device"],
      ipAddresses: [],
      serialHex: randomSerialHex(),
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
    });
    issued[t] = { pkcs8: kp.privateKeyPkcs8, spki: kp.publicKeySpki, cert };
  }
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Public key (SPKI PEM) of a private key PEM, as openssl computes it. */
function opensslPublicKeyOf(keyPem: string, pass?: string): string {
  const args = ["pkey", "-pubout"];
  if (pass !== undefined) args.push("-passin", `pass:${pass}`);
  const r = openssl(args, keyPem);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout;
}

const spkiPem = (spki: Buffer) => pem(spki, "PUBLIC KEY");

describe.each(["RsaSha256ApplicationCertificateType", "EccNistP256ApplicationCertificateType"] as const)("%s", (typeName) => {
  test("PEM without a password: PKCS#8 that openssl reads, matching the certificate", async () => {
    const k = issued[typeName]!;
    const out = (await encodePrivateKey({ pkcs8Der: k.pkcs8, format: "PEM", certificateDer: k.cert, issuerChain: [caDer] })).toString();
    expect(out).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(opensslPublicKeyOf(out)).toBe(spkiPem(k.spki));
    expect((await encodePrivateKey({ pkcs8Der: k.pkcs8, format: "pem", password: "", certificateDer: k.cert, issuerChain: [] })).toString()).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  test("PEM with a password: encrypted PKCS#8 (AES-256-CBC) that openssl and node decrypt only with it", async () => {
    const k = issued[typeName]!;
    const password = "sécret pass";
    const out = (await encodePrivateKey({ pkcs8Der: k.pkcs8, format: "PEM", password, certificateDer: k.cert, issuerChain: [caDer] })).toString();
    expect(out).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    const info = openssl(["asn1parse"], out).stdout;
    expect(info).toContain("PBES2");
    expect(info).toContain("aes-256-cbc");
    expect(opensslPublicKeyOf(out, password)).toBe(spkiPem(k.spki));
    expect(openssl(["pkey", "-passin", "pass:wrong"], out).status).not.toBe(0);
    const key = crypto.createPrivateKey({ key: out, passphrase: password });
    expect(crypto.createPublicKey(key).export({ type: "spki", format: "der" })).toEqual(k.spki);
    expect(() => crypto.createPrivateKey({ key: out, passphrase: "wrong" })).toThrow();
    // PBES2 with PBKDF2-HMAC-SHA256, at least 100,000 iterations, AES-256-CBC: read from the DER.
    expect(pbes2Of(pemDer(out))).toEqual({ kdf: "pbkdf2", prf: "hmacWithSHA256", cipher: "aes-256-cbc", iterations: KEY_ITERATIONS });
    expect(KEY_ITERATIONS).toBeGreaterThanOrEqual(100_000);
  });

  test.each([
    ["a password", "p@ss wörd"],
    ["no password", undefined],
  ])("PFX with %s: openssl 3 reads it without -legacy; key, certificate and chain inside", async (_label, password) => {
    const k = issued[typeName]!;
    const pfx = await encodePrivateKey({ pkcs8Der: k.pkcs8, format: "PFX", password, certificateDer: k.cert, issuerChain: [caDer] });
    const file = path.join(dir, `${typeName}-${password ? "pw" : "nopw"}.pfx`);
    fs.writeFileSync(file, pfx);
    const pass = `pass:${password ?? ""}`;
    const r = openssl(["pkcs12", "-in", file, "-passin", pass, "-nodes", "-info"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("MAC: sha256");
    expect(r.stderr).toContain("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC");
    // the key matches the certificate
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(r.stdout)![0];
    expect(opensslPublicKeyOf(keyPem)).toBe(spkiPem(k.spki));
    // the leaf (with the key's localKeyID) and the CA are both there
    const certs = [...r.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)].map((m) => m[0]);
    expect(certs).toEqual([pem(k.cert), pem(caDer)]);
    const clcert = openssl(["pkcs12", "-in", file, "-passin", pass, "-nokeys", "-clcerts"]);
    expect(clcert.stdout).toContain(pem(k.cert));
    expect(clcert.stdout).not.toContain(pem(caDer));
    // a wrong password fails the MAC
    expect(openssl(["pkcs12", "-in", file, "-passin", "pass:definitely-wrong", "-nodes"]).status).not.toBe(0);
    // openssl reports the iteration counts too
    expect(r.stderr).toContain(`MAC: sha256, Iteration ${MAC_ITERATIONS}`);
    expect(r.stderr).toContain(`PBKDF2, AES-256-CBC, Iteration ${KEY_ITERATIONS}, PRF hmacWithSHA256`);
    // node opens it (as a TLS credential), with the right password only
    const ctx = tls.createSecureContext({ pfx, passphrase: password ?? "" });
    expect(ctx).toBeDefined();
    expect(() => tls.createSecureContext({ pfx, passphrase: "definitely-wrong" })).toThrow();
    // the DER: MAC with SHA-256 and >= 100,000 iterations; the key bag PBES2/PBKDF2-SHA256 with >= 100,000
    const parsed = pfxParams(pfx);
    expect(parsed.macIterations).toBe(MAC_ITERATIONS);
    expect(parsed.macIterations).toBeGreaterThanOrEqual(100_000);
    expect(parsed.macDigest).toBe("2.16.840.1.101.3.4.2.1");
    expect(parsed.keyBag).toEqual({ kdf: "pbkdf2", prf: "hmacWithSHA256", cipher: "aes-256-cbc", iterations: KEY_ITERATIONS });
    expect(parsed.keyBag.iterations).toBeGreaterThanOrEqual(100_000);
  });
});

describe("errors and building blocks", () => {
  test("unknown formats are BadInvalidArgument", async () => {
    expect(privateKeyFormatOf("pfx")).toBe("PFX");
    const k = issued.RsaSha256ApplicationCertificateType!;
    await rejectsGdsError(encodePrivateKey({ pkcs8Der: k.pkcs8, format: "JKS", certificateDer: k.cert, issuerChain: [] }), "BadInvalidArgument", '"JKS" is not supported');
  });

  test("a key that does not belong to the certificate is an internal error", async () => {
    const rsa = issued.RsaSha256ApplicationCertificateType!;
    const ec = issued.EccNistP256ApplicationCertificateType!;
    await expect(encodePrivateKey({ pkcs8Der: rsa.pkcs8, format: "PEM", certificateDer: ec.cert, issuerChain: [] })).rejects.toThrow("does not belong to the certificate");
  });

  test("pkcs12Kdf matches RFC 7292 as OpenSSL implements it (SHA-1 vector from OpenSSL's test suite)", async () => {
    // openssl test/pkcs12_format_test / RFC 7292-style vector: password "smeg", salt 0A58CF64530D823F, id 1, 1 iteration
    const key = pkcs12Kdf("sha1", "smeg", Buffer.from("0A58CF64530D823F", "hex"), 1, 1, 24);
    expect(key.toString("hex").toUpperCase()).toBe("8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3");
    // the async form (used for the PFX MAC) gives the same keys, across its yields
    expect(await pkcs12KdfAsync("sha1", "smeg", Buffer.from("0A58CF64530D823F", "hex"), 1, 1, 24)).toEqual(key);
    const salt = Buffer.from("00112233445566778899aabbccddeeff", "hex");
    expect(await pkcs12KdfAsync("sha256", "pw", salt, 3, 12_345, 32)).toEqual(pkcs12Kdf("sha256", "pw", salt, 3, 12_345, 32));
  });
});
