import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import * as x509 from "@peculiar/x509";
import crypto from "node:crypto";
import fs from "node:fs";
import { checkKeyFitsType, MAX_CSR_BYTES, parseAndVerifyCsr, parseCsr, verifyCsr } from "../../src/ca/csr.js";
import { CERTIFICATE_TYPES } from "../../src/ca/certificate-types.js";
import { rejectsGdsError, throwsGdsError } from "./helpers/gds-error.js";
import { opensslCsr, opensslOk, pem, tempDir, type TestKeyKind } from "./helpers/ca-tools.js";

let dir: string;
const csrs: Partial<Record<TestKeyKind, { der: Buffer; keyPem: string }>> = {};

beforeAll(() => {
  dir = tempDir("gds-csr-");
  const san = "URI:urn:acme:pump7,URI:urn:second,DNS:pump7.plant.local,IP:10.0.0.7,IP:2001:db8:0:0:0:0:0:7";
  for (const kind of ["rsa:2048", "rsa:1024", "P-256", "P-384"] as const) csrs[kind] = opensslCsr(dir, kind, "/CN=Pump 7/O=Acme/DC=plant", san);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("parseAndVerifyCsr", () => {
  test.each([
    ["rsa:2048", { keyAlgorithm: "RSA", rsaBits: 2048 }],
    ["rsa:1024", { keyAlgorithm: "RSA", rsaBits: 1024 }],
    ["P-256", { keyAlgorithm: "EC", curve: "P-256" }],
    ["P-384", { keyAlgorithm: "EC", curve: "P-384" }],
  ] as const)("openssl %s CSR: key, subject and SAN", async (kind, key) => {
    const csr = await parseAndVerifyCsr(csrs[kind]!.der);
    expect(csr).toMatchObject(key);
    expect(csr.subject).toBe("DC=plant, O=Acme, CN=Pump 7");
    expect(csr.uris).toEqual(["urn:acme:pump7", "urn:second"]);
    expect(csr.dnsNames).toEqual(["pump7.plant.local"]);
    expect(csr.ipAddresses).toEqual(["10.0.0.7", "2001:db8::7"]);
    expect(csr.publicKeySpki).toEqual(crypto.createPublicKey(csrs[kind]!.keyPem).export({ type: "spki", format: "der" }));
    expect(csr.signatureAlgorithm).toBe(kind.startsWith("rsa") ? "sha256WithRSAEncryption" : "ecdsa-with-SHA256");
  });

  test("PEM is accepted as a courtesy", async () => {
    const csr = await parseAndVerifyCsr(Buffer.from(pem(csrs["P-256"]!.der, "CERTIFICATE REQUEST")));
    expect(csr.curve).toBe("P-256");
  });

  test("a CSR made by @peculiar/x509 (webcrypto, RSA-PSS signature) verifies", async () => {
    const alg = { name: "RSA-PSS", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048, saltLength: 32 };
    const keys = (await crypto.webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=Webcrypto, O=Acme",
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "urn:web" }, { type: "dns", value: "web.local" }])],
    });
    // webcrypto exports the key as rsaEncryption: an ordinary RSA key, with a PSS self-signature
    const csr = await parseAndVerifyCsr(Buffer.from(req.rawData));
    // @peculiar/x509 encodes names in the order written (CN first); RFC 4514 lists the last RDN first
    expect(csr).toMatchObject({ keyAlgorithm: "RSA", rsaBits: 2048, subject: "O=Acme, CN=Webcrypto", uris: ["urn:web"], dnsNames: ["web.local"], signatureAlgorithm: "RSASSA-PSS" });
  });

  test("a CSR made by @peculiar/x509 with an ECDSA P-384 key verifies", async () => {
    const alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
    const keys = (await crypto.webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=Webcrypto",
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "urn:web" }, { type: "ip", value: "192.168.1.2" }])],
    });
    const csr = await parseAndVerifyCsr(Buffer.from(req.rawData));
    expect(csr).toMatchObject({ keyAlgorithm: "EC", curve: "P-384", uris: ["urn:web"], ipAddresses: ["192.168.1.2"], subject: "CN=Webcrypto", signatureAlgorithm: "ecdsa-with-SHA384" });
  });

  test("an RSA CSR signed with RSASSA-PSS (openssl -sigopt) verifies", async () => {
    const c = opensslCsr(dir, "rsa:2048", "/CN=Pss", "URI:urn:pss", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:20"]);
    const csr = await parseAndVerifyCsr(c.der);
    expect(csr).toMatchObject({ keyAlgorithm: "RSA", rsaBits: 2048, signatureAlgorithm: "RSASSA-PSS" });
  });

  test("an RSA-PSS-only key (id-RSASSA-PSS SubjectPublicKeyInfo) is refused by name", async () => {
    const keyFile = `${dir}/pss.key`;
    const reqFile = `${dir}/pss.der`;
    opensslOk(["genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyFile]);
    opensslOk(["req", "-new", "-key", keyFile, "-subj", "/CN=PssKey", "-outform", "DER", "-out", reqFile]);
    await rejectsGdsError(parseAndVerifyCsr(fs.readFileSync(reqFile)), "BadInvalidArgument", "RSA-PSS keys are not supported");
  });

  test("a CSR without subject or SAN parses with empty values", async () => {
    const c = opensslCsr(dir, "P-256", "/");
    const csr = await parseAndVerifyCsr(c.der);
    expect(csr.subject).toBe("");
    expect(csr.uris).toEqual([]);
  });

  test("a tampered CSR (one byte of the subject changed) fails the signature check", async () => {
    const der = Buffer.from(csrs["rsa:2048"]!.der);
    const at = der.indexOf(Buffer.from("Pump 7"));
    der[at] = "X".charCodeAt(0);
    const parsed = parseCsr(der); // structure is fine…
    expect(parsed.subject).toContain("Xump 7");
    await rejectsGdsError(verifyCsr(parsed), "BadInvalidArgument", "signature does not verify"); // …the signature is not
    await rejectsGdsError(parseAndVerifyCsr(der), "BadInvalidArgument", "signature does not verify");
  });

  test("a CSR whose signature bytes are flipped fails", async () => {
    const der = Buffer.from(csrs["P-256"]!.der);
    der[der.length - 5] ^= 0xff;
    await rejectsGdsError(parseAndVerifyCsr(der), "BadInvalidArgument");
  });

  test.each([
    ["empty", () => Buffer.alloc(0), "empty"],
    ["text", () => Buffer.from("hello"), "neither DER nor PEM"],
    ["truncated", () => csrs["rsa:2048"]!.der.subarray(0, 100), "malformed (truncated"],
    ["not a CSR", () => Buffer.from("3003020100", "hex"), "malformed"],
    ["trailing bytes", () => Buffer.concat([csrs["P-256"]!.der, Buffer.from([0])]), "trailing bytes"],
    ["indefinite length", () => Buffer.from("308000000000", "hex"), "indefinite length"],
    ["too large", () => Buffer.alloc(MAX_CSR_BYTES + 1, 0x30), "larger than"],
  ])("garbage (%s) is BadInvalidArgument", async (_name, make, fragment) => {
    const der = make();
    await rejectsGdsError(parseAndVerifyCsr(der), "BadInvalidArgument", "certificate signing request", fragment);
    throwsGdsError(() => parseCsr(der), "BadInvalidArgument", fragment);
  });

  test("verifyCsr only takes parseCsr results", async () => {
    const parsed = parseCsr(csrs["P-256"]!.der);
    await rejectsGdsError(verifyCsr({ ...parsed }), "BadInvalidArgument", "not produced by parseCsr");
  });
});

describe("checkKeyFitsType", () => {
  const T = CERTIFICATE_TYPES;
  test("fitting keys pass", () => {
    expect(() => checkKeyFitsType({ keyAlgorithm: "RSA", rsaBits: 2048 }, T.RsaMinApplicationCertificateType)).not.toThrow();
    expect(() => checkKeyFitsType({ keyAlgorithm: "RSA", rsaBits: 4096 }, T.RsaSha256ApplicationCertificateType)).not.toThrow();
    expect(() => checkKeyFitsType({ keyAlgorithm: "RSA", rsaBits: 3072 }, T.HttpsCertificateType)).not.toThrow();
    expect(() => checkKeyFitsType({ keyAlgorithm: "EC", curve: "P-256" }, T.EccNistP256ApplicationCertificateType)).not.toThrow();
    expect(() => checkKeyFitsType({ keyAlgorithm: "EC", curve: "P-384" }, T.EccNistP384ApplicationCertificateType)).not.toThrow();
  });

  test("messages say what was needed and what the CSR has", async () => {
    const rsa1024 = await parseAndVerifyCsr(csrs["rsa:1024"]!.der);
    throwsGdsError(
      () => checkKeyFitsType(rsa1024, T.RsaMinApplicationCertificateType),
      "BadInvalidArgument",
      "RsaMinApplicationCertificateType needs an RSA 2048-bit key; this CSR has an RSA 1024-bit key (1024-bit keys are refused by policy)",
    );
    throwsGdsError(() => checkKeyFitsType(rsa1024, T.RsaSha256ApplicationCertificateType), "BadInvalidArgument", "needs an RSA key of 2048 to 4096 bits; this CSR has an RSA 1024-bit key");
    throwsGdsError(
      () => checkKeyFitsType({ keyAlgorithm: "RSA", rsaBits: 2048 }, T.EccNistP256ApplicationCertificateType),
      "BadInvalidArgument",
      "EccNistP256ApplicationCertificateType needs an ECDSA P-256 key; this CSR has an RSA 2048-bit key",
    );
    throwsGdsError(() => checkKeyFitsType({ keyAlgorithm: "EC", curve: "P-384" }, T.EccNistP256ApplicationCertificateType), "BadInvalidArgument", "needs an ECDSA P-256 key; this CSR has an ECDSA P-384 key");
    throwsGdsError(() => checkKeyFitsType({ keyAlgorithm: "EC", curve: "P-256" }, T.RsaMinApplicationCertificateType), "BadInvalidArgument", "has an ECDSA P-256 key");
    throwsGdsError(() => checkKeyFitsType({ keyAlgorithm: "RSA", rsaBits: 8192 }, T.RsaSha256ApplicationCertificateType), "BadInvalidArgument", "RSA 8192-bit");
  });
});
