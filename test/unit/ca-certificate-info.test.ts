import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { certificateInfo, verifyIssuedBy } from "../../src/ca/certificate-info.js";
import { derOid, derTime, readNode, readOid, readTime } from "../../src/ca/der.js";
import { bytesToIp, ipToBytes, normaliseIp } from "../../src/ca/ip-address.js";
import { normaliseSerialHex, randomSerialHex } from "../../src/ca/serial-number.js";
import { throwsGdsError } from "./helpers/gds-error.js";
import { opensslOk, pem, tempDir } from "./helpers/ca-tools.js";

let dir: string;
let selfSigned: Buffer;

beforeAll(() => {
  dir = tempDir("gds-certinfo-");
  const key = path.join(dir, "k.pem");
  const cert = path.join(dir, "c.der");
  opensslOk([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", key, "-outform", "DER", "-out", cert,
    "-subj", "/C=DE/O=Acme, Inc./CN=Self Signed/emailAddress=ops@acme.example", "-days", "2",
    "-set_serial", "0x80112233445566778899aabbccddeeff",
    "-addext", "subjectAltName=URI:urn:acme:self,DNS:self.local,IP:192.168.0.1,IP:::1",
  ]);
  selfSigned = fs.readFileSync(cert);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("certificateInfo", () => {
  test("an openssl self-signed ECDSA certificate", async () => {
    const c = certificateInfo(selfSigned);
    expect(c).toMatchObject({
      serialHex: "80112233445566778899aabbccddeeff",
      subject: "E=ops@acme.example, CN=Self Signed, O=Acme\\, Inc., C=DE",
      issuer: "E=ops@acme.example, CN=Self Signed, O=Acme\\, Inc., C=DE",
      keyAlgorithm: "EC",
      curve: "P-384",
      uris: ["urn:acme:self"],
      dnsNames: ["self.local"],
      ipAddresses: ["192.168.0.1", "::1"],
      isCa: true, // openssl req -x509 marks it CA:TRUE
      selfSigned: true,
      signatureAlgorithm: "1.2.840.10045.4.3.2",
    });
    expect(c.thumbprint).toBe(crypto.createHash("sha1").update(selfSigned).digest("hex"));
    const x = new crypto.X509Certificate(selfSigned);
    expect(c.notBefore.getTime()).toBe(Date.parse(x.validFrom));
    expect(c.notAfter.getTime()).toBe(Date.parse(x.validTo));
    expect(c.publicKeySpki).toEqual(x.publicKey.export({ type: "spki", format: "der" }));
    expect(c.serialHex).toBe(x.serialNumber.toLowerCase());
    expect(await verifyIssuedBy(selfSigned, selfSigned)).toBe(true);
    // PEM works too
    expect(certificateInfo(Buffer.from(pem(selfSigned))).thumbprint).toBe(c.thumbprint);
  });

  test.each([
    ["empty", Buffer.alloc(0)],
    ["text", Buffer.from("not a certificate")],
    ["truncated", Buffer.from([0x30, 0x82, 0x01])],
    ["a SEQUENCE of nothing", Buffer.from("3000", "hex")],
  ])("garbage (%s) is BadInvalidArgument", (_name, input) => {
    throwsGdsError(() => certificateInfo(input), "BadInvalidArgument", "not a valid X.509 certificate");
  });

  test("a truncated real certificate is BadInvalidArgument; verifyIssuedBy is false for garbage", async () => {
    throwsGdsError(() => certificateInfo(selfSigned.subarray(0, selfSigned.length - 10)), "BadInvalidArgument", "truncated");
    expect(await verifyIssuedBy(Buffer.from("junk"), selfSigned)).toBe(false);
    const tampered = Buffer.from(selfSigned);
    tampered[tampered.indexOf(Buffer.from("Self Signed"))] ^= 1;
    expect(await verifyIssuedBy(tampered, selfSigned)).toBe(false);
  });
});

describe("serial numbers", () => {
  test("randomSerialHex: 32 hex digits, positive, no leading zero byte", () => {
    for (let i = 0; i < 200; i++) {
      const s = randomSerialHex();
      expect(s).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(s.startsWith("00")).toBe(false);
      expect(normaliseSerialHex(s)).toBe(s);
    }
  });

  test.each([
    ["00:80:AB", "80ab"],
    ["0A", "0a"],
    ["a", "0a"],
    ["000001", "01"],
    ["7F FF".replace(" ", ""), "7fff"],
  ])("normaliseSerialHex(%j) = %j", (input, out) => {
    expect(normaliseSerialHex(input)).toBe(out);
  });

  test("invalid serials", () => {
    throwsGdsError(() => normaliseSerialHex("xyz"), "BadInvalidArgument", "not hex");
    throwsGdsError(() => normaliseSerialHex("0000"), "BadInvalidArgument", "positive");
    throwsGdsError(() => normaliseSerialHex("ff".repeat(20)), "BadInvalidArgument", "longer than 20 octets");
  });
});

describe("IP addresses", () => {
  test.each([
    ["10.0.0.1", "10.0.0.1"],
    ["::", "::"],
    ["::1", "::1"],
    ["2001:DB8::", "2001:db8::"],
    ["fe80:0:0:0:0:0:0:1", "fe80::1"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"],
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["::ffff:10.0.0.1", "::ffff:a00:1"],
  ])("%s → %s", (input, out) => {
    expect(normaliseIp(input)).toBe(out);
    expect(bytesToIp(ipToBytes(input)!)).toBe(out);
  });

  test.each(["1.2.3", "256.1.1.1", "fe80::1%eth0", "hello", "", "1:2:3:4:5:6:7:8:9"])("%j is not an IP address", (s) => {
    expect(ipToBytes(s)).toBeUndefined();
  });
});

describe("DER", () => {
  test("times: UTCTime through 2049, GeneralizedTime from 2050, whole seconds", () => {
    const t1 = derTime(new Date("2049-12-31T23:59:59.999Z"));
    expect(t1[0]).toBe(0x17);
    expect(t1.subarray(2).toString()).toBe("491231235959Z");
    const t2 = derTime(new Date("2050-01-01T00:00:00Z"));
    expect(t2[0]).toBe(0x18);
    expect(t2.subarray(2).toString()).toBe("20500101000000Z");
    expect(readTime(t1, readNode(t1, 0)).toISOString()).toBe("2049-12-31T23:59:59.000Z");
    expect(readTime(t2, readNode(t2, 0)).toISOString()).toBe("2050-01-01T00:00:00.000Z");
  });

  test.each(["1.2.840.113549.1.1.11", "2.5.29.17", "0.9.2342.19200300.100.1.25", "2.999.4294967296.1"])("OID %s round trip", (oid) => {
    const der = derOid(oid);
    expect(readOid(der, readNode(der, 0))).toBe(oid);
  });

  test("OIDs agree with openssl", () => {
    expect(derOid("1.2.840.113549.1.1.11").toString("hex")).toBe("06092a864886f70d01010b");
  });
});
