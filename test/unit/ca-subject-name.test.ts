import { describe, expect, test } from "@jest/globals";
import { commonNameOf, decodeDistinguishedName, encodeDistinguishedName, normaliseDistinguishedName, parseSubjectName } from "../../src/ca/subject-name.js";
import { throwsGdsError } from "./helpers/gds-error.js";
import { opensslOk } from "./helpers/ca-tools.js";

describe("parseSubjectName", () => {
  test.each([
    // OPC UA SubjectName syntax (OPC 10000-12 StartNewKeyPairRequest)
    ["/CN=Pump/O=Acme/DC=host", "CN=Pump, O=Acme, DC=host"],
    ["CN=Pump/O=Acme", "CN=Pump, O=Acme"],
    [" /CN = Pump 7 / O = Acme Corp ", "CN=Pump 7, O=Acme Corp"],
    ['/CN="a/b=c"/O=x', "CN=a/b\\=c, O=x"],
    ["/CN=x/S=Bavaria/L=Munich/OU=Ops/C=DE", "CN=x, ST=Bavaria, L=Munich, OU=Ops, C=DE"],
    ["/cn=lower/o=case/", "CN=lower, O=case"],
    ["/CN=Pump, 7/O=Acme", "CN=Pump\\, 7, O=Acme"],
    // RFC 4514 / .NET comma syntax
    ["CN=Pump, O=Acme", "CN=Pump, O=Acme"],
    ["CN=Pump,O=Acme,DC=plant,DC=local", "CN=Pump, O=Acme, DC=plant, DC=local"],
    ['CN="Pump, 7", O=Acme', "CN=Pump\\, 7, O=Acme"],
    ["CN=Pump\\, 7;O=Acme", "CN=Pump\\, 7, O=Acme"],
    ["CN=Pump+OU=Unit, O=Acme", "CN=Pump+OU=Unit, O=Acme"],
    ["CN=Ünïcödé Pümp", "CN=Ünïcödé Pümp"],
    ["CN=\\C3\\BC", "CN=ü"],
    ["CN=#hash, ST=Bayern", "CN=\\#hash, ST=Bayern"],
    ["CN=#0c0161", "CN=\\#0c0161"],
    ["CN=a/b", "CN=a/b"],
    ["CN=trailing\\ ", "CN=trailing\\ "],
  ])("%j → %j", (input, expected) => {
    expect(parseSubjectName(input)).toBe(expected);
    // the normalised form is a fixed point
    expect(parseSubjectName(expected)).toBe(expected);
  });

  test.each([
    ["", "empty"],
    ["   ", "empty"],
    ["CN", '"CN" is not a name=value pair'],
    ["/CN=x/E=a@b.c", "attribute E is not allowed"],
    ["/CN=x/FOO=bar", 'unknown attribute type "FOO"'],
    ["/O=Acme", "CN is required"],
    ["/CN=x/C=Germany", "C must be a two-letter country code"],
    ["/CN=a=b", "enclose it in double quotes"],
    ['/CN="unterminated', "unterminated quoted value"],
    ["/CN=x//O=y", "empty name=value pair"],
    ["CN=x, ", "nothing after"],
    ["CN=", "CN has an empty value"],
    ["/CN=x/DC=has space", "DC must be ASCII without spaces"],
    ["CN=a\u0001b", "control characters"],
    ["CN=" + "x".repeat(300), "longer than 256"],
    ["CN=x, =y", "attribute type missing"],
    ['CN=a"b', "unexpected '\"'"],
  ])("%j is refused: %s", (input, fragment) => {
    throwsGdsError(() => parseSubjectName(input), "BadInvalidArgument", fragment);
  });
});

describe("DER names", () => {
  test("RFC 4514 order is the reverse of the DER order (openssl shows DER order)", () => {
    const der = encodeDistinguishedName("CN=Pump 7, O=Acme, C=DE");
    const parsed = opensslOk(["asn1parse", "-inform", "DER"], der);
    const oids = [...parsed.matchAll(/OBJECT\s+:(\w+)/g)].map((m) => m[1]);
    expect(oids).toEqual(["countryName", "organizationName", "commonName"]);
    expect(parsed).toMatch(/PRINTABLESTRING\s+:DE/);
    expect(parsed).toMatch(/UTF8STRING\s+:Pump 7/);
    expect(decodeDistinguishedName(der)).toBe("CN=Pump 7, O=Acme, C=DE");
  });

  test.each([
    "CN=Pump 7, O=Acme, C=DE",
    "CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h, DC=example, DC=com",
    "CN=x+OU=y, O=z",
    "CN=x, 1.2.3.4=#0c0161, E=a@b.c, SERIALNUMBER=1234, UID=u1, STREET=Main St 1",
    "CN=\\ leading and trailing\\ ",
  ])("round trip %j", (dn) => {
    expect(decodeDistinguishedName(encodeDistinguishedName(dn))).toBe(normaliseDistinguishedName(dn));
  });

  test("an empty name encodes as an empty SEQUENCE and decodes as an empty string", () => {
    expect(decodeDistinguishedName(Buffer.from("3000", "hex"))).toBe("");
  });

  test("malformed DN strings are BadInvalidArgument", () => {
    throwsGdsError(() => encodeDistinguishedName("CN=x, NOPE=y"), "BadInvalidArgument", "unknown attribute type");
    throwsGdsError(() => encodeDistinguishedName("CN=x\\"), "BadInvalidArgument", "dangling");
    throwsGdsError(() => encodeDistinguishedName("1.2.3=#zz"), "BadInvalidArgument", "bad hex value");
  });
});

describe("commonNameOf", () => {
  test.each([
    ["CN=Pump 7, O=Acme", "Pump 7"],
    ["O=Acme, CN=Pump\\, 7", "Pump, 7"],
    ["O=Acme", undefined],
    ["not a dn", undefined],
  ])("%j → %j", (dn, cn) => {
    expect(commonNameOf(dn)).toBe(cn);
  });
});
