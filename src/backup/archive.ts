import crypto from "node:crypto";
import fs from "node:fs";
import { chmod, lstat, mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { LOCK_FILE } from "../data-dir-lock.js";
import { fsyncDir, writeNewFileSynced } from "../durable-fs.js";
import { readTar, TarFormatError, writeTar, type TarEntry } from "./tar.js";

/**
 * The backup archive: a gzip'd POSIX tar holding
 *
 *   manifest.json          first entry: format, versions, creation time, every directory and file
 *                          with its mode, and every file's size and sha256
 *   data/<path>            the data dir's directories and files, with their modes
 *
 * so that `tar -xOzf backup.tar.gz manifest.json` shows what is inside and `sha256sum` can check
 * any file. Restore reads the whole archive into memory and checks all of it (see verifyArchive)
 * before it writes anything.
 */
export const MANIFEST_NAME = "manifest.json";
export const DATA_PREFIX = "data/";
export const BACKUP_FORMAT = "opcua-gds-backup";
export const BACKUP_FORMAT_VERSION = 1;

/**
 * Size bounds, checked by backup (so that it never writes what restore would refuse) and by restore
 * while it decompresses (so that a zip bomb is refused, not expanded). A data dir is megabytes;
 * audit.log is its one file that grows without bound (rotate it: see the README).
 */
export interface ArchiveLimits {
  /** The whole uncompressed tar. */
  maxTotalBytes: number;
  /** Any one entry's data. */
  maxEntryBytes: number;
}
export const DEFAULT_LIMITS: Readonly<ArchiveLimits> = { maxTotalBytes: 1024 ** 3, maxEntryBytes: 512 * 1024 ** 2 };

/** Restore sets these itself, never the archive's: the data dir is the owner's alone. */
export const RESTORED_FILE_MODE = 0o600;
export const RESTORED_DIR_MODE = 0o700;

const mib = (n: number) => `${Math.round((n / 1024 ** 2) * 10) / 10} MiB`;

export interface ManifestDirectory {
  /** Relative to the data dir, "/"-separated. */
  path: string;
  /** Octal permission bits, e.g. "0700". */
  mode: string;
}

export interface ManifestFile extends ManifestDirectory {
  size: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  gdsVersion: string;
  createdAt: string;
  /** Where the backup was taken from (information only; restore goes where it is told). */
  dataDir: string;
  /** Transient files found in the data dir and left out (lock file, temp files of interrupted writes). */
  excluded: string[];
  directories: ManifestDirectory[];
  files: ManifestFile[];
}

export interface DataDirContents {
  manifest: BackupManifest;
  directories: { path: string; mode: number; mtime: Date }[];
  files: { path: string; mode: number; mtime: Date; data: Buffer }[];
}

/** The data dir cannot be backed up as it is (a symlink, a socket, an unreadable file...). */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackupError";
  }
}

/** The archive is damaged or not a GDS backup; the message says what is wrong. */
export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArchiveError";
  }
}

/**
 * Files and directories that are not part of the GDS's state:
 * - `gds.lock` (the running server's pid; a restored one would name a stranger's process),
 * - `*.lock` directories node-opcua-pki's file mutex (proper-lockfile) holds while it writes,
 * - temp files of an interrupted atomic write: the store's `<file>.tmp-<pid>-<rand>`, the secret
 *   key's `<file>.<pid>.tmp`, the CA's `.<group>.staging-*` directories (removed at start), and
 *   the `.restore.staging-*` directory of a restore that died half-way.
 */
export function isTransient(name: string): boolean {
  return name.endsWith(".lock") || name.includes(".tmp-") || name.endsWith(".tmp") || (name.startsWith(".") && name.includes(".staging-"));
}

const modeText = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, "0")}`;

/** The GDS's version from its package.json, found upward from this module (src/ or dist/src/). */
export function gdsVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "opcua-gds" && typeof pkg.version === "string") return pkg.version;
    } catch {
      /* not here */
    }
    dir = path.dirname(dir);
  }
  return "unknown";
}

/**
 * Reads everything in the data dir but transient files (isTransient), without following links.
 * Refuses symlinks and special files: copying what a link points to, or skipping it, would both
 * give a backup that is not what the server uses. The caller holds the data dir's lock.
 */
export async function readDataDir(dataDir: string, opts: { now: Date; gdsVersion: string }): Promise<DataDirContents> {
  const directories: DataDirContents["directories"] = [];
  const files: DataDirContents["files"] = [];
  const excluded: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? path.join(dataDir, rel) : dataDir;
    const names = (await readdir(abs)).sort();
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name;
      if (isTransient(name)) {
        if (relPath !== LOCK_FILE) excluded.push(relPath); // the top-level lock is ours while we read
        continue;
      }
      const st = await lstat(path.join(abs, name));
      if (st.isSymbolicLink()) throw new BackupError(`${relPath} in the data dir is a symbolic link: not backed up (replace it by the file or directory it points to)`);
      if (st.isDirectory()) {
        directories.push({ path: relPath, mode: st.mode & 0o777, mtime: st.mtime });
        await walk(relPath);
      } else if (st.isFile()) {
        let data: Buffer;
        try {
          data = await readFile(path.join(abs, name));
        } catch (err) {
          throw new BackupError(`cannot read ${relPath} in the data dir: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        files.push({ path: relPath, mode: st.mode & 0o777, mtime: st.mtime, data });
      } else {
        throw new BackupError(`${relPath} in the data dir is not a regular file or directory: not backed up`);
      }
    }
  };
  await walk("");
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    formatVersion: BACKUP_FORMAT_VERSION,
    gdsVersion: opts.gdsVersion,
    createdAt: opts.now.toISOString(),
    dataDir,
    excluded,
    directories: directories.map((d) => ({ path: d.path, mode: modeText(d.mode) })),
    files: files.map((f) => ({ path: f.path, mode: modeText(f.mode), size: f.data.length, sha256: sha256(f.data) })),
  };
  return { manifest, directories, files };
}

export function sha256(data: Buffer): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

/**
 * The archive's bytes: gzip'd tar, manifest.json first. Refuses (BackupError) a data dir that
 * restore would refuse for its size, so that no backup is found unusable only when it is needed.
 */
export function buildArchive(contents: DataDirContents, limits: ArchiveLimits = DEFAULT_LIMITS): Buffer {
  for (const f of contents.files) {
    if (f.data.length > limits.maxEntryBytes) {
      throw new BackupError(`${f.path} holds ${mib(f.data.length)}, more than the ${mib(limits.maxEntryBytes)} restore accepts for one file (rotate audit.log, see the README)`);
    }
  }
  const now = new Date(contents.manifest.createdAt);
  const entries: TarEntry[] = [
    { type: "file", path: MANIFEST_NAME, mode: 0o600, mtime: now, data: Buffer.from(`${JSON.stringify(contents.manifest, null, 2)}\n`, "utf8") },
    { type: "dir", path: "data", mode: 0o700, mtime: now },
  ];
  // Directories come before their contents (readDataDir walks depth-first, parents first).
  const byPath = new Map<string, TarEntry>();
  for (const d of contents.directories) byPath.set(d.path, { type: "dir", path: DATA_PREFIX + d.path, mode: d.mode, mtime: d.mtime });
  for (const f of contents.files) byPath.set(f.path, { type: "file", path: DATA_PREFIX + f.path, mode: f.mode, mtime: f.mtime, data: f.data });
  const ordered = [...byPath.keys()].sort((a, b) => (a.split("/").length - b.split("/").length) || (a < b ? -1 : a > b ? 1 : 0));
  for (const p of ordered) entries.push(byPath.get(p)!);
  const tar = writeTar(entries);
  if (tar.length > limits.maxTotalBytes) throw new BackupError(`the data dir makes a ${mib(tar.length)} archive, more than the ${mib(limits.maxTotalBytes)} restore accepts`);
  return zlib.gzipSync(tar, { level: 9 });
}

/** What a verified archive restores. */
export interface VerifiedBackup {
  manifest: BackupManifest;
  /** Parents before children. */
  directories: { path: string }[];
  files: { path: string; data: Buffer }[];
  totalBytes: number;
  /** Transient entries found in the archive and not restored (e.g. a gds.lock). */
  ignored: string[];
}

/** A relative, "/"-separated path that stays inside the directory it is resolved against. */
export function isSafeRelativePath(p: unknown): p is string {
  if (typeof p !== "string" || p === "" || p.length > 4096 || p.includes("\0") || p.startsWith("/")) return false;
  return p.split("/").every((s) => s !== "" && s !== "." && s !== "..");
}

function parseMode(text: unknown, what: string): number {
  if (typeof text !== "string" || !/^0[0-7]{3}$/.test(text)) throw new ArchiveError(`manifest: ${what} has an invalid mode ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function parseManifest(data: Buffer): BackupManifest {
  let m: Partial<BackupManifest> & Record<string, unknown>;
  try {
    m = JSON.parse(data.toString("utf8")) as typeof m;
  } catch (err) {
    throw new ArchiveError(`manifest.json is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) throw new ArchiveError("manifest.json is not a JSON object");
  if (m.format !== BACKUP_FORMAT) throw new ArchiveError(`manifest.json: format is ${JSON.stringify(m.format)}, expected ${JSON.stringify(BACKUP_FORMAT)}`);
  if (m.formatVersion !== BACKUP_FORMAT_VERSION) {
    throw new ArchiveError(
      typeof m.formatVersion === "number" && m.formatVersion > BACKUP_FORMAT_VERSION
        ? `the archive has format version ${m.formatVersion}, made by a newer GDS (${String(m.gdsVersion)}); this one reads version ${BACKUP_FORMAT_VERSION}`
        : `manifest.json: unsupported formatVersion ${JSON.stringify(m.formatVersion)}`,
    );
  }
  if (!Array.isArray(m.files) || !Array.isArray(m.directories)) throw new ArchiveError("manifest.json: files and directories must be arrays");
  for (const f of m.files as unknown[]) {
    const e = f as Partial<ManifestFile> | null;
    if (typeof e !== "object" || e === null) throw new ArchiveError("manifest.json: a files entry is not an object");
    if (!isSafeRelativePath(e.path)) throw new ArchiveError(`manifest.json: unsafe or invalid file path ${JSON.stringify(e.path)}`);
    if (!Number.isSafeInteger(e.size) || (e.size as number) < 0) throw new ArchiveError(`manifest.json: ${e.path} has an invalid size`);
    if (typeof e.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(e.sha256)) throw new ArchiveError(`manifest.json: ${e.path} has an invalid sha256`);
    parseMode(e.mode, e.path);
  }
  for (const d of m.directories as unknown[]) {
    const e = d as Partial<ManifestDirectory> | null;
    if (typeof e !== "object" || e === null) throw new ArchiveError("manifest.json: a directories entry is not an object");
    if (!isSafeRelativePath(e.path)) throw new ArchiveError(`manifest.json: unsafe or invalid directory path ${JSON.stringify(e.path)}`);
    parseMode(e.mode, e.path);
  }
  return m as BackupManifest;
}

/**
 * Checks the whole archive and returns what it restores. Refuses (ArchiveError, naming the
 * problem): not gzip/tar, more data than `limits` allow (checked while decompressing: see
 * gunzipBounded), truncation, a bad tar header checksum, a missing or malformed manifest, an
 * unsupported format version, any path that is absolute or climbs out ("..") or is not under
 * data/, links and special files, an entry the manifest does not list or one it lists that is
 * missing, duplicates, and any file whose size or sha256 differs from the manifest. Transient
 * entries (isTransient: a `gds.lock`, lock directories, temp files), wherever they are, are left
 * out of what is restored and named in `ignored`.
 */
export async function verifyArchive(bytes: Buffer, limits: ArchiveLimits = DEFAULT_LIMITS): Promise<VerifiedBackup> {
  let tarBytes: Buffer;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    tarBytes = await gunzipBounded(bytes, limits);
  } else {
    if (bytes.length > limits.maxTotalBytes) throw new ArchiveError(`the archive is larger than ${mib(limits.maxTotalBytes)}: refused`);
    checkTarSizes(bytes, limits);
    tarBytes = bytes;
  }
  return verifyTar(tarBytes);
}

/**
 * Gunzips with bounds, refusing as soon as a bound is crossed rather than after expanding: the
 * output is counted chunk by chunk as zlib produces it (more than maxTotalBytes: stop), and every
 * tar header is read as it streams past (an entry declaring more than maxEntryBytes: stop, before
 * its data is inflated). A few KiB of gzip declaring a 100 GiB file is refused after its first
 * 512 bytes.
 */
export function gunzipBounded(gz: Buffer, limits: ArchiveLimits = DEFAULT_LIMITS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gunzip = zlib.createGunzip();
    const watcher = new TarSizeWatcher(limits);
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      gunzip.destroy();
      chunks.length = 0;
      reject(err);
    };
    gunzip.on("data", (chunk: Buffer) => {
      if (settled) return;
      total += chunk.length;
      if (total > limits.maxTotalBytes) return fail(new ArchiveError(`the archive unpacks to more than ${mib(limits.maxTotalBytes)}: refused (not a GDS backup, or a zip bomb)`));
      try {
        watcher.feed(chunk);
      } catch (err) {
        return fail(err as Error);
      }
      chunks.push(chunk);
    });
    gunzip.on("error", (err) => fail(new ArchiveError(`the archive is damaged or truncated (gzip: ${err.message})`)));
    gunzip.on("end", () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks, total));
    });
    gunzip.end(gz);
  });
}

/** The same per-entry check on a tar already in memory. */
function checkTarSizes(tar: Buffer, limits: ArchiveLimits): void {
  new TarSizeWatcher(limits).feed(tar);
}

/**
 * Follows the tar stream's headers (512-byte header, data padded to 512) and refuses an entry whose
 * declared size is over the limit. Leaves every other check to readTar; stops at the end marker.
 */
export class TarSizeWatcher {
  /** Stream offset of the next chunk's first byte. */
  private consumed = 0;
  /** Stream offset of the next header. */
  private nextHeader = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ended = false;

  constructor(private readonly limits: ArchiveLimits) {}

  feed(chunk: Buffer): void {
    const base = this.consumed;
    this.consumed += chunk.length;
    let off = 0;
    while (!this.ended) {
      if (this.pendingBytes === 0) {
        // Skip to the next header; it may be in a later chunk.
        if (this.nextHeader - base >= chunk.length) return;
        off = this.nextHeader - base;
      }
      const take = chunk.subarray(off, off + 512 - this.pendingBytes);
      this.pending.push(take);
      this.pendingBytes += take.length;
      off += take.length;
      if (this.pendingBytes < 512) return;
      const h = Buffer.concat(this.pending, 512);
      this.pending = [];
      this.pendingBytes = 0;
      this.header(h);
    }
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    const sizeField = h.subarray(124, 136).toString("latin1").replace(/\0.*$/s, "").trim();
    if (!/^[0-7]+$/.test(sizeField)) throw new ArchiveError(`bad size field in the tar header at byte ${this.nextHeader}`);
    const size = Number.parseInt(sizeField, 8);
    if (size > this.limits.maxEntryBytes) {
      const name = h.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "");
      throw new ArchiveError(`the entry ${JSON.stringify(name)} declares ${mib(size)}, more than the ${mib(this.limits.maxEntryBytes)} a file of a GDS backup may have: refused (a zip bomb?)`);
    }
    this.nextHeader += 512 + size + ((512 - (size % 512)) % 512);
  }
}

/** verifyArchive's checks on the uncompressed tar. */
export function verifyTar(tarBytes: Buffer): VerifiedBackup {
  let entries: TarEntry[];
  try {
    entries = readTar(tarBytes);
  } catch (err) {
    if (err instanceof TarFormatError) throw new ArchiveError(err.message);
    throw err;
  }
  if (entries.length === 0) throw new ArchiveError("the archive is empty");
  const first = entries[0];
  if (first.path !== MANIFEST_NAME || first.type !== "file") throw new ArchiveError(`the archive does not start with ${MANIFEST_NAME}: not a GDS backup`);
  const manifest = parseManifest(first.data);

  const listedFiles = new Map(manifest.files.map((f) => [f.path, f]));
  const listedDirs = new Map(manifest.directories.map((d) => [d.path, d]));
  if (listedFiles.size !== manifest.files.length || listedDirs.size !== manifest.directories.length) throw new ArchiveError("manifest.json lists a path twice");
  for (const p of listedFiles.keys()) if (listedDirs.has(p)) throw new ArchiveError(`manifest.json lists ${p} as both a file and a directory`);
  for (const p of [...listedFiles.keys(), ...listedDirs.keys()]) {
    const parent = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "";
    if (parent && !listedDirs.has(parent)) throw new ArchiveError(`manifest.json lists ${p} but not its directory ${parent}`);
  }

  const seen = new Set<string>();
  const files: VerifiedBackup["files"] = [];
  const ignored: string[] = [];
  let totalBytes = 0;
  for (const e of entries.slice(1)) {
    if (e.type === "dir" && e.path === "data") continue;
    if (!e.path.startsWith(DATA_PREFIX)) throw new ArchiveError(`unexpected entry ${JSON.stringify(e.path)} in the archive (not under ${DATA_PREFIX})`);
    const rel = e.path.slice(DATA_PREFIX.length);
    if (!isSafeRelativePath(rel)) throw new ArchiveError(`unsafe path ${JSON.stringify(e.path)} in the archive`);
    if (seen.has(rel)) throw new ArchiveError(`${rel} appears twice in the archive`);
    seen.add(rel);
    if (e.type === "dir") {
      const listed = listedDirs.get(rel);
      if (!listed) throw new ArchiveError(`unexpected directory ${rel} in the archive (not in the manifest)`);
      if ((e.mode & 0o777) !== parseMode(listed.mode, rel)) throw new ArchiveError(`${rel}: mode in the archive differs from the manifest`);
      continue;
    }
    const listed = listedFiles.get(rel);
    if (!listed) throw new ArchiveError(`unexpected file ${rel} in the archive (not in the manifest)`);
    if (e.data.length !== listed.size) throw new ArchiveError(`${rel}: size ${e.data.length} differs from the manifest's ${listed.size} (the archive is damaged)`);
    if (sha256(e.data) !== listed.sha256) throw new ArchiveError(`${rel}: sha256 differs from the manifest (the archive is damaged)`);
    if ((e.mode & 0o777) !== parseMode(listed.mode, rel)) throw new ArchiveError(`${rel}: mode in the archive differs from the manifest`);
    if (isTransientPath(rel)) {
      ignored.push(rel);
      continue;
    }
    files.push({ path: rel, data: e.data });
    totalBytes += e.data.length;
  }
  for (const p of [...listedDirs.keys(), ...listedFiles.keys()]) {
    if (!seen.has(p)) throw new ArchiveError(`${p} is listed in the manifest but missing from the archive`);
  }
  const directories: VerifiedBackup["directories"] = [];
  for (const d of manifest.directories) {
    if (isTransientPath(d.path)) ignored.push(`${d.path}/`);
    else directories.push({ path: d.path });
  }
  directories.sort((a, b) => a.path.split("/").length - b.path.split("/").length);
  return { manifest, directories, files, totalBytes, ignored: ignored.sort() };
}

/** A path with a transient name anywhere in it (a file in a lock directory is transient too). */
function isTransientPath(rel: string): boolean {
  return rel.split("/").some(isTransient);
}

/**
 * Writes a verified backup into `dir` (which must exist and be empty). The modes are restore's
 * own, never the archive's: every directory 0700, every file 0600 (CA and server keys,
 * secrets.key, the database and its journal, audit.log, and the certificates too: the data dir
 * belongs to the service user alone). Every file is fsync'd, then every directory, deepest first.
 */
export async function writeBackupInto(dir: string, backup: VerifiedBackup): Promise<void> {
  for (const d of backup.directories) {
    await mkdir(path.join(dir, ...d.path.split("/")), { mode: RESTORED_DIR_MODE });
  }
  for (const f of backup.files) {
    await writeNewFileSynced(path.join(dir, ...f.path.split("/")), f.data, RESTORED_FILE_MODE);
  }
  const deepestFirst = [...backup.directories].reverse();
  for (const d of deepestFirst) {
    const abs = path.join(dir, ...d.path.split("/"));
    await chmod(abs, RESTORED_DIR_MODE); // mkdir's mode is narrowed by the umask; chmod is exact
    await fsyncDir(abs);
  }
  await fsyncDir(dir);
}

/** The database snapshot and journal of the store (src/store/lowdb-store.ts). */
const DATABASE_FILES = ["gds.db.json", "gds.db.json.journal"];
const CA_CERT_FILE = /^ca\/[^/]+\/ca\.cert\.der$/;

/**
 * Whether a list of data-dir paths (relative, "/"-separated) is a GDS data dir: it holds the
 * database (gds.db.json or its journal) or at least one CA (ca/<group>/ca.cert.der). A folder
 * with neither is not one (a typo in --data-dir, an empty mount): backing it up or restoring it
 * would give an archive that looks good and holds nothing the server can use.
 */
export function looksLikeDataDir(paths: readonly string[]): boolean {
  return paths.some((p) => DATABASE_FILES.includes(p) || CA_CERT_FILE.test(p));
}

/** What looksLikeDataDir looks for, for error messages. */
export const DATA_DIR_MARKERS = "the database (gds.db.json) nor a CA (ca/<group>/ca.cert.der)";
