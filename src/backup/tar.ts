/**
 * A small, strict tar (POSIX ustar) writer and reader for the backup archive.
 *
 * Why our own rather than the `tar` package: the archive holds a few hundred small files at most,
 * we need exactly two entry kinds (regular files and directories, plus pax `path` records for
 * names longer than ustar allows), and the reader must REFUSE everything else (symlinks, hard
 * links, devices, GNU long-name entries, bad header checksums, truncation) rather than extract it.
 * Reading into memory and checking everything before a single byte is written is ~150 lines here;
 * with a general-purpose extractor it would be a filter around code built to write to disk.
 *
 * The output is standard: `tar -tvzf backup.tar.gz` lists it and GNU/BSD tar extract it.
 */

const BLOCK = 512;

export type TarEntry =
  | { type: "file"; path: string; mode: number; mtime: Date; data: Buffer }
  | { type: "dir"; path: string; mode: number; mtime: Date };

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TarFormatError";
  }
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > length) throw new Error(`tar: ${JSON.stringify(value)} does not fit in ${length} bytes`);
  bytes.copy(buf, offset);
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  const text = Math.floor(value).toString(8).padStart(length - 1, "0");
  if (text.length > length - 1) throw new Error(`tar: ${value} does not fit in a ${length}-byte octal field`);
  writeString(buf, offset, length, `${text}\0`);
}

function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum;
}

/** Splits a path into ustar prefix (≤155 bytes) and name (≤100 bytes), or undefined if it cannot. */
function splitUstarName(p: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(p) <= 100) return { prefix: "", name: p };
  for (let i = p.lastIndexOf("/", p.length - 2); i > 0; i = p.lastIndexOf("/", i - 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== "") return { prefix, name };
    if (Buffer.byteLength(name) > 100) return undefined;
  }
  return undefined;
}

function header(p: string, type: "0" | "5" | "x", mode: number, size: number, mtime: Date): Buffer {
  const h = Buffer.alloc(BLOCK);
  // A path that does not fit is carried by the pax header before this one; this name is a stand-in.
  const split = splitUstarName(p) ?? { prefix: "", name: (p.split("/").filter(Boolean).pop() ?? "").replace(/[^\x21-\x7e]/g, "_").slice(0, 99) || "long-name" };
  writeString(h, 0, 100, split.name);
  writeOctal(h, 100, 8, mode & 0o7777);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, Math.max(0, Math.floor(mtime.getTime() / 1000)));
  h[156] = type.charCodeAt(0);
  writeString(h, 257, 6, "ustar\0");
  writeString(h, 263, 2, "00");
  writeString(h, 265, 32, "root");
  writeString(h, 297, 32, "root");
  writeString(h, 345, 155, split.prefix);
  writeString(h, 148, 8, `${checksum(h).toString(8).padStart(6, "0")}\0 `);
  return h;
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** One pax record: "<len> key=value\n", where len counts the whole record including itself. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`, "utf8");
}

/** The archive's bytes (uncompressed), ending with the two zero blocks. Directory paths end with "/". */
export function writeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const p = e.type === "dir" && !e.path.endsWith("/") ? `${e.path}/` : e.path;
    if (!splitUstarName(p)) {
      const pax = paxRecord("path", p);
      parts.push(header("PaxHeader", "x", 0o644, pax.length, e.mtime), pax, padding(pax.length));
    }
    if (e.type === "file") {
      parts.push(header(p, "0", e.mode, e.data.length, e.mtime), e.data, padding(e.data.length));
    } else {
      parts.push(header(p, "5", e.mode, 0, e.mtime));
    }
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function readString(buf: Buffer, offset: number, length: number): string {
  const field = buf.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString("utf8");
}

function readOctal(buf: Buffer, offset: number, length: number, what: string, at: number): number {
  const text = readString(buf, offset, length).trim();
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad ${what} field in the tar header at byte ${at}`);
  return Number.parseInt(text, 8);
}

function parsePax(data: Buffer, at: number): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    const len = space < 0 ? NaN : Number(data.subarray(off, space).toString("ascii"));
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length || data[off + len - 1] !== 0x0a) {
      throw new TarFormatError(`bad pax header at byte ${at}`);
    }
    const record = data.subarray(space + 1, off + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq <= 0) throw new TarFormatError(`bad pax record at byte ${at}`);
    out[record.slice(0, eq)] = record.slice(eq + 1);
    off += len;
  }
  return out;
}

/**
 * Parses a whole tar archive held in memory. Accepts only regular files, directories and pax
 * extended headers (of which only `path` is used); refuses any other entry type, a bad header
 * checksum, a header without the ustar magic, data running past the end, and a missing end marker.
 * Paths are returned as written (directories without their trailing "/"); checking them is the
 * caller's job.
 */
export function readTar(buf: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let off = 0;
  let paxPath: string | undefined;
  for (;;) {
    if (off + BLOCK > buf.length) throw new TarFormatError("the archive is truncated (no end-of-archive marker)");
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      if (paxPath !== undefined) throw new TarFormatError(`a pax header at byte ${off - BLOCK} is not followed by an entry`);
      return entries; // the end marker; anything after it (the second zero block, record padding) is ignored
    }
    const stored = readOctal(h, 148, 8, "checksum", off);
    if (stored !== checksum(h)) throw new TarFormatError(`tar header checksum mismatch at byte ${off} (the archive is damaged)`);
    if (readString(h, 257, 6) !== "ustar") throw new TarFormatError(`not a ustar header at byte ${off}`);
    const type = String.fromCharCode(h[156] || 0x30);
    const size = readOctal(h, 124, 12, "size", off);
    const mode = readOctal(h, 100, 8, "mode", off);
    const mtime = new Date(readOctal(h, 136, 12, "mtime", off) * 1000);
    const prefix = readString(h, 345, 155);
    const name = readString(h, 0, 100);
    const headerPath = prefix ? `${prefix}/${name}` : name;
    const dataStart = off + BLOCK;
    if (dataStart + size > buf.length) throw new TarFormatError(`the archive is truncated (entry ${JSON.stringify(headerPath)} runs past the end)`);
    const data = buf.subarray(dataStart, dataStart + size);
    off = dataStart + size + ((BLOCK - (size % BLOCK)) % BLOCK);
    if (type === "x") {
      if (paxPath !== undefined) throw new TarFormatError(`two pax headers in a row at byte ${dataStart - BLOCK}`);
      const records = parsePax(data, dataStart - BLOCK);
      paxPath = records.path ?? "";
      continue;
    }
    const p = paxPath || headerPath;
    paxPath = undefined;
    if (type === "0") {
      entries.push({ type: "file", path: p, mode, mtime, data: Buffer.from(data) });
    } else if (type === "5") {
      if (size !== 0) throw new TarFormatError(`directory entry ${JSON.stringify(p)} has a size`);
      entries.push({ type: "dir", path: p.replace(/\/+$/, ""), mode, mtime });
    } else {
      const kind: Record<string, string> = { "1": "hard link", "2": "symbolic link", "3": "character device", "4": "block device", "6": "FIFO", L: "GNU long name", K: "GNU long link", g: "pax global header" };
      throw new TarFormatError(`unexpected ${kind[type] ?? `type ${JSON.stringify(type)}`} entry ${JSON.stringify(p)} in the archive`);
    }
  }
}
