/**
 * PKCS#10 CSR factory for tests: real keys (node webcrypto), real signatures (@peculiar/x509).
 * reflect-metadata is loaded by jest's setupFiles, as @peculiar/x509 needs it.
 */
import crypto from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);

export type CsrKeyKind = "RSA-2048" | "RSA-1024" | "RSA-3072" | "EC-P256" | "EC-P384";

export interface CsrOptions {
  key?: CsrKeyKind;
  /** RFC 4514 / x509 Name string, e.g. "CN=Pump 7, O=Acme". "" → empty subject. Default "CN=Test Application". */
  subject?: string;
  uris?: string[];
  dns?: string[];
  ips?: string[];
  /** Reuse a key pair (e.g. from an earlier `makeCsr`) instead of generating one. */
  keys?: CryptoKeyPair;
  /** RSA public exponent of a generated key (default 65537). */
  publicExponent?: number;
  /** Digest of the CSR's signature (default SHA-256, P-384: SHA-384). */
  hash?: "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512";
}

export interface TestCsr {
  /** DER of the CSR. */
  der: Buffer;
  pem: string;
  keys: CryptoKeyPair;
  /** The public key as a node KeyObject (compare with `.equals`). */
  publicKey: crypto.KeyObject;
  /** SubjectPublicKeyInfo DER. */
  spki: Buffer;
}

function exponentBytes(e: number): Uint8Array<ArrayBuffer> {
  const bytes: number[] = [];
  for (let v = e; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return new Uint8Array(bytes);
}

function algorithms(kind: CsrKeyKind, publicExponent = 65537, hash?: string): { gen: RsaHashedKeyGenParams | EcKeyGenParams; sign: Algorithm | EcdsaParams } {
  switch (kind) {
    case "RSA-2048":
    case "RSA-1024":
    case "RSA-3072": {
      const bits = Number(kind.slice(4));
      const alg = { name: "RSASSA-PKCS1-v1_5", hash: hash ?? "SHA-256", publicExponent: exponentBytes(publicExponent), modulusLength: bits };
      return { gen: alg, sign: alg };
    }
    case "EC-P256":
      return { gen: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: hash ?? "SHA-256" } as EcdsaParams };
    case "EC-P384":
      return { gen: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: hash ?? "SHA-384" } as EcdsaParams };
  }
}

export async function generateKeys(kind: CsrKeyKind = "RSA-2048", publicExponent?: number, hash?: string): Promise<CryptoKeyPair> {
  return (await crypto.webcrypto.subtle.generateKey(algorithms(kind, publicExponent, hash).gen, true, ["sign", "verify"])) as CryptoKeyPair;
}

export async function makeCsr(options: CsrOptions = {}): Promise<TestCsr> {
  const kind = options.key ?? "RSA-2048";
  const { sign } = algorithms(kind, options.publicExponent, options.hash);
  const keys = options.keys ?? (await generateKeys(kind, options.publicExponent, options.hash));
  const names: x509.JsonGeneralName[] = [
    ...(options.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(options.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  const extensions: x509.Extension[] = names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [];
  const subject = options.subject ?? "CN=Test Application";
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    ...(subject ? { name: subject } : {}),
    keys,
    signingAlgorithm: sign,
    extensions,
  });
  const der = Buffer.from(csr.rawData);
  const spki = Buffer.from(await crypto.webcrypto.subtle.exportKey("spki", keys.publicKey));
  return {
    der,
    pem: csr.toString("pem"),
    keys,
    spki,
    publicKey: crypto.createPublicKey({ key: spki, format: "der", type: "spki" }),
  };
}

/** The same CSR with one byte of its signed part flipped: it parses, but its signature no longer verifies. */
export function tamperCsr(der: Buffer, needle?: string): Buffer {
  const out = Buffer.from(der);
  if (needle) {
    const at = out.indexOf(Buffer.from(needle, "latin1"));
    if (at < 0) throw new Error(`tamperCsr: ${needle} not in the CSR`);
    out[at] ^= 0x01;
    return out;
  }
  // Flip a byte of the subject's CN value, well inside certificationRequestInfo.
  const at = out.indexOf(Buffer.from("Test Application", "latin1"));
  if (at < 0) throw new Error("tamperCsr: default subject not found; pass a needle");
  out[at] ^= 0x01;
  return out;
}

export interface TestCertificate {
  der: Buffer;
  keys: CryptoKeyPair;
  /** SHA-1 of the DER, lower-case hex (the OPC UA thumbprint). */
  thumbprint: string;
}

const EC_SIGN = { name: "ECDSA", hash: "SHA-256" } as EcdsaParams;

/** A self-signed certificate (a CA when `ca` is true) with an ECDSA P-256 key unless `keys` is given. */
export async function selfSignedCertificate(options: { subject?: string; keys?: CryptoKeyPair; serialHex?: string; ca?: boolean; notBefore?: Date; notAfter?: Date } = {}): Promise<TestCertificate> {
  const keys = options.keys ?? (await generateKeys("EC-P256"));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: options.serialHex ?? crypto.randomBytes(8).toString("hex").replace(/^[89a-f]/, "1"),
    name: options.subject ?? "CN=Foreign Self-Signed",
    notBefore: options.notBefore ?? new Date("2020-01-01T00:00:00Z"),
    notAfter: options.notAfter ?? new Date("2040-01-01T00:00:00Z"),
    keys,
    signingAlgorithm: keys.privateKey.algorithm.name === "ECDSA" ? EC_SIGN : keys.privateKey.algorithm,
    extensions: options.ca
      ? [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)]
      : [],
  });
  const der = Buffer.from(cert.rawData);
  return { der, keys, thumbprint: crypto.createHash("sha1").update(der).digest("hex") };
}

/** A CRL signed by `issuer` (an ECDSA certificate from `selfSignedCertificate`). */
export async function crlOf(issuer: TestCertificate, revokedSerials: string[] = [], thisUpdate = new Date("2025-01-01T00:00:00Z")): Promise<Buffer> {
  const cert = new x509.X509Certificate(new Uint8Array(issuer.der));
  const crl = await x509.X509CrlGenerator.create({
    issuer: cert.subject,
    thisUpdate,
    nextUpdate: new Date(thisUpdate.getTime() + 365 * 86_400_000),
    entries: revokedSerials.map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: EC_SIGN,
  });
  return Buffer.from(crl.rawData);
}
