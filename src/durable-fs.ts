import fs from "node:fs";
import { mkdir, open, type FileHandle } from "node:fs/promises";
import path from "node:path";

/**
 * Low-level durable file operations (design.md: temp file, fsync, rename, fsync dir), shared by
 * the store, the CA files, the audit log and the data-dir setup. Kept outside src/store and src/ca
 * so that neither has to depend on the other for them.
 */

/** fsync a directory so that a rename or a newly created entry in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes all of `data`, looping because a single write(2) may be short. */
export async function writeFully(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}

/** Creates `file` (which must not exist) with `mode`, writes `data` and fsyncs it; the directory is not synced. */
export async function writeNewFileSynced(file: string, data: Buffer | string, mode: number): Promise<void> {
  const fh = await open(file, "wx", mode);
  try {
    await writeFully(fh, Buffer.isBuffer(data) ? data : Buffer.from(data, "utf8"));
    await fh.chmod(mode); // the umask may have cleared bits; never adds any beyond `mode`
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** mkdir with `mode` (one level; the parent must exist); true when it was created, false when it existed. */
export async function mkdirIfMissing(dir: string, mode: number): Promise<boolean> {
  try {
    await mkdir(dir, { mode });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

/**
 * mkdir -p one level at a time, each new directory with `mode`: Node's recursive mkdir spins
 * forever on some paths (below /proc, for instance) instead of failing.
 */
export function makeDirs(dir: string, mode: number): void {
  const missing: string[] = [];
  let current = dir;
  while (!fs.existsSync(current)) {
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const d of missing) fs.mkdirSync(d, { mode });
}

/** How `appendDurably` ended: appended and synced, or failed (the file cut back to `durableSize` if `rolledBack`). */
export type DurableAppendResult = { ok: true } | { ok: false; error: Error; rolledBack: boolean };

/**
 * Appends `data` to an append-only file (opened "a") and fdatasyncs it. On failure it cuts off
 * whatever part of `data` reached the file, truncating back to `durableSize` (the acknowledged
 * bytes) and syncing, so that later appends stay parseable; `rolledBack: false` means even that
 * failed and the file must not be appended to again. Never throws.
 */
export async function appendDurably(fh: FileHandle, data: Buffer, durableSize: number): Promise<DurableAppendResult> {
  try {
    await writeFully(fh, data);
    await fh.datasync();
    return { ok: true };
  } catch (err) {
    const error = err as Error;
    try {
      await fh.truncate(durableSize);
      await fh.sync();
      return { ok: false, error, rolledBack: true };
    } catch {
      return { ok: false, error, rolledBack: false };
    }
  }
}
