/**
 * PKCS#10 certificate signing requests made in tests the way an application would make them:
 * a fresh key pair (RSA 2048/1024, ECDSA P-256/P-384) from Node's webcrypto, signed with
 * @peculiar/x509, subjectAltName = the ApplicationUri plus DNS names and IP addresses.
 * jest's setupFiles import "reflect-metadata" before this module loads (@peculiar/x509 needs it).
 */
import "reflect-metadata";
import crypto from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);

export type CsrKeyKind = "RSA-2048" | "RSA-1024" | "P-256" | "P-384";

export interface CsrOptions {
  /** Goes into subjectAltName as a URI; null leaves the URI out. */
  applicationUri: string | null;
  /** RFC 4514 subject, e.g. "CN=Pump 7, O=Acme"; default "CN=test". */
  subject?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Default RSA-2048. */
  key?: CsrKeyKind;
}

export interface TestCsr {
  /** The CSR, DER. */
  der: Buffer;
  keys: CryptoKeyPair;
  /** The private key, PKCS#8 PEM (what an OPC UA application would keep on disk). */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo, DER: to compare with the public key of the certificate issued for it. */
  publicKeySpki: Buffer;
}

function algorithmsOf(kind: CsrKeyKind): { generate: RsaHashedKeyGenParams | EcKeyGenParams; sign: Algorithm | EcdsaParams } {
  switch (kind) {
    case "RSA-2048":
    case "RSA-1024": {
      const rsa = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: kind === "RSA-2048" ? 2048 : 1024 };
      return { generate: rsa, sign: rsa };
    }
    case "P-256":
      return { generate: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams };
    case "P-384":
      return { generate: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams };
  }
}

export function derToPem(der: Buffer, label: string): string {
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export async function makeCsr(opts: CsrOptions): Promise<TestCsr> {
  const { generate, sign } = algorithmsOf(opts.key ?? "RSA-2048");
  const keys = (await crypto.webcrypto.subtle.generateKey(generate, true, ["sign", "verify"])) as CryptoKeyPair;
  const names: { type: "url" | "dns" | "ip"; value: string }[] = [];
  if (opts.applicationUri !== null) names.push({ type: "url", value: opts.applicationUri });
  for (const d of opts.dnsNames ?? []) names.push({ type: "dns", value: d });
  for (const ip of opts.ipAddresses ?? []) names.push({ type: "ip", value: ip });
  const extensions: x509.Extension[] = [];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: opts.subject ?? "CN=test",
    keys,
    signingAlgorithm: sign,
    extensions,
  });
  const pkcs8 = Buffer.from(await crypto.webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const spki = Buffer.from(await crypto.webcrypto.subtle.exportKey("spki", keys.publicKey));
  return { der: Buffer.from(csr.rawData), keys, privateKeyPem: derToPem(pkcs8, "PRIVATE KEY"), publicKeySpki: spki };
}
