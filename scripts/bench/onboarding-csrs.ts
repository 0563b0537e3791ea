// Device keys and CSRs for the pull-onboarding benchmark, made before anything is timed: one
// RSA-2048 key per device (webcrypto, on the thread pool), a PKCS#10 request signed SHA-256 with
// subjectAltName = the device's ApplicationUri and a DNS name, as a device would send it.
import "reflect-metadata"; // before @peculiar/x509
import { webcrypto } from "node:crypto";
import { Pkcs10CertificateRequestGenerator, SubjectAlternativeNameExtension } from "@peculiar/x509";

const RSA_2048: RsaHashedKeyGenParams = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };

export interface DeviceIdentity {
  applicationUri: string;
  name: string;
  dnsName: string;
}

/** One CSR (DER) per identity, each with its own key; `parallel` key generations at a time. */
export async function makeDeviceCsrs(ids: DeviceIdentity[], parallel = 4): Promise<Buffer[]> {
  const subtle = webcrypto.subtle;
  const out: Buffer[] = new Array(ids.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < ids.length) {
        const i = next++;
        const id = ids[i]!;
        const keys = (await subtle.generateKey(RSA_2048, true, ["sign", "verify"])) as CryptoKeyPair;
        const req = await Pkcs10CertificateRequestGenerator.create(
          {
            name: `CN=${id.name}, O=Bench`,
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
        out[i] = Buffer.from(req.rawData);
      }
    }),
  );
  return out;
}
