import "reflect-metadata";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "@jest/globals";
import { SeenClientCertificates, thumbprintOf } from "../../src/opcua/seen-client-certificates.js";

x509.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);
const log = pino({ level: "silent" });
const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

async function certificates(n: number): Promise<Buffer[]> {
  const keys = (await crypto.webcrypto.subtle.generateKey(EC, false, ["sign", "verify"])) as CryptoKeyPair;
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const c = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: (i + 1).toString(16).padStart(2, "0"),
      name: `CN=client ${i}, O=Test`,
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2027-01-01T00:00:00Z"),
      keys,
      signingAlgorithm: EC,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: `urn:client:${i}` }, { type: "dns", value: `host${i}` }])],
    });
    out.push(Buffer.from(c.rawData));
  }
  return out;
}

describe("SeenClientCertificates", () => {
  let certs: Buffer[];
  beforeAll(async () => {
    certs = await certificates(8);
  });
  const dirOf = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gds-seen-")), "seen");

  it("keeps the most recently seen, evicts the least recently seen, and describes each", async () => {
    let t = Date.parse("2026-06-01T00:00:00Z");
    const seen = new SeenClientCertificates({ dir: dirOf(), max: 3, log, now: () => new Date((t += 1000)) });
    await seen.load();
    seen.record([certs[0]], "accepted", "Good");
    seen.record([certs[1]], "accepted", "Good");
    seen.record([certs[2]], "refused", "BadCertificateUntrusted");
    seen.record([certs[0]], "accepted", "Good"); // 0 is now the most recent; 1 the least
    seen.record([certs[3]], "accepted", "Good"); // evicts 1
    expect(seen.list().map((e) => e.thumbprint)).toEqual([certs[3], certs[0], certs[2]].map(thumbprintOf));
    expect(seen.get(thumbprintOf(certs[0]))).toMatchObject({
      subject: "CN=client 0, O=Test",
      applicationUri: "urn:client:0",
      notBefore: "2026-01-01T00:00:00.000Z",
      notAfter: "2027-01-01T00:00:00.000Z",
      connections: 2,
      verdict: "accepted",
      firstSeen: "2026-06-01T00:00:01.000Z",
      lastSeen: "2026-06-01T00:00:04.000Z",
    });
    await seen.flush();
    expect(fs.readdirSync(path.join(seen.dir, "certs")).sort()).toEqual([certs[0], certs[2], certs[3]].map((c) => `${thumbprintOf(c)}.pem`).sort());
    expect(await seen.certificateOf(thumbprintOf(certs[2]))).toEqual(certs[2]);
    await seen.close();
  });

  it("survives a restart; drops entries without a file and files without an entry; a smaller bound trims", async () => {
    const dir = dirOf();
    const first = new SeenClientCertificates({ dir, max: 10, log });
    await first.load();
    for (const c of certs.slice(0, 6)) first.record([c], "accepted", "Good");
    await first.close();
    fs.rmSync(path.join(dir, "certs", `${thumbprintOf(certs[5])}.pem`));
    fs.writeFileSync(path.join(dir, "certs", "stray.pem"), "x");

    const again = new SeenClientCertificates({ dir, max: 3, log });
    await again.load();
    expect(again.list().map((e) => e.thumbprint)).toEqual([certs[4], certs[3], certs[2]].map(thumbprintOf));
    await again.flush();
    expect(fs.readdirSync(path.join(dir, "certs")).length).toBe(3);
    expect(again.remove(thumbprintOf(certs[3]))).toBe(true);
    expect(again.remove(thumbprintOf(certs[3]))).toBe(false);
    await again.close();
    const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as { certificates: unknown[] };
    expect(index.certificates.length).toBe(2);
  });

  it("starts empty on an unreadable index", async () => {
    const dir = dirOf();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "index.json"), "{ not json");
    const seen = new SeenClientCertificates({ dir, log });
    await seen.load();
    expect(seen.size).toBe(0);
    await seen.close();
  });
});
