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
/** A data dir is megabytes; this only stops a hostile archive from exhausting memory. */
const MAX_UNCOMPRESSED = 2 * 1024 ** 3;

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

/** The archive's bytes: gzip'd tar, manifest.json first. */
export function buildArchive(contents: DataDirContents): Buffer {
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
  return zlib.gzipSync(writeTar(entries), { level: 9 });
}

/** What a verified archive restores. */
export interface VerifiedBackup {
  manifest: BackupManifest;
  /** Parents before children. */
  directories: { path: string; mode: number }[];
  files: { path: string; mode: number; data: Buffer }[];
  totalBytes: number;
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
 * problem): not gzip/tar, truncation, a bad tar header checksum, a missing or malformed manifest,
 * an unsupported format version, any path that is absolute or climbs out ("..") or is not under
 * data/, links and special files, an entry the manifest does not list or one it lists that is
 * missing, duplicates, and any file whose size or sha256 differs from the manifest.
 */
export function verifyArchive(bytes: Buffer): VerifiedBackup {
  let tarBytes = bytes;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      tarBytes = zlib.gunzipSync(bytes, { maxOutputLength: MAX_UNCOMPRESSED });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ERR_BUFFER_TOO_LARGE") throw new ArchiveError("the archive unpacks to more than 2 GiB: not a GDS backup");
      throw new ArchiveError(`the archive is damaged or truncated (gzip: ${(err as Error).message})`);
    }
  }
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
    const mode = parseMode(listed.mode, rel);
    if ((e.mode & 0o777) !== mode) throw new ArchiveError(`${rel}: mode in the archive differs from the manifest`);
    files.push({ path: rel, mode, data: e.data });
    totalBytes += e.data.length;
  }
  for (const p of [...listedDirs.keys(), ...listedFiles.keys()]) {
    if (!seen.has(p)) throw new ArchiveError(`${p} is listed in the manifest but missing from the archive`);
  }
  const directories = manifest.directories
    .map((d) => ({ path: d.path, mode: parseMode(d.mode, d.path) }))
    .sort((a, b) => a.path.split("/").length - b.path.split("/").length);
  return { manifest, directories, files, totalBytes };
}

/**
 * Writes a verified backup into `dir` (which must exist and be empty): directories and files with
 * their modes (chmod after creation, so the umask does not widen or narrow them), every file
 * fsync'd, then every directory fsync'd, deepest first.
 */
export async function writeBackupInto(dir: string, backup: VerifiedBackup): Promise<void> {
  for (const d of backup.directories) {
    const abs = path.join(dir, ...d.path.split("/"));
    // Owner access while writing; the recorded mode is applied once the directory is filled.
    await mkdir(abs, { mode: 0o700 });
  }
  for (const f of backup.files) {
    await writeNewFileSynced(path.join(dir, ...f.path.split("/")), f.data, f.mode);
  }
  const deepestFirst = [...backup.directories].reverse();
  for (const d of deepestFirst) {
    const abs = path.join(dir, ...d.path.split("/"));
    await chmod(abs, d.mode | 0o700);
    await fsyncDir(abs);
    if ((d.mode & 0o700) !== 0o700) await chmod(abs, d.mode);
  }
  await fsyncDir(dir);
}
