/**
 * TrustListManager at the domain level: a real LocalCaBackend (temp dir, shared by the file), a
 * real FileAuditLog, the MemoryStore seam double, real certificates and CRLs, a clock the tests move.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import * as x509 from "@peculiar/x509";
import pino from "pino";
import { FileAuditLog } from "../../src/audit/file-audit-log.js";
import type { RevokedEntry } from "../../src/ca/ca-backend.js";
import type { CertificateGroupName } from "../../src/ca/certificate-types.js";
import { LocalCaBackend } from "../../src/ca/local-ca-backend.js";
import type { Clock } from "../../src/clock.js";
import { createLogger } from "../../src/log.js";
import { TrustListMask, type TrustListContent } from "../../src/requests/certificate-manager.types.js";
import { CRLS_COLLECTION, TRUST_LISTS_COLLECTION, TrustListManager, sha1Hex } from "../../src/requests/trust-lists.js";
import { crlOf, generateKeys, selfSignedCertificate, type TestCertificate } from "./helpers/csr.js";
import { rejectsGdsError } from "./helpers/gds-error.js";
import { MemoryStore } from "./helpers/memory-store.js";

const DAY = 86_400_000;
const YEAR = 365 * DAY;
const T0 = Date.parse("2026-03-01T00:00:00.000Z");
const CRL_LIFETIME = 7 * DAY;
const GROUPS: CertificateGroupName[] = ["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"];
const G: CertificateGroupName = "DefaultApplicationGroup";

let t = T0;
const clock: Clock = { now: () => new Date(t) };
const advance = (ms: number) => {
  t += ms;
};
const silent = createLogger("silent", { pretty: false });

let root: string;
let ca: LocalCaBackend;
/** External CAs and certificates (ECDSA, cheap), made once. */
let extCaA: TestCertificate;
let extCaB: TestCertificate;
let extLeaf: TestCertificate;
let extCrlA: Buffer;
let extCrlB: Buffer;
let bulk: TestCertificate[];

let store: MemoryStore;
let audit: FileAuditLog;
let revoked: RevokedEntry[];
let logLines: string[];
let tl: TrustListManager;

function content(partial: Partial<TrustListContent> = {}): TrustListContent {
  return { trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [], ...partial };
}

async function newManager(): Promise<TrustListManager> {
  const log = pino({ level: "info" }, new Writable({ write: (chunk, _enc, cb) => (logLines.push(String(chunk)), cb()) }));
  const m = new TrustListManager({ store, clock, ca, audit, log, crlLifetimeMs: CRL_LIFETIME, revokedOf: (g) => (g === G ? revoked : []) });
  await m.init();
  return m;
}

const own = () => ca.info(G).chain;
const thumbs = (list: Buffer[]) => list.map(sha1Hex);

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "gds-tl-test-"));
  const caDir = path.join(root, "ca");
  fs.mkdirSync(caDir, { mode: 0o700 });
  t = T0;
  ca = new LocalCaBackend({ dataDir: caDir, keySize: 2048, lifetimeMs: 10 * YEAR, subjectTemplate: "CN=TL Test {group} CA, O=Tests", clock, log: silent });
  await ca.init();
  extCaA = await selfSignedCertificate({ subject: "CN=External CA A, O=Vendor", ca: true });
  extCaB = await selfSignedCertificate({ subject: "CN=External CA B, O=Vendor", ca: true });
  extLeaf = await selfSignedCertificate({ subject: "CN=Some Device" });
  extCrlA = await crlOf(extCaA, ["0a0b0c"]);
  extCrlB = await crlOf(extCaB);
  const keys = await generateKeys("EC-P256");
  bulk = [];
  for (let i = 0; i < 260; i++) bulk.push(await selfSignedCertificate({ keys, subject: `CN=Bulk ${i}`, serialHex: (0x1000 + i).toString(16) }));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

beforeEach(async () => {
  t = T0;
  store = new MemoryStore();
  audit = await FileAuditLog.open({ dataDir: fs.mkdtempSync(path.join(root, "audit-")), clock, log: silent });
  revoked = [];
  logLines = [];
  tl = await newManager();
});

afterEach(async () => {
  await audit.close();
});

describe("init and snapshot", () => {
  it("every group's list holds its own CA (trusted and issuer) and its CRL (both CRL lists), nothing else", () => {
    for (const g of GROUPS) {
      const chain = ca.info(g).chain;
      const s = tl.snapshot(g);
      expect(s.group).toBe(g);
      expect(s.trustedCertificates).toEqual([chain[0]]);
      expect(s.issuerCertificates).toEqual(chain);
      const crl = tl.crlInfo(g);
      expect(crl.crlNumber).toBe(1);
      expect(crl.thisUpdate.getTime()).toBe(T0);
      expect(crl.nextUpdate.getTime()).toBe(T0 + CRL_LIFETIME);
      expect(s.trustedCrls).toEqual([crl.der]);
      expect(s.issuerCrls).toEqual([crl.der]);
      expect(s.lastUpdateTime.getTime()).toBe(T0);
    }
  });

  it("a second init on the same store signs nothing new and sees the external entries", async () => {
    await tl.add(G, extLeaf.der, true, "ca-admin");
    const commits = store.commits.length;
    const again = await newManager();
    expect(store.commits.length).toBe(commits);
    expect(again.crlInfo(G).crlNumber).toBe(1);
    expect(thumbs(again.snapshot(G).trustedCertificates)).toEqual(thumbs([own()[0]!, extLeaf.der]));
  });

  it("snapshots are cached until something changes", async () => {
    const a = tl.snapshot(G);
    expect(tl.snapshot(G)).toBe(a);
    await tl.add(G, extLeaf.der, true, "ca-admin");
    expect(tl.snapshot(G)).not.toBe(a);
  });
});

describe("replace (CloseAndUpdate)", () => {
  it("replaces only the masked lists; the own CA and CRL stay; duplicates and the own entries in the input are dropped", async () => {
    await tl.add(G, extCaB.der, false, "ca-admin");
    const before = tl.snapshot(G);
    advance(1000);
    await tl.replace(
      G,
      content({
        // What a client read back, plus new entries, one of them twice.
        trustedCertificates: [own()[0]!, extCaA.der, extLeaf.der, extCaA.der],
        trustedCrls: [tl.crlInfo(G).der, extCrlA, extCrlA],
        issuerCertificates: [extCaA.der], // not in the mask: ignored
      }),
      TrustListMask.TrustedCertificates | TrustListMask.TrustedCrls,
      "ca-admin",
    );
    const s = tl.snapshot(G);
    expect(thumbs(s.trustedCertificates)).toEqual(thumbs([own()[0]!, extCaA.der, extLeaf.der]));
    expect(thumbs(s.trustedCrls)).toEqual(thumbs([tl.crlInfo(G).der, extCrlA]));
    expect(thumbs(s.issuerCertificates)).toEqual(thumbs([...own(), extCaB.der]));
    expect(s.issuerCrls).toEqual(before.issuerCrls);
    expect(s.lastUpdateTime.getTime()).toBe(T0 + 1000);
    // Other groups are untouched.
    expect(tl.snapshot("DefaultHttpsGroup").trustedCertificates).toHaveLength(1);
  });

  it("mask All with empty lists removes every external entry, never the own CA or CRL", async () => {
    await tl.replace(G, content({ trustedCertificates: [extLeaf.der], trustedCrls: [extCrlA], issuerCertificates: [extCaA.der], issuerCrls: [extCrlA] }), TrustListMask.All, "ca-admin");
    expect(tl.snapshot(G).issuerCrls).toHaveLength(2);
    await tl.replace(G, content(), TrustListMask.All, "ca-admin");
    const s = tl.snapshot(G);
    expect(s.trustedCertificates).toEqual([own()[0]]);
    expect(s.issuerCertificates).toEqual(own());
    expect(s.trustedCrls).toEqual([tl.crlInfo(G).der]);
    expect(s.issuerCrls).toEqual([tl.crlInfo(G).der]);
  });

  it("mask 0 changes no list (but is a valid call)", async () => {
    await tl.add(G, extLeaf.der, true, "ca-admin");
    await tl.replace(G, content({ trustedCertificates: [extCaA.der] }), 0, "ca-admin");
    expect(thumbs(tl.snapshot(G).trustedCertificates)).toEqual(thumbs([own()[0]!, extLeaf.der]));
  });

  it("garbage anywhere → BadCertificateInvalid and no change at all (a CRL is not a certificate, nor the reverse)", async () => {
    await tl.add(G, extLeaf.der, true, "ca-admin");
    const before = tl.snapshot(G);
    const commits = store.commits.length;
    const changed: CertificateGroupName[] = [];
    tl.onChanged((g) => changed.push(g));
    advance(1000);
    const bad: [TrustListContent, number][] = [
      [content({ trustedCertificates: [extCaA.der, Buffer.from("garbage")] }), TrustListMask.TrustedCertificates],
      [content({ trustedCertificates: [extCaA.der], issuerCertificates: [Buffer.alloc(0)] }), TrustListMask.All],
      [content({ trustedCrls: [Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])] }), TrustListMask.TrustedCrls],
      [content({ issuerCrls: [extCaA.der] }), TrustListMask.IssuerCrls],
      [content({ issuerCertificates: [extCrlA] }), TrustListMask.IssuerCertificates],
      [content({ trustedCertificates: [extCaA.der.subarray(0, extCaA.der.length - 10)] }), TrustListMask.TrustedCertificates],
    ];
    for (const [c, mask] of bad) await rejectsGdsError(tl.replace(G, c, mask, "ca-admin"), "BadCertificateInvalid");
    expect(tl.snapshot(G)).toEqual(before);
    expect(store.commits.length).toBe(commits);
    expect(changed).toEqual([]);
    expect((await audit.read()).filter((e) => e.event === "TrustListUpdated")).toHaveLength(1);
  });

  // Regression (was a bug, fixed): replace() recognises the group's own CRL by the thumbprint of the *current* CRL only. A
  // client that read the list, and writes it back after the CRL was re-signed (any revocation, or
  // refreshDueCrls every half CRL lifetime), gets the old own CRL stored as an external entry, for
  // good: RemoveCertificate cannot remove it (it goes by certificate thumbprint, and the own CA
  // cannot be removed). Expected: every CRL issued by the group's own CA is dropped from the input,
  // so the list holds exactly one own CRL, the current one. (trust-lists.ts, replace/ownEntries)
  it("writing back a list read before the CRL was re-signed does not keep the stale own CRL", async () => {
    const read = tl.snapshot(G);
    advance(CRL_LIFETIME / 2);
    await tl.refreshDueCrls();
    expect(tl.crlInfo(G).crlNumber).toBe(2);
    await tl.replace(G, read, TrustListMask.All, "ca-admin");
    const s = tl.snapshot(G);
    expect(thumbs(s.trustedCrls)).toEqual(thumbs([tl.crlInfo(G).der]));
    expect(thumbs(s.issuerCrls)).toEqual(thumbs([tl.crlInfo(G).der]));
  });

  // Regression (was a bug, fixed): checkCertificate/checkCrl (trust-lists.ts) accept what node's X509Certificate and
  // @peculiar/x509's X509Crl accept: PEM text, DER followed by junk, two certificates back to back,
  // and (for CRLs) base64 text. The bytes are stored as they came and handed out in the TrustList,
  // whose lists hold DER (OPC 10000-12 §7.8.2.x); a client decoding the list then fails, and a PEM
  // copy of the own CA is not even recognised as the own CA. Expected: BadCertificateInvalid and no
  // change (or the entry normalised to its DER).
  it("only DER is accepted: PEM, trailing bytes, concatenated certificates and base64 → BadCertificateInvalid", async () => {
    const pem = (der: Buffer, label: string) => Buffer.from(`-----BEGIN ${label}-----\n${der.toString("base64")}\n-----END ${label}-----\n`);
    const badCerts = [pem(extLeaf.der, "CERTIFICATE"), pem(own()[0]!, "CERTIFICATE"), Buffer.concat([extLeaf.der, Buffer.from([0, 0, 1])]), Buffer.concat([extLeaf.der, extCaA.der])];
    const badCrls = [pem(extCrlA, "X509 CRL"), Buffer.concat([extCrlA, Buffer.from([0, 0, 1])]), Buffer.from(extCrlA.toString("base64"))];
    const before = tl.snapshot(G);
    const results: string[] = [];
    const outcome = (p: Promise<unknown>) => p.then(() => "accepted", (e: unknown) => (e as { statusName?: string }).statusName ?? String(e));
    for (const [i, der] of badCerts.entries()) {
      results.push(`add cert ${i}: ${await outcome(tl.add(G, der, true, "ca-admin"))}`);
      results.push(`replace cert ${i}: ${await outcome(tl.replace(G, content({ issuerCertificates: [der] }), TrustListMask.IssuerCertificates, "ca-admin"))}`);
    }
    for (const [i, der] of badCrls.entries()) {
      results.push(`replace crl ${i}: ${await outcome(tl.replace(G, content({ trustedCrls: [der] }), TrustListMask.TrustedCrls, "ca-admin"))}`);
    }
    expect(results).toEqual(results.map((r) => r.replace(/: .*$/, ": BadCertificateInvalid")));
    const after = tl.snapshot(G);
    expect(after.trustedCertificates).toEqual(before.trustedCertificates);
    expect(after.issuerCertificates).toEqual(before.issuerCertificates);
    expect(after.trustedCrls).toEqual(before.trustedCrls);
  });

  it("a mask outside 0..15 → BadInvalidArgument", async () => {
    for (const mask of [16, -1, 1.5, Number.NaN]) await rejectsGdsError(tl.replace(G, content(), mask, "ca-admin"), "BadInvalidArgument");
  });

  it("more than 256 external entries → BadEncodingLimitsExceeded and no change; 256 fit", async () => {
    const too = bulk.slice(0, 257).map((c) => c.der);
    await rejectsGdsError(tl.replace(G, content({ trustedCertificates: too }), TrustListMask.TrustedCertificates, "ca-admin"), "BadEncodingLimitsExceeded");
    expect(tl.snapshot(G).trustedCertificates).toHaveLength(1);
    // Spread over lists, the sum counts.
    await rejectsGdsError(
      tl.replace(G, content({ trustedCertificates: too.slice(0, 200), issuerCertificates: too.slice(200) }), TrustListMask.All, "ca-admin"),
      "BadEncodingLimitsExceeded",
    );
    await tl.replace(G, content({ trustedCertificates: too.slice(0, 256) }), TrustListMask.TrustedCertificates, "ca-admin");
    expect(tl.snapshot(G).trustedCertificates).toHaveLength(257);
    await rejectsGdsError(tl.add(G, bulk[257]!.der, false, "ca-admin"), "BadEncodingLimitsExceeded");
    expect(tl.snapshot(G).issuerCertificates).toHaveLength(own().length);
  });

  it("is audited as TrustListUpdated with the actor", async () => {
    await tl.replace(G, content({ trustedCertificates: [extLeaf.der] }), TrustListMask.TrustedCertificates, "ca-admin");
    const entries = (await audit.read()).filter((e) => e.event === "TrustListUpdated");
    expect(entries).toEqual([expect.objectContaining({ actor: "ca-admin", outcome: "Good", group: G })]);
  });
});

describe("add (AddCertificate)", () => {
  it("isTrusted true → trusted list, false → issuer list; LastUpdateTime moves; listeners fire; persisted", async () => {
    const changed: CertificateGroupName[] = [];
    tl.onChanged((g) => changed.push(g));
    advance(1000);
    await tl.add(G, extLeaf.der, true, "ca-admin");
    advance(1000);
    await tl.add(G, extCaA.der, false, "ca-admin");
    const s = tl.snapshot(G);
    expect(thumbs(s.trustedCertificates)).toEqual(thumbs([own()[0]!, extLeaf.der]));
    expect(thumbs(s.issuerCertificates)).toEqual(thumbs([...own(), extCaA.der]));
    expect(s.lastUpdateTime.getTime()).toBe(T0 + 2000);
    expect(changed).toEqual([G, G]);
    const stored = await store.get<Record<string, string[]>>(TRUST_LISTS_COLLECTION, G);
    expect(stored?.trustedCertificates).toEqual([extLeaf.der.toString("base64")]);
    expect(stored?.issuerCertificates).toEqual([extCaA.der.toString("base64")]);
  });

  it("a duplicate or the own CA changes nothing", async () => {
    await tl.add(G, extLeaf.der, true, "ca-admin");
    const before = tl.snapshot(G);
    const commits = store.commits.length;
    advance(1000);
    await tl.add(G, extLeaf.der, true, "ca-admin");
    await tl.add(G, own()[0]!, true, "ca-admin");
    await tl.add(G, own()[0]!, false, "ca-admin");
    expect(tl.snapshot(G)).toEqual(before);
    expect(store.commits.length).toBe(commits);
  });

  it("garbage → BadCertificateInvalid", async () => {
    await rejectsGdsError(tl.add(G, Buffer.from("garbage"), true, "ca-admin"), "BadCertificateInvalid");
    await rejectsGdsError(tl.add(G, extCrlA, false, "ca-admin"), "BadCertificateInvalid");
    expect(tl.snapshot(G).trustedCertificates).toHaveLength(1);
  });
});

describe("remove (RemoveCertificate)", () => {
  it("by thumbprint (any case), from the list named by isTrusted, with the CRLs that certificate issued", async () => {
    await tl.replace(
      G,
      content({ trustedCertificates: [extCaA.der, extCaB.der], trustedCrls: [extCrlA, extCrlB], issuerCertificates: [extCaA.der], issuerCrls: [extCrlA] }),
      TrustListMask.All,
      "ca-admin",
    );
    const changed: CertificateGroupName[] = [];
    tl.onChanged((g) => changed.push(g));
    advance(1000);
    await tl.remove(G, extCaA.thumbprint.toUpperCase(), true, "ca-admin");
    const s = tl.snapshot(G);
    expect(thumbs(s.trustedCertificates)).toEqual(thumbs([own()[0]!, extCaB.der]));
    expect(thumbs(s.trustedCrls)).toEqual(thumbs([tl.crlInfo(G).der, extCrlB]));
    // The issuer list still has CA A and its CRL.
    expect(thumbs(s.issuerCertificates)).toEqual(thumbs([...own(), extCaA.der]));
    expect(thumbs(s.issuerCrls)).toEqual(thumbs([tl.crlInfo(G).der, extCrlA]));
    expect(s.lastUpdateTime.getTime()).toBe(T0 + 1000);
    expect(changed).toEqual([G]);

    await tl.remove(G, ` ${extCaA.thumbprint} `, false, "ca-admin");
    expect(thumbs(tl.snapshot(G).issuerCertificates)).toEqual(thumbs(own()));
    expect(thumbs(tl.snapshot(G).issuerCrls)).toEqual(thumbs([tl.crlInfo(G).der]));
    const audited = (await audit.read()).filter((e) => e.event === "TrustListUpdated");
    expect(audited).toHaveLength(3);
    expect(audited[1]!.detail).toContain(extCaA.thumbprint);
  });

  it("absent thumbprint, or present only in the other list → BadInvalidArgument", async () => {
    await tl.add(G, extLeaf.der, true, "ca-admin");
    await rejectsGdsError(tl.remove(G, extCaA.thumbprint, true, "ca-admin"), "BadInvalidArgument");
    await rejectsGdsError(tl.remove(G, extLeaf.thumbprint, false, "ca-admin"), "BadInvalidArgument");
    await rejectsGdsError(tl.remove("DefaultHttpsGroup", extLeaf.thumbprint, true, "ca-admin"), "BadInvalidArgument");
    expect(tl.snapshot(G).trustedCertificates).toHaveLength(2);
  });

  it("the own CA (or CRL) → BadInvalidArgument", async () => {
    await rejectsGdsError(tl.remove(G, sha1Hex(own()[0]!), true, "ca-admin"), "BadInvalidArgument", "own");
    await rejectsGdsError(tl.remove(G, sha1Hex(own()[0]!), false, "ca-admin"), "BadInvalidArgument");
    await rejectsGdsError(tl.remove(G, sha1Hex(tl.crlInfo(G).der), true, "ca-admin"), "BadInvalidArgument");
    expect(tl.snapshot(G).trustedCertificates).toEqual([own()[0]]);
  });

  it("a malformed thumbprint → BadInvalidArgument", async () => {
    await tl.add(G, extLeaf.der, true, "ca-admin");
    for (const bad of ["", "xyz", extLeaf.thumbprint.slice(0, 39), `${extLeaf.thumbprint}0`, extLeaf.thumbprint.replace(/^./, "g"), crypto.createHash("sha256").update(extLeaf.der).digest("hex")]) {
      await rejectsGdsError(tl.remove(G, bad, true, "ca-admin"), "BadInvalidArgument", "Thumbprint");
    }
    expect(tl.snapshot(G).trustedCertificates).toHaveLength(2);
  });
});

describe("CRLs", () => {
  it("signCrl + commit: the next number, the revoked entries, a new LastUpdateTime and a listener call", async () => {
    const changed: CertificateGroupName[] = [];
    tl.onChanged((g) => changed.push(g));
    revoked = [{ serialHex: "0123456789abcdef0123456789abcdef", revokedAt: new Date(T0), reason: "keyCompromise" }];
    advance(60_000);
    const m = await tl.signCrl(G);
    expect(m.collection).toBe(CRLS_COLLECTION);
    // Not applied before commit.
    expect(tl.crlInfo(G).crlNumber).toBe(1);
    await tl.commit([m]);
    const crl = tl.crlInfo(G);
    expect(crl.crlNumber).toBe(2);
    expect(crl.thisUpdate.getTime()).toBe(T0 + 60_000);
    expect(changed).toEqual([G]);
    const s = tl.snapshot(G);
    expect(s.trustedCrls[0]).toEqual(crl.der);
    expect(s.lastUpdateTime.getTime()).toBe(T0 + 60_000);
        const parsed = new x509.X509Crl(new Uint8Array(crl.der));
    expect(parsed.entries.map((e) => e.serialNumber.toLowerCase())).toEqual(["0123456789abcdef0123456789abcdef"]);
    expect(await parsed.verify({ publicKey: new x509.X509Certificate(new Uint8Array(own()[0]!)) })).toBe(true);
  });

  it("refreshDueCrls: nothing before half the lifetime, every group after", async () => {
    advance(CRL_LIFETIME / 2 - 1);
    expect(await tl.refreshDueCrls()).toEqual([]);
    advance(1);
    expect([...(await tl.refreshDueCrls())].sort()).toEqual([...GROUPS].sort());
    for (const g of GROUPS) expect(tl.crlInfo(g).crlNumber).toBe(2);
    expect(logLines.join("")).toContain("CRL re-signed");
  });

  it("a listener that throws does not stop the others and is logged", async () => {
    const seen: string[] = [];
    tl.onChanged(() => {
      throw new Error("boom");
    });
    const off = tl.onChanged((g) => seen.push(g));
    await tl.add(G, extLeaf.der, true, "ca-admin");
    expect(seen).toEqual([G]);
    expect(logLines.join("")).toContain("boom");
    off();
    await tl.add(G, extCaA.der, true, "ca-admin");
    expect(seen).toEqual([G]);
  });
});
