/**
 * The CA issues what the GDS decided, not what the requester asked for: over the real server
 * (Basic256Sha256 SignAndEncrypt), as a CertificateAuthorityAdmin and as an application
 * administering itself (ApplicationSelfAdmin, on a channel secured with its GDS-issued certificate).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { NodeId } from "node-opcua";
import { opensslCsr, opensslOk } from "../unit/helpers/ca-tools.js";
import {
  GROUP,
  connectWithCertificate,
  expectStatus,
  finishRequest,
  getCertificateGroups,
  issueFromCsr,
  issueNewKeyPair,
  startNewKeyPairRequest,
  startSigningRequest,
  statusName,
  type CertificateIdentity,
} from "../integration/helpers/certificate-client.js";
import { registerOk, sampleServer, type AppFields } from "../integration/helpers/directory-client.js";
import { connect, startTestGds, tempDir, type TestGds, type TestSession } from "../integration/helpers/gds-harness.js";

const MAX_PER_DAY = 4;

describe("issuance policy (names, subject, groups, keys, quota, key generation) over OPC UA", () => {
  let t: TestGds;
  let admin: TestSession;
  let work: string;
  const open: TestSession[] = [];

  beforeAll(async () => {
    t = await startTestGds({ autoApprove: true, maxCertificatesPerDay: MAX_PER_DAY });
    admin = await connect(t.endpointUrl);
    work = tempDir("gds-sec-issuance-");
  });

  afterAll(async () => {
    for (const s of open) await s.close().catch(() => undefined);
    await admin?.close();
    await t?.stop();
  });

  async function register(name: string, discoveryUrls = [`opc.tcp://${name}.plant.local:4840`]): Promise<{ app: AppFields; id: NodeId }> {
    const app = sampleServer({ applicationUri: `urn:test:issuance:${name}:${process.pid}`, applicationNames: [{ text: `Pump ${name}`, locale: "en" }], discoveryUrls });
    return { app, id: await registerOk(admin, app) };
  }

  /** An openssl CSR with SAN = the ApplicationUri plus `san`. */
  function csr(uri: string, subj = "/CN=device", san = "", kind: "rsa:2048" | "P-256" = "rsa:2048"): Buffer {
    return opensslCsr(work, kind, subj, [`URI:${uri}`, ...(san ? [san] : [])].join(",")).der;
  }

  /** An openssl CSR for a key made beforehand (genpkey/ecparam), signed with `digest`. */
  function csrFromKey(keyFile: string, uri: string, digest = "-sha256"): Buffer {
    const out = path.join(work, `req-${crypto.randomUUID()}.der`);
    opensslOk(["req", "-new", "-key", keyFile, "-subj", "/CN=device", digest, "-addext", `subjectAltName=URI:${uri}`, "-outform", "DER", "-out", out]);
    return fs.readFileSync(out);
  }

  it("DNS names and IPs only from the registered DiscoveryUrl hosts: wildcard, foreign and localhost names refused, naming the name", async () => {
    const { app, id } = await register("names");
    for (const san of ["DNS:*.plant.local", "DNS:*.com", "DNS:localhost", "DNS:www.google.com", "IP:10.9.9.9"]) {
      const r = await startSigningRequest(admin, id, csr(app.applicationUri, "/CN=device", `DNS:names.plant.local,${san}`));
      expectStatus(r, "BadInvalidArgument");
      expect(r.text).toContain(san.slice(san.indexOf(":") + 1));
    }
    for (const name of ["*.plant.local", "localhost", "127.0.0.1"]) {
      const r = await startNewKeyPairRequest(admin, id, { domainNames: [name] });
      expectStatus(r, "BadInvalidArgument");
      expect(r.text).toContain(name);
    }
    // Nothing asked → the registered host; the registered host asked → granted.
    const issued = await issueFromCsr(admin, id, csr(app.applicationUri));
    expect(new crypto.X509Certificate(issued.certificate).subjectAltName).toBe(`URI:${app.applicationUri}, DNS:names.plant.local`);
  });

  it("an application administering itself gets no foreign names either", async () => {
    const { app, id } = await register("self");
    const first = await issueNewKeyPair(admin, id);
    const identity: CertificateIdentity = { certificate: first.certificate, chain: first.issuers, privateKeyPem: first.privateKeyPem!, applicationUri: app.applicationUri };
    const self = await connectWithCertificate(t.endpointUrl, identity);
    open.push(self);
    const wildcard = await startSigningRequest(self, id, csr(app.applicationUri, "/CN=device", "DNS:*.plant.local"));
    expectStatus(wildcard, "BadInvalidArgument");
    expect(wildcard.text).toContain("*.plant.local");
    const foreign = await startNewKeyPairRequest(self, id, { domainNames: ["historian.plant.local"] });
    expectStatus(foreign, "BadInvalidArgument");
    expect(foreign.text).toContain("historian.plant.local");
  });

  it("the subject is built by the GDS: a CA's subject or CN=www.google.com asked for is not what the certificate carries", async () => {
    const { app, id } = await register("subject");
    const caSubject = new crypto.X509Certificate((await issueNewKeyPair(admin, id)).issuers[0]!).subject;
    const caSlash = "/" + caSubject.split("\n").reverse().join("/");
    for (const subj of [caSlash, "/CN=www.google.com/O=Google LLC"]) {
      const cert = new crypto.X509Certificate((await issueFromCsr(admin, id, csr(app.applicationUri, subj))).certificate);
      expect(cert.subject.split("\n").sort()).toEqual(["CN=Pump subject", "DC=subject.plant.local"]);
      expect(cert.subject).not.toBe(caSubject);
    }
    const kp = new crypto.X509Certificate((await issueNewKeyPair(admin, id, { subjectName: "CN=www.google.com" })).certificate);
    expect(kp.subject).not.toContain("google");
    expect(kp.subject).toContain("CN=Pump subject");
  });

  it("an application without an https DiscoveryUrl is not in DefaultHttpsGroup: GetCertificateGroups and Start* agree", async () => {
    const { app, id } = await register("nohttps");
    const groups = await getCertificateGroups(admin, id);
    expectStatus(groups, "Good");
    const listed = (groups.outputs[0].value as NodeId[]).map((n) => n.value);
    expect(listed).toContain(GROUP.DefaultApplicationGroup);
    expect(listed).not.toContain(GROUP.DefaultHttpsGroup);
    const kp = await startNewKeyPairRequest(admin, id, { group: "DefaultHttpsGroup", type: "Https", domainNames: ["nohttps.plant.local"] });
    expectStatus(kp, "BadInvalidArgument");
    expect(kp.text).toContain("DefaultHttpsGroup");
    const sr = await startSigningRequest(admin, id, csr(app.applicationUri), "DefaultHttpsGroup", "Https");
    expectStatus(sr, "BadInvalidArgument");
    expect(sr.text).toContain("DefaultHttpsGroup");
  });

  it("a user-token certificate is never issued on auto-approval: the request waits for a RegistrationAuthorityAdmin", async () => {
    const { id } = await register("usertoken");
    const start = await startNewKeyPairRequest(admin, id, { group: "DefaultUserTokenGroup", subjectName: "CN=admin" });
    expectStatus(start, "Good");
    const finish = await finishRequest(admin, id, start.outputs[0].value as NodeId);
    expectStatus(finish, "BadNothingToDo");
  });

  it("weak keys and signatures → BadCertificateInvalid with the reason: RSA e=3, a SHA-1 signed CSR, explicit EC parameters", async () => {
    const { app, id } = await register("keys");
    const e3 = path.join(work, "e3.pem");
    opensslOk(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-pkeyopt", "rsa_keygen_pubexp:3", "-out", e3]);
    const r3 = await startSigningRequest(admin, id, csrFromKey(e3, app.applicationUri));
    expectStatus(r3, "BadCertificateInvalid");
    expect(r3.text).toContain("exponent 3");

    const rsa = path.join(work, "rsa.pem");
    opensslOk(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa]);
    const sha1 = await startSigningRequest(admin, id, csrFromKey(rsa, app.applicationUri, "-sha1"));
    expectStatus(sha1, "BadCertificateInvalid");
    expect(sha1.text).toContain("sha1WithRSAEncryption");

    const explicit = path.join(work, "explicit.pem");
    opensslOk(["ecparam", "-name", "prime256v1", "-param_enc", "explicit", "-genkey", "-noout", "-out", explicit]);
    const ec = await startSigningRequest(admin, id, csrFromKey(explicit, app.applicationUri), null, "EccNistP256");
    expectStatus(ec, "BadCertificateInvalid");
    expect(ec.text).toContain("explicit");

    // The same key with SHA-256 and a named curve is fine.
    await issueFromCsr(admin, id, csrFromKey(rsa, app.applicationUri));
  });

  it(`the daily quota: certificate ${MAX_PER_DAY + 1} of one application and group in 24 h is BadTooManyOperations, and audited`, async () => {
    const { app, id } = await register("quota");
    for (let i = 0; i < MAX_PER_DAY; i++) await issueFromCsr(admin, id, csr(app.applicationUri));
    const over = await startSigningRequest(admin, id, csr(app.applicationUri));
    expectStatus(over, "BadTooManyOperations");
    expect(over.text).toContain("GDS_MAX_CERTIFICATES_PER_DAY");
    const overKp = await startNewKeyPairRequest(admin, id);
    expectStatus(overKp, "BadTooManyOperations");
    const appId = String(id.value).toLowerCase();
    const audit = fs
      .readFileSync(path.join(t.config.dataDir, "audit.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string; outcome: string; applicationId?: string; detail?: string });
    const refused = audit.filter((e) => e.event === "CertificateRequested" && e.outcome === "BadTooManyOperations" && e.applicationId === appId);
    expect(refused).toHaveLength(2);
    expect(refused[0]!.detail).toContain("GDS_MAX_CERTIFICATES_PER_DAY");
  });

  it("a burst of StartNewKeyPairRequest beyond the key generation queue is refused at once; the accepted ones are delivered", async () => {
    // Several applications, each within its daily quota and open-request limit: only the queue can refuse.
    const apps = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => register(`burst${i}`)));
    const calls = apps.flatMap(({ id }) => Array.from({ length: MAX_PER_DAY }, () => ({ id, outcome: startNewKeyPairRequest(admin, id) })));
    const outcomes = await Promise.all(calls.map(async (c) => ({ id: c.id, r: await c.outcome })));
    const refused = outcomes.filter((o) => statusName(o.r) === "BadTooManyOperations");
    const accepted = outcomes.filter((o) => statusName(o.r) === "Good");
    expect(refused.length + accepted.length).toBe(outcomes.length);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!.r.text).toContain("key pairs");
    for (const { id, r } of accepted) {
      const finish = await finishRequest(admin, id, r.outputs[0].value as NodeId);
      expectStatus(finish, "Good");
      expect((finish.outputs[1].value as Buffer).length).toBeGreaterThan(0);
    }
  });
});
