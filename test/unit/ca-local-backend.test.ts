import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { exploreCertificate, exploreCertificateRevocationList, verifyCertificateRevocationListSignature } from "node-opcua-crypto";
import { CertificateManager } from "node-opcua-pki";
import { CaLoadError, LocalCaBackend, type LocalCaBackendOptions } from "../../src/ca/local-ca-backend.js";
import { parseAndVerifyCsr } from "../../src/ca/csr.js";
import { certificateInfo, verifyIssuedBy } from "../../src/ca/certificate-info.js";
import { CERTIFICATE_GROUP_NAMES, CERTIFICATE_TYPES, type CertificateTypeSpec } from "../../src/ca/certificate-types.js";
import { randomSerialHex } from "../../src/ca/serial-number.js";
import { rejectsGdsError } from "./helpers/gds-error.js";
import { openssl, opensslCsr, opensslOk, pem, tempDir, writePem } from "./helpers/ca-tools.js";

const clock = { now: () => new Date() };
const YEAR = 365 * 86_400_000;
let root: string;
let dataDir: string;
let ca: LocalCaBackend;
let caPemFile: string;
let logLines: string[];

function options(extra: Partial<LocalCaBackendOptions> = {}): LocalCaBackendOptions {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  return { dataDir, keySize: 2048, lifetimeMs: 10 * YEAR, subjectTemplate: "CN=opcua-gds {group} CA, O=Test", clock, log: pino({ level: "debug" }, sink), ...extra };
}

beforeAll(async () => {
  logLines = [];
  root = tempDir("gds-ca-backend-");
  dataDir = path.join(root, "data");
  fs.mkdirSync(dataDir);
  ca = new LocalCaBackend(options());
  await ca.init();
  caPemFile = writePem(root, "app-ca.pem", ca.info("DefaultApplicationGroup").chain[0]!);
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function issueRequest(spki: Buffer, type: CertificateTypeSpec, extra: Partial<Parameters<LocalCaBackend["issue"]>[0]> = {}) {
  const now = Date.now();
  return {
    group: "DefaultApplicationGroup" as const,
    type,
    publicKeySpki: spki,
    subject: "CN=Pump 7, O=Acme",
    uris: ["urn:acme:pump7", "urn:acme:other"],
    dnsNames: ["pump7.plant.local", "pump7"],
    ipAddresses: ["10.0.0.7", "2001:db8::7"],
    serialHex: randomSerialHex(),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + YEAR),
    ...extra,
  };
}

function opensslVerify(certDer: Buffer, caFile = caPemFile, extra: string[] = []) {
  const file = writePem(root, `leaf-${Math.random().toString(36).slice(2)}.pem`, certDer);
  return openssl(["verify", "-CAfile", caFile, ...extra, file]);
}

describe("CA creation and loading", () => {
  test("init created a CA per group: key 0600, directories 0700, PEM copy, expected extensions", () => {
    expect(ca.initResult).toEqual({
      groups: { DefaultApplicationGroup: "created", DefaultHttpsGroup: "created", DefaultUserTokenGroup: "created" },
      created: [...CERTIFICATE_GROUP_NAMES],
      imported: [],
      loaded: [],
    });
    expect(fs.statSync(path.join(dataDir, "ca")).mode & 0o777).toBe(0o700);
    for (const group of CERTIFICATE_GROUP_NAMES) {
      const dir = path.join(dataDir, "ca", group);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(dir, "ca.key.pem")).mode & 0o777).toBe(0o600);
      const der = fs.readFileSync(path.join(dir, "ca.cert.der"));
      expect(fs.readFileSync(path.join(dir, "ca.cert.pem"), "utf8")).toBe(pem(der));
      expect(fs.readdirSync(dir).sort()).toEqual(["ca.cert.der", "ca.cert.pem", "ca.key.pem"]);

      const info = ca.info(group);
      expect(info.chain).toEqual([der]);
      expect(info.subject).toBe(`CN=opcua-gds ${group} CA, O=Test`);
      expect(info.keyAlgorithm).toBe("RSA 2048");
      const c = certificateInfo(der);
      expect(c.isCa).toBe(true);
      expect(c.selfSigned).toBe(true);
      expect(c.keyUsage).toEqual(["digitalSignature", "keyCertSign", "cRLSign"]);
      expect(c.subjectKeyIdentifier).toMatch(/^[0-9a-f]{40}$/);
      expect(c.authorityKeyIdentifier).toBe(c.subjectKeyIdentifier);
      expect(c.serialHex).toMatch(/^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{30}$/);
      expect(c.signatureAlgorithm).toBe("1.2.840.113549.1.1.11");
      // notBefore = now - 5 min, notAfter = now + lifetime (to the second)
      expect(Math.abs(c.notBefore.getTime() - (Date.now() - 5 * 60_000))).toBeLessThan(60_000);
      expect(Math.abs(c.notAfter.getTime() - (Date.now() + 10 * YEAR))).toBeLessThan(60_000);
    }
    // openssl agrees: a self-signed CA that verifies against itself, with critical BC and KU
    const text = opensslOk(["x509", "-in", caPemFile, "-noout", "-text"]);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(openssl(["verify", "-CAfile", caPemFile, caPemFile]).status).toBe(0);
    expect(logLines.filter((l) => l.includes('"CA created"'))).toHaveLength(3);
  });

  test("a second backend on the same data dir loads the same CAs", async () => {
    const again = new LocalCaBackend(options());
    const r = await again.initialize();
    expect(r.loaded).toEqual([...CERTIFICATE_GROUP_NAMES]);
    expect(r.created).toEqual([]);
    for (const g of CERTIFICATE_GROUP_NAMES) expect(again.info(g).chain[0]).toEqual(ca.info(g).chain[0]);
  });

  test("a key file open to group/others is tightened to 0600 with a warning", async () => {
    const keyFile = path.join(dataDir, "ca", "DefaultHttpsGroup", "ca.key.pem");
    fs.chmodSync(keyFile, 0o644);
    logLines.length = 0;
    await new LocalCaBackend(options()).init();
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const warning = logLines.find((l) => l.includes("permissions set to 0600"));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning!).level).toBe(40);
  });

  test("a key that does not belong to the certificate stops init with a clear error", async () => {
    const other = tempDir("gds-ca-mismatch-");
    try {
      await new LocalCaBackend({ ...options(), dataDir: other }).init();
      // swap in another group's key
      fs.copyFileSync(path.join(other, "ca", "DefaultHttpsGroup", "ca.key.pem"), path.join(other, "ca", "DefaultApplicationGroup", "ca.key.pem"));
      const err = await new LocalCaBackend({ ...options(), dataDir: other }).init().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CaLoadError);
      expect((err as Error).message).toContain("does not belong to its certificate");
      expect((err as Error).message).toContain("DefaultApplicationGroup");
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  test("a certificate without its key is refused (never silently replaced by a new CA)", async () => {
    const other = tempDir("gds-ca-partial-");
    try {
      const group = path.join(other, "ca", "DefaultUserTokenGroup");
      fs.mkdirSync(group, { recursive: true });
      fs.copyFileSync(path.join(dataDir, "ca", "DefaultUserTokenGroup", "ca.cert.der"), path.join(group, "ca.cert.der"));
      const err = await new LocalCaBackend({ ...options(), dataDir: other }).init().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CaLoadError);
      expect((err as Error).message).toMatch(/DefaultUserTokenGroup .*incomplete \(ca\.key\.pem missing\)/);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  test("bad settings are refused", () => {
    expect(() => new LocalCaBackend({ ...options(), keySize: 1024 })).toThrow("CA key size 1024 is not supported");
    expect(() => new LocalCaBackend({ ...options(), lifetimeMs: 0 })).toThrow("lifetime");
  });

  test("calls before init() are BadInvalidState", async () => {
    const fresh = new LocalCaBackend(options());
    expect(() => fresh.info("DefaultApplicationGroup")).toThrow("not initialised");
    await rejectsGdsError(fresh.signCrl({ group: "DefaultApplicationGroup", revoked: [], crlNumber: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 1000) }), "BadInvalidState");
  });
});

describe("issue", () => {
  let rsaCsr: { der: Buffer; keyPem: string };
  let rsaCert: Buffer;
  let rsaSerial: string;

  beforeAll(async () => {
    rsaCsr = opensslCsr(root, "rsa:2048", "/CN=Pump 7/O=Acme", "URI:urn:acme:pump7,DNS:pump7.plant.local");
    const parsed = await parseAndVerifyCsr(rsaCsr.der);
    const req = issueRequest(parsed.publicKeySpki, CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType, { subject: parsed.subject });
    rsaSerial = req.serialHex;
    rsaCert = await ca.issue(req);
  });

  test("openssl verifies the certificate against the CA, for SSL client and server purposes", () => {
    expect(opensslVerify(rsaCert)).toMatchObject({ status: 0 });
    expect(opensslVerify(rsaCert, caPemFile, ["-purpose", "sslserver"]).status).toBe(0);
    expect(opensslVerify(rsaCert, caPemFile, ["-purpose", "sslclient"]).status).toBe(0);
    // …and not against another group's CA
    const httpsCa = writePem(root, "https-ca.pem", ca.info("DefaultHttpsGroup").chain[0]!);
    expect(opensslVerify(rsaCert, httpsCa).status).not.toBe(0);
  });

  test("fields and extensions follow OPC 10000-6 §6.2.2", async () => {
    const c = certificateInfo(rsaCert);
    expect(c.serialHex).toBe(rsaSerial);
    expect(c.subject).toBe("O=Acme, CN=Pump 7");
    expect(c.issuer).toBe("CN=opcua-gds DefaultApplicationGroup CA, O=Test");
    expect(c.uris).toEqual(["urn:acme:pump7", "urn:acme:other"]);
    expect(c.dnsNames).toEqual(["pump7.plant.local", "pump7"]);
    expect(c.ipAddresses).toEqual(["10.0.0.7", "2001:db8::7"]);
    expect(c.keyUsage).toEqual(["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment"]);
    expect(c.extendedKeyUsage).toEqual(["serverAuth", "clientAuth"]);
    expect(c.isCa).toBe(false);
    expect(c.signatureAlgorithm).toBe("1.2.840.113549.1.1.11");
    // SKI = SHA-1 of the subjectPublicKey bits; AKI = the CA's SKI
    const spkiKey = crypto.createPublicKey({ key: c.publicKeySpki, format: "der", type: "spki" });
    const jwk = spkiKey.export({ format: "jwk" });
    expect(jwk.kty).toBe("RSA");
    const rsaPublicKeyDer = spkiKey.export({ type: "pkcs1", format: "der" });
    expect(c.subjectKeyIdentifier).toBe(crypto.createHash("sha1").update(rsaPublicKeyDer).digest("hex"));
    expect(c.authorityKeyIdentifier).toBe(certificateInfo(ca.info("DefaultApplicationGroup").chain[0]!).subjectKeyIdentifier);
    // the certified key is the CSR's
    expect(c.publicKeySpki).toEqual(crypto.createPublicKey(rsaCsr.keyPem).export({ type: "spki", format: "der" }));
    expect(await verifyIssuedBy(rsaCert, ca.info("DefaultApplicationGroup").chain[0]!)).toBe(true);
    expect(await verifyIssuedBy(rsaCert, ca.info("DefaultHttpsGroup").chain[0]!)).toBe(false);

    // openssl's reading of the same certificate
    const text = opensslOk(["x509", "-inform", "DER", "-noout", "-text"], rsaCert);
    expect(text).toContain("Version: 3 (0x2)");
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment/);
    expect(text).toMatch(/Extended Key Usage: \s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/Subject Alternative Name: \s+URI:urn:acme:pump7, URI:urn:acme:other, DNS:pump7.plant.local, DNS:pump7, IP Address:10.0.0.7, IP Address:2001:DB8:0:0:0:0:0:7/);
    expect(opensslOk(["x509", "-inform", "DER", "-noout", "-serial"], rsaCert).trim()).toBe(`serial=${rsaSerial.toUpperCase()}`);
  });

  test("node:crypto and node-opcua-crypto read it too", () => {
    const x = new crypto.X509Certificate(rsaCert);
    const caX = new crypto.X509Certificate(ca.info("DefaultApplicationGroup").chain[0]!);
    expect(x.checkIssued(caX)).toBe(true);
    expect(x.verify(caX.publicKey)).toBe(true);
    expect(x.subjectAltName).toContain("URI:urn:acme:pump7");
    const explored = exploreCertificate(rsaCert);
    expect(explored.tbsCertificate.extensions?.subjectAltName?.uniformResourceIdentifier).toEqual(["urn:acme:pump7", "urn:acme:other"]);
    expect(explored.tbsCertificate.extensions?.basicConstraints?.cA).toBe(false);
    expect(explored.tbsCertificate.extensions?.keyUsage?.dataEncipherment).toBe(true);
  });

  test.each([
    ["EccNistP256ApplicationCertificateType", "P-256"],
    ["EccNistP384ApplicationCertificateType", "P-384"],
  ] as const)("%s: ECDSA key, keyUsage digitalSignature+nonRepudiation+keyAgreement, signed by the RSA CA", async (typeName, curve) => {
    const csr = await parseAndVerifyCsr(opensslCsr(root, curve, "/CN=Valve", "URI:urn:acme:valve").der);
    const der = await ca.issue(issueRequest(csr.publicKeySpki, CERTIFICATE_TYPES[typeName], { subject: csr.subject, uris: csr.uris }));
    expect(opensslVerify(der).status).toBe(0);
    const c = certificateInfo(der);
    expect(c.keyAlgorithm).toBe("EC");
    expect(c.curve).toBe(curve);
    expect(c.keyUsage).toEqual(["digitalSignature", "nonRepudiation", "keyAgreement"]);
    expect(c.signatureAlgorithm).toBe("1.2.840.113549.1.1.11");
  });

  test("a key that does not fit the type is BadInvalidArgument", async () => {
    const csr = await parseAndVerifyCsr(opensslCsr(root, "P-256", "/CN=Valve").der);
    await rejectsGdsError(ca.issue(issueRequest(csr.publicKeySpki, CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType)), "BadInvalidArgument", "needs an RSA key of 2048 to 4096 bits", "ECDSA P-256");
  });

  test("bad requests are BadInvalidArgument", async () => {
    const spki = (await parseAndVerifyCsr(rsaCsr.der)).publicKeySpki;
    const t = CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType;
    await rejectsGdsError(ca.issue(issueRequest(spki, t, { serialHex: "xyz" })), "BadInvalidArgument", "not hex");
    await rejectsGdsError(ca.issue(issueRequest(spki, t, { serialHex: "00" })), "BadInvalidArgument", "positive");
    await rejectsGdsError(ca.issue(issueRequest(spki, t, { notAfter: new Date(Date.now() - YEAR) })), "BadInvalidArgument", "must be after notBefore");
    await rejectsGdsError(ca.issue(issueRequest(spki, t, { ipAddresses: ["10.0.0.300"] })), "BadInvalidArgument", "not an IP address");
    await rejectsGdsError(ca.issue(issueRequest(spki, t, { dnsNames: ["bad name"] })), "BadInvalidArgument", "DNS name");
    await rejectsGdsError(ca.issue(issueRequest(spki, t, { uris: ["urn:é"] })), "BadInvalidArgument", "URI");
    await rejectsGdsError(ca.issue(issueRequest(spki, t, { subject: "" })), "BadInvalidArgument", "subject");
    await rejectsGdsError(ca.issue(issueRequest(Buffer.from("garbage"), t)), "BadInvalidArgument", "public key");
  });

  test("dates from 2050 on are GeneralizedTime; no SAN entries means no SAN extension", async () => {
    const spki = (await parseAndVerifyCsr(rsaCsr.der)).publicKeySpki;
    const der = await ca.issue(
      issueRequest(spki, CERTIFICATE_TYPES.UserCredentialCertificateType, { group: "DefaultUserTokenGroup" as never, uris: [], dnsNames: [], ipAddresses: [], notAfter: new Date("2051-03-04T05:06:07Z") }),
    );
    const c = certificateInfo(der);
    expect(c.notAfter.toISOString()).toBe("2051-03-04T05:06:07.000Z");
    expect(c.uris).toEqual([]);
    expect(opensslOk(["x509", "-inform", "DER", "-noout", "-text"], der)).not.toContain("Subject Alternative Name");
    expect(opensslOk(["asn1parse", "-inform", "DER"], der)).toContain("GENERALIZEDTIME   :20510304050607Z");
  });

  test("issuing does not block the event loop; 16 in flight all verify", async () => {
    const spki = (await parseAndVerifyCsr(rsaCsr.der)).publicKeySpki;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const certs = await Promise.all(Array.from({ length: 16 }, () => ca.issue(issueRequest(spki, CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType))));
    clearInterval(timer);
    expect(new Set(certs.map((c) => certificateInfo(c).serialHex)).size).toBe(16);
    for (const c of certs) expect(await verifyIssuedBy(c, ca.info("DefaultApplicationGroup").chain[0]!)).toBe(true);
    expect(ticks).toBeGreaterThan(0);
  });
});

describe("generateKeyPair", () => {
  test.each([
    ["RsaSha256ApplicationCertificateType", "rsa", 2048, undefined],
    ["EccNistP256ApplicationCertificateType", "ec", undefined, "prime256v1"],
    ["EccNistP384ApplicationCertificateType", "ec", undefined, "secp384r1"],
  ] as const)("%s", async (typeName, kind, bits, curve) => {
    const kp = await ca.generateKeyPair(CERTIFICATE_TYPES[typeName]);
    const pub = crypto.createPublicKey({ key: kp.publicKeySpki, format: "der", type: "spki" });
    const priv = crypto.createPrivateKey({ key: kp.privateKeyPkcs8, format: "der", type: "pkcs8" });
    expect(pub.asymmetricKeyType).toBe(kind);
    if (bits) expect(pub.asymmetricKeyDetails?.modulusLength).toBe(bits);
    if (curve) expect(pub.asymmetricKeyDetails?.namedCurve).toBe(curve);
    expect(crypto.createPublicKey(priv).export({ type: "spki", format: "der" })).toEqual(kp.publicKeySpki);
    // and the CA certifies it
    const der = await ca.issue(issueRequest(kp.publicKeySpki, CERTIFICATE_TYPES[typeName]));
    expect(opensslVerify(der).status).toBe(0);
  });
});

describe("signCrl", () => {
  let leaf: Buffer;
  let leafSerial: string;
  let crl: Buffer;
  const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
  const nextUpdate = new Date(thisUpdate.getTime() + 7 * 86_400_000);

  beforeAll(async () => {
    const csr = await parseAndVerifyCsr(opensslCsr(root, "rsa:2048", "/CN=Revoked", "URI:urn:acme:revoked").der);
    const req = issueRequest(csr.publicKeySpki, CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType, { subject: csr.subject, uris: csr.uris });
    leafSerial = req.serialHex;
    leaf = await ca.issue(req);
    crl = await ca.signCrl({
      group: "DefaultApplicationGroup",
      revoked: [
        { serialHex: leafSerial, revokedAt: new Date(thisUpdate.getTime() - 60_000), reason: "keyCompromise" },
        { serialHex: "0a", revokedAt: thisUpdate },
        { serialHex: "7b00000000000000000000000000000c", revokedAt: thisUpdate, reason: "unspecified" },
      ],
      crlNumber: 42,
      thisUpdate,
      nextUpdate,
    });
  });

  test("openssl verifies the CRL with the CA and lists the revoked serials", () => {
    const crlFile = path.join(root, "app.crl");
    fs.writeFileSync(crlFile, crl);
    const r = openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", caPemFile, "-noout", "-text"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("verify OK");
    expect(r.stdout).toContain("Version 2 (0x1)");
    expect(r.stdout).toMatch(/CRL Number: \s+42/);
    expect(r.stdout).toContain("Authority Key Identifier");
    expect(r.stdout).toContain(`Serial Number: ${leafSerial.toUpperCase()}`);
    expect(r.stdout).toMatch(/Serial Number: 0A\s+Revocation Date/);
    expect(r.stdout).toMatch(/Key Compromise/);
    expect(r.stdout.match(/CRL Reason Code/g)).toHaveLength(1); // "unspecified" is left out (RFC 5280 §5.3.1)
    // and openssl verify with CRL checking now refuses the revoked certificate
    const crlPem = path.join(root, "app-crl.pem");
    fs.writeFileSync(crlPem, pem(crl, "X509 CRL"));
    const v = opensslVerify(leaf, caPemFile, ["-crl_check", "-CRLfile", crlPem]);
    expect(v.status).not.toBe(0);
    expect(v.stdout + v.stderr).toContain("certificate revoked");
  });

  test("node-opcua-crypto parses the CRL and verifies its signature", () => {
    const caDer = ca.info("DefaultApplicationGroup").chain[0]!;
    const explored = exploreCertificateRevocationList(crl);
    expect(explored.tbsCertList.issuerFingerprint).toBe(exploreCertificate(caDer).tbsCertificate.subjectFingerPrint);
    expect(explored.tbsCertList.revokedCertificates.map((r) => r.userCertificate.replace(/:/g, "").toLowerCase())).toEqual([leafSerial, "0a", "7b00000000000000000000000000000c"]);
    expect(explored.tbsCertList.nextUpdate?.getTime()).toBe(nextUpdate.getTime());
    expect(verifyCertificateRevocationListSignature(crl, caDer)).toBe(true);
  });

  test("node-opcua-pki's CertificateManager accepts issued certificates and refuses the revoked one", async () => {
    const location = path.join(root, "pki");
    const cm = new CertificateManager({ location, disableFileWatchers: true });
    await cm.initialize();
    try {
      const caDer = ca.info("DefaultApplicationGroup").chain[0]!;
      await cm.trustCertificate(caDer);
      const good = await ca.issue(issueRequest((await parseAndVerifyCsr(opensslCsr(root, "rsa:2048", "/CN=Good").der)).publicKeySpki, CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType));
      const emptyCrl = await ca.signCrl({ group: "DefaultApplicationGroup", revoked: [], crlNumber: 1, thisUpdate, nextUpdate });
      await cm.addRevocationList(emptyCrl, "trusted");
      const opts = { acceptCertificateWithValidIssuerChain: true };
      expect(await cm.verifyCertificate([good, caDer], opts)).toBe("Good");
      expect(await cm.verifyCertificate([leaf, caDer], opts)).toBe("Good");
      await cm.clearRevocationLists("all");
      await cm.addRevocationList(crl, "trusted");
      expect(await cm.verifyCertificate([leaf, caDer], opts)).toBe("BadCertificateRevoked");
      expect(await cm.verifyCertificate([good, caDer], opts)).toBe("Good");
    } finally {
      await cm.dispose();
    }
  });

  test("an empty CRL has no revokedCertificates; bad input is BadInvalidArgument", async () => {
    const empty = await ca.signCrl({ group: "DefaultHttpsGroup", revoked: [], crlNumber: 0, thisUpdate, nextUpdate });
    const httpsCa = writePem(root, "https-ca-2.pem", ca.info("DefaultHttpsGroup").chain[0]!);
    const f = path.join(root, "empty.crl");
    fs.writeFileSync(f, empty);
    const r = openssl(["crl", "-inform", "DER", "-in", f, "-CAfile", httpsCa, "-noout", "-text"]);
    expect(r.stderr).toContain("verify OK");
    expect(r.stdout).toContain("No Revoked Certificates");
    await rejectsGdsError(ca.signCrl({ group: "DefaultHttpsGroup", revoked: [{ serialHex: "01", revokedAt: thisUpdate, reason: "bored" }], crlNumber: 1, thisUpdate, nextUpdate }), "BadInvalidArgument", "unknown revocation reason");
    await rejectsGdsError(ca.signCrl({ group: "DefaultHttpsGroup", revoked: [], crlNumber: -1, thisUpdate, nextUpdate }), "BadInvalidArgument", "CRL number");
    await rejectsGdsError(ca.signCrl({ group: "DefaultHttpsGroup", revoked: [], crlNumber: 1, thisUpdate: nextUpdate, nextUpdate: thisUpdate }), "BadInvalidArgument", "nextUpdate");
  });
});
