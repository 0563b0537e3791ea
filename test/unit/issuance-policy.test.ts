/**
 * The issuance policy without a server: groups, names, subject, key and CSR-signature rules,
 * the daily quota, and the bounded key generation queue.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { parseCsr } from "../../src/ca/csr.js";
import { publicKeyDetails } from "../../src/ca/public-key.js";
import type { ApplicationRecord } from "../../src/directory/application-record.js";
import { IssuancePolicy, QUOTA_WINDOW_MS } from "../../src/requests/issuance-policy.js";
import { KeyGenerationQueue } from "../../src/requests/key-generation-queue.js";
import { makeCsr } from "./helpers/csr.js";
import { throwsGdsError } from "./helpers/gds-error.js";

const CA_SUBJECT = "CN=opcua-gds DefaultApplicationGroup CA";

function policy(organization?: string, maxCertificatesPerDay = 3): IssuancePolicy {
  return new IssuancePolicy({ organization, maxCertificatesPerDay, caSubjects: () => [CA_SUBJECT, "CN=opcua-gds DefaultHttpsGroup CA"] });
}

function app(discoveryUrls: string[], name = "Pump 7"): ApplicationRecord {
  return {
    applicationId: "11111111-2222-3333-4444-555555555555",
    applicationUri: "urn:plant:pump7",
    applicationType: 0,
    applicationNames: [{ locale: "en", text: name }],
    productUri: "urn:acme:pump",
    discoveryUrls,
    serverCapabilities: [],
    recordId: 1,
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
  };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "issuance-policy-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function openssl(args: string[]): void {
  execFileSync("openssl", args, { cwd: tmp, stdio: "pipe" });
}

describe("groups", () => {
  it("application group always, HTTPS only with an https DiscoveryUrl, user tokens always but never auto-approved", () => {
    const p = policy();
    expect(p.eligibleGroups(app(["opc.tcp://pump7:4840"]))).toEqual(["DefaultApplicationGroup", "DefaultUserTokenGroup"]);
    expect(p.eligibleGroups(app(["opc.tcp://pump7:4840", "https://pump7:443"]))).toEqual(["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"]);
    throwsGdsError(() => p.checkGroup(app(["opc.tcp://pump7:4840"]), "DefaultHttpsGroup"), "BadInvalidArgument", "DefaultHttpsGroup", "no https DiscoveryUrl");
    expect(p.mayAutoApprove("DefaultApplicationGroup")).toBe(true);
    expect(p.mayAutoApprove("DefaultUserTokenGroup")).toBe(false);
  });
});

describe("names", () => {
  const a = app(["opc.tcp://pump7.plant.local:4840", "opc.tcp://10.0.0.7:4840", "rcp+opc.tcp://[fd00::7]:4841"]);

  it("nothing requested → every DiscoveryUrl host; a requested subset → that subset (case and IP spelling normalised)", () => {
    expect(policy().content(a, "DefaultApplicationGroup", [], "DomainNames")).toEqual({
      subject: "CN=Pump 7, DC=pump7.plant.local",
      dnsNames: ["pump7.plant.local"],
      ipAddresses: ["10.0.0.7", "fd00::7"],
    });
    const subset = policy().content(a, "DefaultApplicationGroup", ["PUMP7.plant.local.", "fd00:0::7"], "DomainNames");
    expect(subset.dnsNames).toEqual(["PUMP7.plant.local."]);
    expect(subset.ipAddresses).toEqual(["fd00:0::7"]);
  });

  it("a foreign DNS name or IP, a wildcard, localhost → BadInvalidArgument naming it", () => {
    for (const name of ["www.google.com", "localhost", "10.0.0.8", "127.0.0.1"]) {
      throwsGdsError(() => policy().content(a, "DefaultApplicationGroup", ["pump7.plant.local", name], "DomainNames"), "BadInvalidArgument", JSON.stringify(name), "not a host");
    }
    for (const name of ["*.plant.local", "*.com", "*"]) {
      throwsGdsError(() => policy().content(a, "DefaultApplicationGroup", [name], "CertificateRequest subjectAltName"), "BadInvalidArgument", JSON.stringify(name), "wildcard");
    }
  });

  it("a wildcard DiscoveryUrl host is never certified; HTTPS uses the https hosts only; user tokens carry none", () => {
    const wild = app(["opc.tcp://*.plant.local:4840", "opc.tcp://pump7:4840", "https://web7.plant.local"]);
    expect(policy().content(wild, "DefaultApplicationGroup", [], "DomainNames").dnsNames).toEqual(["pump7", "web7.plant.local"]);
    const https = policy().content(wild, "DefaultHttpsGroup", [], "DomainNames");
    expect(https).toEqual({ subject: "CN=web7.plant.local", dnsNames: ["web7.plant.local"], ipAddresses: [] });
    throwsGdsError(() => policy().content(wild, "DefaultHttpsGroup", ["pump7"], "DomainNames"), "BadInvalidArgument", '"pump7"');
    expect(policy().content(wild, "DefaultUserTokenGroup", [], "DomainNames")).toEqual({ subject: "CN=Pump 7", dnsNames: [], ipAddresses: [] });
    throwsGdsError(() => policy().content(wild, "DefaultUserTokenGroup", ["pump7"], "DomainNames"), "BadInvalidArgument", '"pump7"');
  });
});

describe("subject", () => {
  it("CN = application name, O = the setting, DC = the host; escaped", () => {
    expect(policy("Acme, Inc.").content(app(["opc.tcp://pump7:4840"], "Pump=7"), "DefaultApplicationGroup", [], "DomainNames").subject).toBe("CN=Pump\\=7, O=Acme\\, Inc., DC=pump7");
    expect(policy("Acme").content(app(["opc.tcp://10.0.0.7:4840"]), "DefaultApplicationGroup", [], "DomainNames").subject).toBe("CN=Pump 7, O=Acme");
  });

  it("never a CA's subject (compared case-insensitively)", () => {
    const evil = app(["opc.tcp://10.0.0.7:4840"], "OPCUA-GDS DefaultApplicationGroup CA");
    throwsGdsError(() => policy().content(evil, "DefaultApplicationGroup", [], "DomainNames"), "BadInvalidArgument", "subject of one of this GDS's CAs");
    // With an organization the subject differs from the CA's: allowed.
    expect(policy("Acme").content(evil, "DefaultApplicationGroup", [], "DomainNames").subject).toBe("CN=OPCUA-GDS DefaultApplicationGroup CA, O=Acme");
  });
});

describe("keys and CSR signatures", () => {
  it("accepts RSA 65537 with SHA-256/384/512 and named-curve ECDSA", async () => {
    for (const hash of ["SHA-256", "SHA-384", "SHA-512"] as const) policy().checkCsr(parseCsr((await makeCsr({ hash })).der));
    policy().checkCsr(parseCsr((await makeCsr({ key: "EC-P256" })).der));
    policy().checkCsr(parseCsr((await makeCsr({ key: "EC-P384" })).der));
  });

  it("SHA-1 signed CSRs (RSA and ECDSA) → BadCertificateInvalid naming the algorithm", async () => {
    const rsa = parseCsr((await makeCsr({ hash: "SHA-1" })).der);
    throwsGdsError(() => policy().checkCsr(rsa), "BadCertificateInvalid", "sha1WithRSAEncryption", "SHA-256");
    const ec = parseCsr((await makeCsr({ key: "EC-P256", hash: "SHA-1" })).der);
    throwsGdsError(() => policy().checkCsr(ec), "BadCertificateInvalid", "ecdsa-with-SHA1");
  });

  it("RSA exponent 3 or 1 → BadCertificateInvalid naming the exponent; a large odd prime passes", async () => {
    const e3 = await makeCsr({ publicExponent: 3 });
    throwsGdsError(() => policy().checkCsr(parseCsr(e3.der)), "BadCertificateInvalid", "exponent 3");
    throwsGdsError(() => policy().checkKey({ keyAlgorithm: "RSA", rsaBits: 2048, rsaPublicExponent: 1n }, "key"), "BadCertificateInvalid", "exponent 1");
    throwsGdsError(() => policy().checkKey({ keyAlgorithm: "RSA", rsaBits: 2048, rsaPublicExponent: 65539n * 3n }, "key"), "BadCertificateInvalid");
    throwsGdsError(() => policy().checkKey({ keyAlgorithm: "RSA", rsaBits: 2048, rsaPublicExponent: 65538n }, "key"), "BadCertificateInvalid");
    policy().checkKey({ keyAlgorithm: "RSA", rsaBits: 2048, rsaPublicExponent: 65539n }, "key");
  });

  it("an EC key with explicit curve parameters → BadCertificateInvalid (OpenSSL would read it as P-256)", () => {
    openssl(["ecparam", "-name", "prime256v1", "-param_enc", "explicit", "-genkey", "-noout", "-out", "explicit.pem"]);
    openssl(["req", "-new", "-key", "explicit.pem", "-subj", "/CN=x", "-sha256", "-outform", "DER", "-out", "explicit.csr"]);
    const csr = parseCsr(fs.readFileSync(path.join(tmp, "explicit.csr")));
    expect(csr.curve).toBe("P-256");
    expect(publicKeyDetails(csr.publicKeySpki).ecParameters).toBe("explicit");
    throwsGdsError(() => policy().checkCsr(csr), "BadCertificateInvalid", "explicit parameters");
  });

  it("ecdsa-with-SHA1 and md5WithRSAEncryption → BadCertificateInvalid naming them", () => {
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "named.pem"]);
    openssl(["req", "-new", "-key", "named.pem", "-subj", "/CN=x", "-sha1", "-outform", "DER", "-out", "ecsha1.csr"]);
    throwsGdsError(() => policy().checkCsr(parseCsr(fs.readFileSync(path.join(tmp, "ecsha1.csr")))), "BadCertificateInvalid", "ecdsa-with-SHA1");
    openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"]);
    let md5: Buffer | undefined;
    try {
      openssl(["req", "-new", "-key", "rsa.pem", "-subj", "/CN=x", "-md5", "-outform", "DER", "-out", "md5.csr"]);
      md5 = fs.readFileSync(path.join(tmp, "md5.csr"));
    } catch {
      // OpenSSL built without MD5 signatures: nothing to check here.
    }
    if (md5) throwsGdsError(() => policy().checkCsr(parseCsr(md5!)), "BadCertificateInvalid", "md5WithRSAEncryption");
  });
});

describe("daily quota", () => {
  const a = app(["opc.tcp://pump7:4840"]);
  const now = new Date("2026-03-02T12:00:00Z");
  const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();

  it("counts certificates of the last 24 h plus open requests; older ones do not count", () => {
    const p = policy(undefined, 3);
    p.checkQuota(a, "DefaultApplicationGroup", [ago(QUOTA_WINDOW_MS + 1), ago(QUOTA_WINDOW_MS + 2), ago(1000)], 1, now);
    const err = throwsGdsError(() => p.checkQuota(a, "DefaultApplicationGroup", [ago(3_600_000), ago(2_000), ago(1_000)], 0, now), "BadTooManyOperations", "GDS_MAX_CERTIFICATES_PER_DAY", "3 per 24 h");
    // The oldest of the three leaves the window 23 h from now.
    expect(err.message).toContain(new Date(now.getTime() - 3_600_000 + QUOTA_WINDOW_MS).toISOString());
    throwsGdsError(() => p.checkQuota(a, "DefaultApplicationGroup", [ago(1_000)], 2, now), "BadTooManyOperations");
  });
});

describe("key generation queue", () => {
  it("runs `concurrency` at once, queues `maxQueued`, refuses the rest at once; places come back", async () => {
    const q = new KeyGenerationQueue({ concurrency: 2, maxQueued: 1 });
    let running = 0;
    let maxRunning = 0;
    const gates: (() => void)[] = [];
    const job = () =>
      new Promise<void>((resolve) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        gates.push(() => {
          running--;
          resolve();
        });
      });
    const runs = [q.reserve().run(job), q.reserve().run(job), q.reserve().run(job)];
    throwsGdsError(() => q.reserve(), "BadTooManyOperations", "key pairs");
    expect(q.tryReserve()).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(running).toBe(2);
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(running).toBe(2);
    while (gates.length) gates.shift()!();
    await new Promise((r) => setImmediate(r));
    while (gates.length) gates.shift()!();
    await Promise.all(runs);
    expect(maxRunning).toBe(2);
    expect(q.size).toBe(0);
    const t = q.reserve();
    t.release();
    t.release();
    expect(q.size).toBe(0);
  });
});
