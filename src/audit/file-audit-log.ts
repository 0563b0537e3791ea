import { mkdir, open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Clock } from "../clock.js";
import { appendDurably, fsyncDir } from "../durable-fs.js";
import { createLogger, type Logger } from "../log.js";
import type { AuditEntry, AuditLog } from "./audit-log.types.js";

export const AUDIT_LOG_FILE_NAME = "audit.log";
/** Owner only: the log names users and applications. */
const FILE_MODE = 0o600;

export interface FileAuditLogOptions {
  /** The GDS data dir; created with mode 0700 if missing. The log is `<dataDir>/audit.log`. */
  dataDir: string;
  clock: Clock;
  /** Where damaged lines, redactions and failing listeners are reported. Default: pino at "warn" on stdout. */
  log?: Logger;
}

export interface AuditReadResult {
  /** Well-formed entries, oldest first (file order). */
  entries: AuditEntry[];
  /** Lines that were not a well-formed entry (not JSON, or missing time/event/actor/outcome). */
  damagedLines: number;
  /** 1-based line numbers of the first few damaged lines, for the operator. */
  damagedLineNumbers: number[];
}

/** The fields an entry may carry, in the order they are written. Anything else is dropped. */
const ENTRY_FIELDS = [
  "time",
  "event",
  "actor",
  "outcome",
  "applicationId",
  "applicationUri",
  "requestId",
  "group",
  "certificateType",
  "serialHex",
  "thumbprint",
  "userName",
  "clientAddress",
  "detail",
] as const satisfies readonly (keyof AuditEntry)[];

const REQUIRED_FIELDS = ["event", "actor", "outcome"] as const;

/**
 * Secrets the log must never hold, matched defensively on every field: PEM private keys (PKCS#1,
 * PKCS#8, encrypted, EC) and PEM CSRs. A field that matches is replaced by REDACTED as a whole.
 */
const SECRET_PATTERNS: readonly RegExp[] = [/PRIVATE KEY-----/i, /CERTIFICATE REQUEST-----/i];
export const REDACTED = "[redacted]";

const MAX_REPORTED_DAMAGED_LINES = 10;

interface PendingRecord {
  line: string;
  entry: AuditEntry;
  resolve: () => void;
  reject: (err: Error) => void;
}

type State = "open" | "closing" | "closed";

/** Guards against two instances in one process appending to the same file. */
const openFiles = new Set<string>();

/**
 * The audit trail as JSON Lines in `<dataDir>/audit.log` (mode 0600: it names users and
 * applications). Append-only: `record()` resolves once its line is written and fdatasync'd.
 *
 * Records that arrive while a write is in flight share the next write and fdatasync (group
 * commit, as the store's journal does), so a burst of concurrent calls costs a few syncs, not one
 * each. Lines appear in the file in the order `record()` was called.
 *
 * A line torn by a crash mid-append was never acknowledged; `open()` cuts it off so that later
 * appends start on a fresh line. `read()` skips (and counts) lines it cannot parse instead of
 * failing: an audit trail with one damaged line is still worth reading.
 *
 * The file grows by ~200 bytes per entry (a busy site with 10,000 devices renewing yearly writes a
 * few MB a year). To rotate it, move the file aside and call `reopen()` (`gds start` does on
 * SIGHUP): the log then appends to a fresh `<dataDir>/audit.log`; `read()` reads only that file.
 */
export class FileAuditLog implements AuditLog {
  private state: State = "open";
  /** Set once a failed append could not be cut back: appending after garbage would corrupt the log. */
  private failure: Error | undefined;
  private queue: PendingRecord[] = [];
  private flushing: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** While set, no new batch is started: a reopen is waiting for the write in flight, or switching files. */
  private reopening: Promise<void> | null = null;
  /** Bumped each time `reopen()` switches files: a read that raced a switch starts over. */
  private generation = 0;
  private readonly listeners = new Set<(entry: AuditEntry) => void>();

  private constructor(
    readonly file: string,
    private fh: FileHandle | undefined,
    /** Bytes of acknowledged (durable) lines; a failed append is cut back to this, and `read` stops here. */
    private durableSize: number,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  static async open(options: FileAuditLogOptions): Promise<FileAuditLog> {
    const dir = path.resolve(options.dataDir);
    const file = path.join(dir, AUDIT_LOG_FILE_NAME);
    const log = options.log ?? createLogger("warn", { pretty: false });
    if (openFiles.has(file)) throw new Error(`audit log ${file} is already open in this process`);
    openFiles.add(file);
    let fh: FileHandle | undefined;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // "a" never reads; "r+" would fail on a missing file. Open for append after creating.
      fh = await open(file, "a", FILE_MODE);
      // The mode given to open() only applies on creation (and is masked by the umask).
      await fh.chmod(FILE_MODE);
      const size = await repairTornTail(file, fh, log);
      await fh.sync();
      // The file may have just been created: its directory entry must survive a power cut too.
      await fsyncDir(dir);
      return new FileAuditLog(file, fh, size, options.clock, log);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      openFiles.delete(file);
      throw err;
    }
  }

  record(entry: AuditEntry): Promise<void> {
    if (this.state !== "open") return Promise.reject(new Error("audit log is closed"));
    if (this.failure) return Promise.reject(this.failure);
    let prepared: { line: string; entry: AuditEntry };
    try {
      prepared = this.prepare(entry);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...prepared, resolve, reject });
      // During a reopen the record waits in the queue and goes to the new file.
      if (!this.reopening) this.flushing ??= this.flushLoop();
    });
  }

  async read(options: { since?: Date } = {}): Promise<AuditEntry[]> {
    const result = await this.readWithDamage(options);
    return result.entries;
  }

  /** Like `read`, but also says how many lines were damaged (also logged as a warning). */
  async readWithDamage(options: { since?: Date } = {}): Promise<AuditReadResult> {
    if (this.state === "closed") throw new Error("audit log is closed");
    let result: AuditReadResult | undefined;
    while (!result) {
      // Only the file being appended to (after a reopen: the new one), up to its acknowledged bytes.
      while (this.reopening) await this.reopening.catch(() => undefined);
      const generation = this.generation;
      const endOffset = this.durableSize;
      const rh = await openForReading(this.file);
      if (!rh) return { entries: [], damagedLines: 0, damagedLineNumbers: [] };
      try {
        // A switch between reading durableSize and opening: the size belongs to the other file.
        if (generation !== this.generation) continue;
        result = await readAuditLogHandle(rh, { since: options.since, endOffset });
      } finally {
        await rh.close().catch(() => undefined);
      }
    }
    if (result.damagedLines > 0) {
      this.log.warn(
        { file: this.file, damagedLines: result.damagedLines, lineNumbers: result.damagedLineNumbers },
        "audit log: skipped damaged lines",
      );
    }
    return result;
  }

  onEntry(listener: (entry: AuditEntry) => void): () => void {
    // Wrapped so that subscribing the same function twice yields two independent subscriptions.
    const wrapped = (entry: AuditEntry) => listener(entry);
    this.listeners.add(wrapped);
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  /**
   * For log rotation: once the write in flight is durable, closes the file and opens
   * `<dataDir>/audit.log` afresh (created 0600 if it was moved away, its directory fsync'd), so
   * that the moved file holds every record acknowledged before and the new one every record after.
   * Records that arrive meanwhile wait and go to the new file, in order; none is lost or written
   * twice. If the new file cannot be opened the log keeps appending to the old one and this
   * rejects. A log that was unusable after a failed write is usable again on the new file.
   * Calls during a reopen each get their own reopen, one after the other.
   */
  reopen(): Promise<void> {
    if (this.state !== "open") return Promise.reject(new Error("audit log is closed"));
    const previous = this.reopening ?? Promise.resolve();
    const current: Promise<void> = previous
      .catch(() => undefined)
      .then(() => this.doReopen())
      .finally(() => {
        if (this.reopening !== current) return; // another reopen was queued behind this one
        this.reopening = null;
        if (this.queue.length > 0) this.flushing ??= this.flushLoop();
      });
    this.reopening = current;
    return current;
  }

  private async doReopen(): Promise<void> {
    // The flush loop starts no new batch while `reopening` is set: this waits for the one in flight.
    while (this.flushing) await this.flushing;
    if (this.state === "closed") throw new Error("audit log is closed");
    const dir = path.dirname(this.file);
    let fh: FileHandle | undefined;
    try {
      let created = true;
      try {
        fh = await open(this.file, "ax", FILE_MODE);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        created = false;
        fh = await open(this.file, "a", FILE_MODE);
      }
      await fh.chmod(FILE_MODE);
      const size = await repairTornTail(this.file, fh, this.log);
      await fh.sync();
      if (created) await fsyncDir(dir);
      const old = this.fh;
      this.fh = fh;
      this.durableSize = size;
      this.failure = undefined;
      this.generation += 1;
      // Every batch on the old file was fdatasync'd before it was acknowledged.
      await old?.close().catch(() => undefined);
    } catch (err) {
      if (fh && fh !== this.fh) await fh.close().catch(() => undefined);
      this.log.error({ err, file: this.file }, "audit log reopen failed; still appending to the file that was open");
      throw err;
    }
  }

  /** Waits for queued records to be durable, then closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.state = "closing";
    try {
      while (this.flushing || this.reopening) {
        if (this.reopening) await this.reopening.catch(() => undefined);
        if (this.flushing) await this.flushing;
      }
    } finally {
      await this.fh?.close().catch(() => undefined);
      this.fh = undefined;
      openFiles.delete(this.file);
      this.state = "closed";
    }
  }

  /** Validates, stamps the time, keeps only known fields, redacts secrets, serialises. Synchronous. */
  private prepare(input: AuditEntry): { line: string; entry: AuditEntry } {
    if (typeof input !== "object" || input === null) throw new TypeError("audit entry must be an object");
    for (const f of REQUIRED_FIELDS) {
      const v = input[f];
      if (typeof v !== "string" || v === "") throw new TypeError(`audit entry: ${f} must be a non-empty string`);
    }
    const out: Record<string, string> = { time: this.clock.now().toISOString() };
    for (const f of ENTRY_FIELDS) {
      if (f === "time") continue;
      const v = input[f];
      if (v === undefined || v === null) continue;
      if (typeof v !== "string") throw new TypeError(`audit entry: ${f} must be a string, got ${typeof v}`);
      if (SECRET_PATTERNS.some((p) => p.test(v))) {
        // The value is not logged, only where it was: the point is that it goes nowhere.
        this.log.warn({ event: input.event, field: f }, "audit entry field looked like a secret (PEM key or CSR); redacted");
        out[f] = REDACTED;
      } else {
        out[f] = v;
      }
    }
    const line = JSON.stringify(out) + "\n";
    return { line, entry: Object.freeze(out) as unknown as AuditEntry };
  }

  private async flushLoop(): Promise<void> {
    // One microtask of delay lets records issued in the same tick share the first fdatasync.
    await Promise.resolve();
    try {
      // A reopen waits for the batch in flight; the records queued behind it go to the new file.
      while (this.queue.length > 0 && !this.reopening) {
        const batch = this.queue.splice(0);
        if (this.failure) {
          for (const p of batch) p.reject(this.failure);
          continue;
        }
        if (await this.writeBatch(batch)) {
          for (const p of batch) p.resolve();
          this.notify(batch);
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  /** Appends and syncs one batch; on failure rejects it, cuts the file back and returns false. */
  private async writeBatch(batch: PendingRecord[]): Promise<boolean> {
    const fh = this.fh!;
    const buf = Buffer.from(batch.map((p) => p.line).join(""), "utf8");
    const appended = await appendDurably(fh, buf, this.durableSize);
    if (!appended.ok) {
      const { error } = appended;
      if (!appended.rolledBack) {
        this.failure = new Error(`audit log ${this.file} is unusable after a failed write: ${error.message}`, { cause: error });
      }
      this.log.error({ err: error, file: this.file, entries: batch.length }, "audit log append failed");
      for (const p of batch) p.reject(error);
      return false;
    }
    this.durableSize += buf.length;
    return true;
  }

  /** Listeners run after the entries are durable; one that throws is logged and does not affect others. */
  private notify(batch: PendingRecord[]): void {
    if (this.listeners.size === 0) return;
    const listeners = [...this.listeners];
    for (const { entry } of batch) {
      for (const listener of listeners) {
        try {
          const ret = listener(entry) as unknown;
          if (ret instanceof Promise) {
            ret.catch((err: unknown) => this.log.error({ err, event: entry.event }, "audit log listener failed"));
          }
        } catch (err) {
          this.log.error({ err, event: entry.event }, "audit log listener failed");
        }
      }
    }
  }
}

/**
 * Cuts off a last line without its "\n" (an append torn by a crash, never acknowledged) so the
 * next append starts on a fresh line. Returns the file size afterwards.
 */
async function repairTornTail(file: string, fh: FileHandle, log: Logger): Promise<number> {
  const { size } = await fh.stat();
  if (size === 0) return 0;
  const rh = await open(file, "r");
  try {
    const last = Buffer.alloc(1);
    await rh.read(last, 0, 1, size - 1);
    if (last[0] === 0x0a) return size;
    // Scan backwards for the previous newline.
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    let keep = 0;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await rh.read(chunk, 0, end - start, start);
      const nl = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (nl !== -1) {
        keep = start + nl + 1;
        break;
      }
      end = start;
    }
    await fh.truncate(keep);
    log.warn({ file, droppedBytes: size - keep }, "audit log: cut off a torn last line (an append interrupted by a crash)");
    return keep;
  } finally {
    await rh.close();
  }
}

/**
 * Reads an audit log file without changing it (also usable offline, e.g. by a future `gds audit`):
 * well-formed entries oldest first, optionally only those at or after `since`; damaged lines are
 * counted, not thrown. `endOffset` limits reading to the acknowledged part of a file being
 * appended to; without it a torn final line (no "\n") is read like any other and, being cut
 * short, normally counts as damaged.
 */
export async function readAuditLogFile(
  file: string,
  options: { since?: Date; endOffset?: number } = {},
): Promise<AuditReadResult> {
  const sinceMs = options.since?.getTime();
  if (sinceMs !== undefined && Number.isNaN(sinceMs)) throw new RangeError("since is not a valid date");
  // Opened before its size is taken: a rename (log rotation) mid-read does not matter, the
  // handle keeps reading the file it opened, whole and consistent.
  const rh = await openForReading(file);
  if (!rh) return { entries: [], damagedLines: 0, damagedLineNumbers: [] };
  try {
    return await readAuditLogHandle(rh, options);
  } finally {
    await rh.close().catch(() => undefined);
  }
}

async function openForReading(file: string): Promise<FileHandle | undefined> {
  try {
    return await open(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function readAuditLogHandle(rh: FileHandle, options: { since?: Date; endOffset?: number }): Promise<AuditReadResult> {
  const result: AuditReadResult = { entries: [], damagedLines: 0, damagedLineNumbers: [] };
  const sinceMs = options.since?.getTime();
  if (sinceMs !== undefined && Number.isNaN(sinceMs)) throw new RangeError("since is not a valid date");
  const { size } = await rh.stat();
  const end = Math.min(options.endOffset ?? size, size);
  if (end === 0) return result;
  const stream = rh.createReadStream({ start: 0, end: end - 1, autoClose: false });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  const damaged = () => {
    result.damagedLines += 1;
    if (result.damagedLineNumbers.length < MAX_REPORTED_DAMAGED_LINES) result.damagedLineNumbers.push(lineNo);
  };
  try {
    for await (const line of lines) {
      lineNo += 1;
      if (line.trim() === "") continue;
      const entry = parseEntry(line);
      if (!entry) {
        damaged();
        continue;
      }
      if (sinceMs !== undefined && Date.parse(entry.time!) < sinceMs) continue;
      result.entries.push(entry);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  return result;
}

function parseEntry(line: string): AuditEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.time !== "string" || Number.isNaN(Date.parse(o.time))) return undefined;
  for (const f of REQUIRED_FIELDS) {
    if (typeof o[f] !== "string") return undefined;
  }
  const entry: Record<string, string> = {};
  for (const f of ENTRY_FIELDS) {
    if (typeof o[f] === "string") entry[f] = o[f];
  }
  return entry as unknown as AuditEntry;
}
