import "reflect-metadata";
import crypto from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { AuditLog } from "../audit/audit-log.types.js";
import type { CaBackend, RevokedEntry } from "../ca/ca-backend.js";
import { CERTIFICATE_GROUP_NAMES, type CertificateGroupName } from "../ca/certificate-types.js";
import type { Clock } from "../clock.js";
import { readNode } from "../ca/der.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Store, StoreMutation } from "../store/store.js";
import { TrustListMask, type Actor, type TrustListContent, type TrustListSnapshot } from "./certificate-manager.types.js";

export const CRLS_COLLECTION = "cm-crls";
export const TRUST_LISTS_COLLECTION = "cm-trustlists";

interface StoredCrl {
  group: CertificateGroupName;
  crlNumber: number;
  thisUpdate: string;
  nextUpdate: string;
  /** DER, base64 */
  der: string;
}

/** The entries an admin added beside the group's own CA (DER, base64), and when the list last changed. */
interface StoredTrustList {
  group: CertificateGroupName;
  trustedCertificates: string[];
  trustedCrls: string[];
  issuerCertificates: string[];
  issuerCrls: string[];
  lastUpdateTime: string;
}

type ListName = keyof TrustListContent;
const LISTS: { name: ListName; mask: number }[] = [
  { name: "trustedCertificates", mask: TrustListMask.TrustedCertificates },
  { name: "trustedCrls", mask: TrustListMask.TrustedCrls },
  { name: "issuerCertificates", mask: TrustListMask.IssuerCertificates },
  { name: "issuerCrls", mask: TrustListMask.IssuerCrls },
];

/** External entries and CRLs together may not exceed this (the TrustList file's size limit too). */
const MAX_EXTERNAL_ENTRIES = 256;

export function sha1Hex(der: Buffer): string {
  return crypto.createHash("sha1").update(der).digest("hex");
}

export interface TrustListManagerOptions {
  store: Store;
  clock: Clock;
  ca: CaBackend;
  audit: AuditLog;
  log: Logger;
  crlLifetimeMs: number;
  /** The revoked certificates of a group, from the certificate records (the CRL's content). */
  revokedOf(group: CertificateGroupName): RevokedEntry[];
}

/**
 * Each group's CRL and trust list. The list always holds the group's CA certificate (trusted and
 * issuer) and its current CRL (in both CRL lists); a CertificateAuthorityAdmin adds external
 * entries beside them. Every change moves LastUpdateTime and tells the listeners (trust-list
 * files, later the push scheduler).
 */
export class TrustListManager {
  private readonly crls = new Map<CertificateGroupName, StoredCrl>();
  private readonly external = new Map<CertificateGroupName, StoredTrustList>();
  private readonly snapshots = new Map<CertificateGroupName, TrustListSnapshot>();
  private readonly listeners: ((group: CertificateGroupName) => void)[] = [];

  constructor(private readonly opts: TrustListManagerOptions) {}

  async init(): Promise<void> {
    for (const c of await this.opts.store.values<StoredCrl>(CRLS_COLLECTION)) this.crls.set(c.group, c);
    for (const t of await this.opts.store.values<StoredTrustList>(TRUST_LISTS_COLLECTION)) this.external.set(t.group, t);
    const mutations: StoreMutation[] = [];
    for (const group of CERTIFICATE_GROUP_NAMES) {
      if (!this.crls.has(group)) mutations.push(await this.signCrl(group));
      if (!this.external.has(group)) {
        const empty: StoredTrustList = { group, trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [], lastUpdateTime: this.opts.clock.now().toISOString() };
        mutations.push({ collection: TRUST_LISTS_COLLECTION, key: group, value: empty });
      }
    }
    if (mutations.length) await this.commit(mutations);
    this.snapshots.clear();
  }

  /**
   * A freshly signed CRL for `group` as a store mutation, applied to memory only by `commit`, so
   * that a revocation and its CRL land in one atomic batch.
   */
  async signCrl(group: CertificateGroupName): Promise<StoreMutation> {
    const now = this.opts.clock.now();
    const crlNumber = (this.crls.get(group)?.crlNumber ?? 0) + 1;
    const nextUpdate = new Date(now.getTime() + this.opts.crlLifetimeMs);
    const der = await this.opts.ca.signCrl({ group, revoked: this.opts.revokedOf(group), crlNumber, thisUpdate: now, nextUpdate });
    const value: StoredCrl = { group, crlNumber, thisUpdate: now.toISOString(), nextUpdate: nextUpdate.toISOString(), der: der.toString("base64") };
    return { collection: CRLS_COLLECTION, key: group, value };
  }

  /** Commits mutations (CRLs, trust lists, and whatever else the caller batches) and applies ours. */
  async commit(mutations: StoreMutation[]): Promise<void> {
    await this.opts.store.commit(mutations);
    const changed = new Set<CertificateGroupName>();
    for (const m of mutations) {
      if (m.collection === CRLS_COLLECTION && m.value) {
        const crl = m.value as StoredCrl;
        this.crls.set(crl.group, crl);
        changed.add(crl.group);
      } else if (m.collection === TRUST_LISTS_COLLECTION && m.value) {
        const list = m.value as StoredTrustList;
        this.external.set(list.group, list);
        changed.add(list.group);
      }
    }
    for (const group of changed) this.snapshots.delete(group);
    for (const group of changed) this.notify(group);
  }

  crlInfo(group: CertificateGroupName): { crlNumber: number; thisUpdate: Date; nextUpdate: Date; der: Buffer } {
    const c = this.requireCrl(group);
    return { crlNumber: c.crlNumber, thisUpdate: new Date(c.thisUpdate), nextUpdate: new Date(c.nextUpdate), der: Buffer.from(c.der, "base64") };
  }

  snapshot(group: CertificateGroupName): TrustListSnapshot {
    const cached = this.snapshots.get(group);
    if (cached) return cached;
    const caDer = this.opts.ca.info(group).chain;
    const crl = Buffer.from(this.requireCrl(group).der, "base64");
    const ext = this.requireExternal(group);
    const decode = (list: string[]) => list.map((b) => Buffer.from(b, "base64"));
    // Every change either edits the external entries or signs a new CRL: the later of the two is
    // when the content last changed.
    const times = [ext.lastUpdateTime, this.requireCrl(group).thisUpdate].sort();
    const snap: TrustListSnapshot = {
      group,
      trustedCertificates: [caDer[0], ...decode(ext.trustedCertificates)],
      trustedCrls: [crl, ...decode(ext.trustedCrls)],
      issuerCertificates: [...caDer, ...decode(ext.issuerCertificates)],
      issuerCrls: [crl, ...decode(ext.issuerCrls)],
      lastUpdateTime: new Date(times[times.length - 1]),
    };
    this.snapshots.set(group, snap);
    return snap;
  }

  /** CRLs whose half-life has passed are re-signed (so relying parties never see an expired CRL). */
  async refreshDueCrls(): Promise<CertificateGroupName[]> {
    const now = this.opts.clock.now().getTime();
    const due = CERTIFICATE_GROUP_NAMES.filter((g) => {
      const c = this.requireCrl(g);
      const start = Date.parse(c.thisUpdate);
      return now >= start + (Date.parse(c.nextUpdate) - start) / 2;
    });
    if (due.length === 0) return [];
    const mutations: StoreMutation[] = [];
    for (const g of due) mutations.push(await this.signCrl(g));
    await this.commit(mutations);
    for (const g of due) this.opts.log.info({ group: g, crlNumber: this.requireCrl(g).crlNumber }, "CRL re-signed before it expires");
    return due;
  }

  async replace(group: CertificateGroupName, content: TrustListContent, mask: number, actor: Actor): Promise<void> {
    if (!Number.isInteger(mask) || mask < 0 || mask > TrustListMask.All) throw new GdsError("BadInvalidArgument", `SpecifiedLists: ${mask} is not a TrustListMasks value (0–15)`);
    const current = this.requireExternal(group);
    const own = this.ownEntries(group);
    const ownIssuer = crlIssuerName(Buffer.from(this.requireCrl(group).der, "base64"));
    const next: StoredTrustList = { ...current, lastUpdateTime: this.opts.clock.now().toISOString() };
    for (const { name, mask: bit } of LISTS) {
      if (!(mask & bit)) continue;
      const isCrl = name.endsWith("Crls");
      const entries: string[] = [];
      const seen = new Set<string>();
      for (const [i, der] of content[name].entries()) {
        const thumb = sha1Hex(der);
        // The group's own CA and CRL are always in the list; a client writing back what it read
        // sends them too.
        if (own.has(thumb) || seen.has(thumb)) continue;
        if (isCrl) checkCrl(der, `${name}[${i}]`);
        else checkCertificate(der, `${name}[${i}]`);
        // An older CRL of our own CA (read before a revocation re-signed it) is not an external entry.
        if (isCrl && crlIssuerName(der) === ownIssuer) continue;
        seen.add(thumb);
        entries.push(der.toString("base64"));
      }
      next[name] = entries;
    }
    this.checkSize(next);
    await this.commit([{ collection: TRUST_LISTS_COLLECTION, key: group, value: next }]);
    await this.opts.audit.record({ event: "TrustListUpdated", actor, outcome: "Good", group, detail: `lists replaced (mask ${mask}): ${LISTS.map((l) => `${l.name} ${next[l.name].length}`).join(", ")} external entries` });
  }

  /** AddCertificate: IsTrustedCertificate=false adds to the issuer list (as OPC 10000-12 1.04 and the .NET GDS do). */
  async add(group: CertificateGroupName, der: Buffer, isTrusted: boolean, actor: Actor): Promise<void> {
    checkCertificate(der, "Certificate");
    const thumb = sha1Hex(der);
    const current = this.requireExternal(group);
    const name: ListName = isTrusted ? "trustedCertificates" : "issuerCertificates";
    if (this.ownEntries(group).has(thumb) || current[name].some((b) => sha1Hex(Buffer.from(b, "base64")) === thumb)) return;
    const next: StoredTrustList = { ...current, [name]: [...current[name], der.toString("base64")], lastUpdateTime: this.opts.clock.now().toISOString() };
    this.checkSize(next);
    await this.commit([{ collection: TRUST_LISTS_COLLECTION, key: group, value: next }]);
    await this.opts.audit.record({ event: "TrustListUpdated", actor, outcome: "Good", group, detail: `certificate ${thumb} added to ${name}` });
  }

  /** RemoveCertificate by SHA-1 thumbprint (hex); also drops the CRLs that certificate issued. */
  async remove(group: CertificateGroupName, thumbprint: string, isTrusted: boolean, actor: Actor): Promise<void> {
    const thumb = thumbprint.trim().toLowerCase();
    if (!/^[0-9a-f]{40}$/.test(thumb)) throw new GdsError("BadInvalidArgument", `Thumbprint: expected 40 hex digits (SHA-1), got ${JSON.stringify(thumbprint.slice(0, 80))}`);
    if (this.ownEntries(group).has(thumb)) throw new GdsError("BadInvalidArgument", `Thumbprint: ${thumb} is this GDS's own ${group} CA; it cannot be removed from its trust list`);
    const current = this.requireExternal(group);
    const name: ListName = isTrusted ? "trustedCertificates" : "issuerCertificates";
    const index = current[name].findIndex((b) => sha1Hex(Buffer.from(b, "base64")) === thumb);
    if (index < 0) throw new GdsError("BadInvalidArgument", `Thumbprint: no certificate ${thumb} in the ${isTrusted ? "trusted" : "issuer"} list of ${group}`);
    const removed = new x509.X509Certificate(new Uint8Array(Buffer.from(current[name][index], "base64")));
    const crlName: ListName = isTrusted ? "trustedCrls" : "issuerCrls";
    const next: StoredTrustList = {
      ...current,
      [name]: current[name].filter((_, i) => i !== index),
      [crlName]: current[crlName].filter((b) => crlIssuerName(Buffer.from(b, "base64")) !== removed.subject),
      lastUpdateTime: this.opts.clock.now().toISOString(),
    };
    await this.commit([{ collection: TRUST_LISTS_COLLECTION, key: group, value: next }]);
    await this.opts.audit.record({ event: "TrustListUpdated", actor, outcome: "Good", group, detail: `certificate ${thumb} removed from ${name}` });
  }

  onChanged(listener: (group: CertificateGroupName) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private notify(group: CertificateGroupName): void {
    for (const l of [...this.listeners]) {
      try {
        l(group);
      } catch (err) {
        this.opts.log.error({ err, group }, "trust list listener failed");
      }
    }
  }

  private ownEntries(group: CertificateGroupName): Set<string> {
    const own = new Set(this.opts.ca.info(group).chain.map(sha1Hex));
    own.add(sha1Hex(Buffer.from(this.requireCrl(group).der, "base64")));
    return own;
  }

  private checkSize(list: StoredTrustList): void {
    const n = LISTS.reduce((sum, l) => sum + list[l.name].length, 0);
    if (n > MAX_EXTERNAL_ENTRIES) throw new GdsError("BadEncodingLimitsExceeded", `a trust list holds at most ${MAX_EXTERNAL_ENTRIES} external entries; this change would make ${n}`);
  }

  private requireCrl(group: CertificateGroupName): StoredCrl {
    const c = this.crls.get(group);
    if (!c) throw new Error(`no CRL for ${group}: TrustListManager.init() has not run`);
    return c;
  }

  private requireExternal(group: CertificateGroupName): StoredTrustList {
    const t = this.external.get(group);
    if (!t) throw new Error(`no trust list for ${group}: TrustListManager.init() has not run`);
    return t;
  }
}

/** Exactly one DER SEQUENCE and nothing else (Node's parser also takes PEM and trailing bytes). */
function isSingleDerSequence(der: Buffer): boolean {
  try {
    return der.length > 0 && der[0] === 0x30 && readNode(der, 0).end === der.length;
  } catch {
    return false;
  }
}

function checkCertificate(der: Buffer, field: string): void {
  if (!isSingleDerSequence(der)) throw new GdsError("BadCertificateInvalid", `${field}: not a single DER X.509 certificate`);
  try {
    new crypto.X509Certificate(der);
  } catch (err) {
    throw new GdsError("BadCertificateInvalid", `${field}: not a DER X.509 certificate (${(err as Error).message})`);
  }
}

function checkCrl(der: Buffer, field: string): void {
  if (!isSingleDerSequence(der) || crlIssuerName(der) === undefined) throw new GdsError("BadCertificateInvalid", `${field}: not a single DER X.509 CRL`);
}

/** The issuer of a DER CRL (RFC 4514, as @peculiar/x509 prints it), or undefined if the bytes are not a CRL. */
function crlIssuerName(der: Buffer): string | undefined {
  try {
    return new x509.X509Crl(new Uint8Array(der)).issuer;
  } catch {
    return undefined;
  }
}
