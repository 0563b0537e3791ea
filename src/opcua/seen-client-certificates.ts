import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "../log.js";

/**
 * The client application certificates the endpoint met on a secure channel without trusting
 * them (not in `trusted/`, not issued by a GDS CA): a bounded record for an operator to review
 * and trust later, kept apart from the trust store itself.
 *
 * At most `max` certificates, the least recently seen evicted first. In memory only the metadata
 * (a few hundred bytes each); on disk `<dir>/index.json` (the metadata, most recent last) and
 * `<dir>/certs/<thumbprint>.pem` (the certificate; copied into `trusted/certs` it is trusted). Nothing here is ever trusted by
 * being here: the channel decides per connection whether an unknown certificate is accepted.
 */

export type SeenVerdict = "accepted" | "refused";

export interface SeenClientCertificate {
  /** SHA-1 of the certificate's DER, lower-case hex (as `gds certs` shows it). */
  thumbprint: string;
  subject: string;
  /** The URI in the certificate's subjectAltName ("" if none). */
  applicationUri: string;
  notBefore: string;
  notAfter: string;
  firstSeen: string;
  lastSeen: string;
  /** Secure channels opened (or attempted) with it since it was first seen. */
  connections: number;
  /** What the endpoint answered the last time. */
  verdict: SeenVerdict;
  /** The StatusCode name the channel got the last time. */
  status: string;
}

export interface SeenClientCertificatesOptions {
  /** e.g. `<data dir>/server-pki/seen`. */
  dir: string;
  /** At most this many certificates are kept; default 1000. */
  max?: number;
  log: Logger;
  now?: () => Date;
  /** How long index changes may wait before they are written; default 1 s. */
  flushDelayMs?: number;
}

export const DEFAULT_MAX_SEEN_CLIENT_CERTIFICATES = 1000;
/** Text taken from a certificate is cut to this length. */
const MAX_TEXT = 512;
const THUMBPRINT = /^[0-9a-f]{40}$/;

export class SeenClientCertificates {
  readonly dir: string;
  readonly max: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly flushDelayMs: number;
  /** Map order is recency: the first entry is the least recently seen. */
  private readonly entries = new Map<string, SeenClientCertificate>();
  /** File writes and deletes, one at a time, in order. */
  private io: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private dirty = false;
  private closed = false;

  constructor(opts: SeenClientCertificatesOptions) {
    this.dir = opts.dir;
    this.max = Math.max(1, opts.max ?? DEFAULT_MAX_SEEN_CLIENT_CERTIFICATES);
    this.log = opts.log.child({ component: "seen-client-certificates" });
    this.now = opts.now ?? (() => new Date());
    this.flushDelayMs = opts.flushDelayMs ?? 1000;
  }

  private get certsDir(): string {
    return path.join(this.dir, "certs");
  }

  private get indexFile(): string {
    return path.join(this.dir, "index.json");
  }

  /** Loads the index (entries whose file is gone are dropped, files nobody lists are removed). */
  async load(): Promise<void> {
    await fs.promises.mkdir(this.certsDir, { recursive: true, mode: 0o755 });
    let listed: SeenClientCertificate[] = [];
    try {
      const raw = JSON.parse(await fs.promises.readFile(this.indexFile, "utf8")) as { certificates?: unknown };
      if (Array.isArray(raw.certificates)) listed = raw.certificates.filter(isEntry);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.log.warn({ err, file: this.indexFile }, "the list of seen client certificates is unreadable; starting a new one");
    }
    const files = new Set(await fs.promises.readdir(this.certsDir));
    listed.sort((a, b) => a.lastSeen.localeCompare(b.lastSeen));
    for (const e of listed) {
      if (files.has(`${e.thumbprint}.pem`)) this.entries.set(e.thumbprint, e);
    }
    while (this.entries.size > this.max) this.evictOldest();
    for (const f of files) {
      const thumbprint = f.replace(/\.pem$/, "");
      if (!this.entries.has(thumbprint)) await fs.promises.rm(path.join(this.certsDir, f), { force: true });
    }
    if (listed.length !== this.entries.size) this.markDirty();
  }

  /**
   * Records that `chain` (leaf first, DER; only the leaf is kept) opened or tried to open a channel and what it got.
   * Memory is updated at once; files are written in the background (errors are logged).
   */
  record(chain: Buffer[], verdict: SeenVerdict, status: string): SeenClientCertificate | undefined {
    if (this.closed || chain.length === 0) return undefined;
    const leaf = chain[0];
    const thumbprint = thumbprintOf(leaf);
    const at = this.now().toISOString();
    let entry = this.entries.get(thumbprint);
    if (entry) {
      this.entries.delete(thumbprint); // re-inserted below: now the most recent
      entry.lastSeen = at;
      entry.connections++;
      entry.verdict = verdict;
      entry.status = status;
    } else {
      entry = { thumbprint, ...describe(leaf), firstSeen: at, lastSeen: at, connections: 1, verdict, status };
      while (this.entries.size >= this.max) this.evictOldest();
      const pem = toPem(leaf);
      const file = path.join(this.certsDir, `${thumbprint}.pem`);
      this.enqueue(() => writeAtomically(file, pem));
      this.log.info({ thumbprint, subject: entry.subject, applicationUri: entry.applicationUri, verdict, status }, "client certificate seen for the first time");
    }
    this.entries.set(thumbprint, entry);
    this.markDirty();
    return { ...entry };
  }

  /** Every certificate kept, the most recently seen first. */
  list(): SeenClientCertificate[] {
    return [...this.entries.values()].reverse().map((e) => ({ ...e }));
  }

  get size(): number {
    return this.entries.size;
  }

  get(thumbprint: string): SeenClientCertificate | undefined {
    const e = this.entries.get(thumbprint.toLowerCase());
    return e ? { ...e } : undefined;
  }

  /** The certificate (DER) recorded under this thumbprint, or undefined. */
  async certificateOf(thumbprint: string): Promise<Buffer | undefined> {
    const t = thumbprint.toLowerCase();
    if (!THUMBPRINT.test(t) || !this.entries.has(t)) return undefined;
    await this.io;
    try {
      return pemToDers(await fs.promises.readFile(path.join(this.certsDir, `${t}.pem`), "utf8"))[0];
    } catch {
      return undefined;
    }
  }

  /** Forgets a certificate; true if it was kept. */
  remove(thumbprint: string): boolean {
    const t = thumbprint.toLowerCase();
    if (!this.entries.delete(t)) return false;
    this.enqueue(() => fs.promises.rm(path.join(this.certsDir, `${t}.pem`), { force: true }));
    this.markDirty();
    return true;
  }

  /** Writes what is pending now. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.dirty) {
      this.dirty = false;
      const body = JSON.stringify({ version: 1, max: this.max, certificates: [...this.entries.values()] }, null, 1);
      this.enqueue(() => writeAtomically(this.indexFile, body));
    }
    await this.io;
  }

  /** Flushes and stops recording. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (oldest.done) return;
    const t = oldest.value;
    this.entries.delete(t);
    this.enqueue(() => fs.promises.rm(path.join(this.certsDir, `${t}.pem`), { force: true }));
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flush().catch((err) => this.log.error({ err }, "writing the list of seen client certificates failed"));
    }, this.flushDelayMs);
    this.flushTimer.unref();
  }

  private enqueue(op: () => Promise<unknown>): void {
    this.io = this.io.then(op).then(
      () => undefined,
      (err) => this.log.error({ err, dir: this.dir }, "updating the seen client certificates on disk failed"),
    );
  }
}

export function thumbprintOf(der: Buffer): string {
  return crypto.createHash("sha1").update(der).digest("hex");
}

function describe(der: Buffer): Pick<SeenClientCertificate, "subject" | "applicationUri" | "notBefore" | "notAfter"> {
  try {
    const x = new crypto.X509Certificate(der);
    const uri = /(?:^|,\s*)URI:([^,]*)/.exec(x.subjectAltName ?? "")?.[1] ?? "";
    return {
      subject: x.subject.replace(/\n/g, ", ").slice(0, MAX_TEXT),
      applicationUri: uri.slice(0, MAX_TEXT),
      notBefore: new Date(x.validFrom).toISOString(),
      notAfter: new Date(x.validTo).toISOString(),
    };
  } catch {
    return { subject: "", applicationUri: "", notBefore: "", notAfter: "" };
  }
}

function isEntry(x: unknown): x is SeenClientCertificate {
  const e = x as Partial<SeenClientCertificate> | null;
  return !!e && typeof e.thumbprint === "string" && THUMBPRINT.test(e.thumbprint) && typeof e.lastSeen === "string" && typeof e.firstSeen === "string";
}

function toPem(der: Buffer): string {
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

function pemToDers(pem: string): Buffer[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

async function writeAtomically(file: string, data: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.promises.writeFile(tmp, data, { mode: 0o644 });
  await fs.promises.rename(tmp, file);
}
