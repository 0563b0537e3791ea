// CSRs for the CA benchmark, made once before anything is timed: each one has its own RSA-2048 key
// and asks for what an OPC UA application asks for (subject CN + O, subjectAltName with the
// ApplicationUri and a DNS name), signed SHA-256 like a device's CreateSigningRequest answer.
import "reflect-metadata"; // before @peculiar/x509
import { webcrypto } from "node:crypto";
import { Pkcs10CertificateRequestGenerator, SubjectAlternativeNameExtension } from "@peculiar/x509";

export interface BenchCsr {
  index: number;
  applicationUri: string;
  dnsName: string;
  subject: string;
  /** PKCS#10, DER. */
  der: Buffer;
  /** The same request as PEM (node-opcua-pki reads CSR files). */
  pem: string;
  /** SubjectPublicKeyInfo of the requested key (DER), to check the issued certificates against. */
  spki: Buffer;
}

const RSA_2048: RsaHashedKeyGenParams = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };

export function csrIdentity(i: number): { applicationUri: string; dnsName: string; subject: string } {
  return { applicationUri: `urn:bench:device:${i}`, dnsName: `device-${i}.bench.local`, subject: `CN=Bench Device ${i}, O=Bench` };
}

/** `count` CSRs with `count` distinct keys; key generation runs `parallel` at a time on the thread pool. */
export function makeCsrs(count: number, parallel = 4): Promise<BenchCsr[]> {
  return makeCsrsFor(Array.from({ length: count }, (_, i) => csrIdentity(i)), parallel);
}

/** One CSR per identity, each with its own RSA-2048 key; `parallel` key generations at a time. */
export async function makeCsrsFor(ids: { applicationUri: string; dnsName: string; subject: string }[], parallel = 4): Promise<BenchCsr[]> {
  const subtle = webcrypto.subtle;
  const csrs: BenchCsr[] = new Array(ids.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < ids.length) {
        const i = next++;
        const id = ids[i]!;
        const keys = (await subtle.generateKey(RSA_2048, true, ["sign", "verify"])) as CryptoKeyPair;
        const req = await Pkcs10CertificateRequestGenerator.create(
          {
            name: id.subject,
            keys,
            signingAlgorithm: RSA_2048,
            extensions: [
              new SubjectAlternativeNameExtension([
                { type: "url", value: id.applicationUri },
                { type: "dns", value: id.dnsName },
              ]),
            ],
          },
          webcrypto as Crypto,
        );
        csrs[i] = {
          index: i,
          ...id,
          der: Buffer.from(req.rawData),
          pem: req.toString("pem"),
          spki: Buffer.from(await subtle.exportKey("spki", keys.publicKey)),
        };
      }
    }),
  );
  return csrs;
}
