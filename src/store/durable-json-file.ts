import { randomBytes } from "node:crypto";
import { open, readFile, readdir, rename, unlink } from "node:fs/promises";
import path from "node:path";
import type { Adapter } from "lowdb";
import { fsyncDir, writeFully } from "../durable-fs.js";
import { StoreCorruptError } from "./store.js";

/** The snapshot file's content. Collections map key -> record. */
export interface SnapshotData {
  format: 1;
  /** Highest journal sequence number whose effects this snapshot contains. */
  seq: number;
  createdAt: string;
  collections: Record<string, Record<string, unknown>>;
}

export const FILE_MODE = 0o600;
const TMP_INFIX = ".tmp-";

/**
 * A lowdb Adapter for the snapshot file. lowdb's own JSONFile neither fsyncs nor tells a missing
 * file from a damaged one; a damaged database silently replaced by an empty one would lose every
 * registration and issued-certificate record, so damage is always an error here.
 */
export class DurableJsonFile implements Adapter<SnapshotData> {
  readonly dir: string;

  constructor(readonly file: string) {
    this.dir = path.dirname(file);
  }

  async read(): Promise<SnapshotData | null> {
    let buf: Buffer;
    try {
      buf = await readFile(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    if (buf.length === 0) throw new StoreCorruptError(this.file, "snapshot file is empty");
    let parsed: unknown;
    try {
      parsed = JSON.parse(buf.toString("utf8"));
    } catch (err) {
      throw new StoreCorruptError(
        this.file,
        `snapshot is not valid JSON (truncated or damaged, ${buf.length} bytes): ${(err as Error).message}`,
      );
    }
    const problem = snapshotShapeProblem(parsed);
    if (problem) throw new StoreCorruptError(this.file, `snapshot has the wrong shape: ${problem}`);
    return parsed as SnapshotData;
  }

  /** Temp file + fsync + rename + directory fsync: the target is always either the old or the new snapshot. */
  async write(data: SnapshotData): Promise<void> {
    // Serialise before the first await so the snapshot is one consistent state.
    const bytes = Buffer.from(JSON.stringify(data), "utf8");
    const tmp = `${this.file}${TMP_INFIX}${process.pid}-${randomBytes(4).toString("hex")}`;
    const fh = await open(tmp, "wx", FILE_MODE);
    let renamed = false;
    try {
      try {
        await writeFully(fh, bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
      renamed = true;
      await fsyncDir(this.dir);
    } finally {
      if (!renamed) await unlink(tmp).catch(() => undefined);
    }
  }

  /** Removes temp files left by a process killed in the middle of `write`. */
  async removeStaleTempFiles(): Promise<void> {
    const prefix = path.basename(this.file) + TMP_INFIX;
    for (const name of await readdir(this.dir)) {
      if (name.startsWith(prefix)) await unlink(path.join(this.dir, name)).catch(() => undefined);
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function snapshotShapeProblem(v: unknown): string | undefined {
  if (!isPlainObject(v)) return "top level is not an object";
  if (v.format !== 1) return `unsupported format ${JSON.stringify(v.format)} (expected 1)`;
  if (typeof v.seq !== "number" || !Number.isSafeInteger(v.seq) || v.seq < 0) return "seq is not a non-negative integer";
  if (typeof v.createdAt !== "string" || Number.isNaN(Date.parse(v.createdAt))) return "createdAt is not a date";
  if (!isPlainObject(v.collections)) return "collections is not an object";
  for (const [name, coll] of Object.entries(v.collections)) {
    if (!isPlainObject(coll)) return `collection ${JSON.stringify(name)} is not an object`;
  }
  return undefined;
}
