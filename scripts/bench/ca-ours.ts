// Our CA backend as the CA benchmark drives it: LocalCaBackend (src/ca/local-ca-backend.ts) with
// the server's default CA settings, and per CSR what the CSR-signing path does minus the store:
// parse + verify the PKCS#10 (src/ca/csr.ts), then issue() with a fresh random serial, 365 days,
// the CSR's subject and subjectAltName.
import { systemClock } from "../../src/clock.js";
import { LocalCaBackend } from "../../src/ca/local-ca-backend.js";
import { CERTIFICATE_TYPES } from "../../src/ca/certificate-types.js";
import { parseAndVerifyCsr } from "../../src/ca/csr.js";
import { randomSerialHex } from "../../src/ca/serial-number.js";
import type { CaUnderTest } from "./ca-bench.js";

const YEAR_MS = 365 * 86_400_000;
const GROUP = "DefaultApplicationGroup";
const TYPE = CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType;

const toPem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;

export async function openOurCa(dataDir: string, caKeyBits: number): Promise<CaUnderTest> {
  const ca = new LocalCaBackend({ dataDir, keySize: caKeyBits, lifetimeMs: 20 * YEAR_MS, subjectTemplate: "CN=opcua-gds bench {group} CA", clock: systemClock });
  await ca.init();
  const info = ca.info(GROUP);
  if (!info.keyAlgorithm.includes(String(caKeyBits))) throw new Error(`LocalCaBackend made a ${info.keyAlgorithm} CA, asked for RSA ${caKeyBits}`);
  return {
    label: `LocalCaBackend (${info.keyAlgorithm} CA)`,
    caChainPem: info.chain.map(toPem).join(""),
    async sign(csrDer: Buffer) {
      const t0 = performance.now();
      const csr = await parseAndVerifyCsr(csrDer);
      const t1 = performance.now();
      const now = systemClock.now();
      const der = await ca.issue({
        group: GROUP,
        type: TYPE,
        publicKeySpki: csr.publicKeySpki,
        subject: csr.subject,
        uris: csr.uris,
        dnsNames: csr.dnsNames,
        ipAddresses: csr.ipAddresses,
        serialHex: randomSerialHex(),
        notBefore: now,
        notAfter: new Date(now.getTime() + YEAR_MS),
      });
      return { der, parseMs: t1 - t0, issueMs: performance.now() - t1 };
    },
  };
}
