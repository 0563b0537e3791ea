import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";

/**
 * Durable file writes for the CA files (design.md: temp file, fsync, rename, fsync dir), kept
 * here rather than borrowed from src/store so that src/ca does not depend on the store.
 */

/** fsync a directory so that a rename or a new entry in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeFully(fh: FileHandle, data: Buffer): Promise<void> {
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

/** Replaces `file` atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeFileAtomic(file: string, data: Buffer | string, mode: number): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  let renamed = false;
  try {
    await writeNewFileSynced(tmp, data, mode);
    await rename(tmp, file);
    renamed = true;
    await fsyncDir(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
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
