/**
 * A minimal DER writer and reader: exactly what X.509 certificates, CSRs, CRLs and PKCS#12 need.
 * Hand-written because the certificate path is hot (see `npm run bench`): building a
 * TBSCertificate from Buffers takes a few microseconds, where a schema-driven encoder takes
 * hundreds. The reader is strict (DER lengths, no indefinite form) and bounds-checked; every
 * failure is a `DerError` the callers turn into their own error.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  if (n < 0x1000000) return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.from([0x84, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** tag + length + content. */
export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export function derSequence(...parts: Buffer[]): Buffer {
  return tlv(Tag.SEQUENCE, Buffer.concat(parts));
}

/** A SET OF; DER sorts the encoded elements. */
export function derSetOf(...parts: Buffer[]): Buffer {
  const sorted = parts.length > 1 ? [...parts].sort(Buffer.compare) : parts;
  return tlv(Tag.SET, Buffer.concat(sorted));
}

/** [n] EXPLICIT (constructed) */
export function derExplicit(n: number, inner: Buffer): Buffer {
  return tlv(0xa0 | n, inner);
}

/** [n] IMPLICIT primitive */
export function derImplicit(n: number, content: Buffer): Buffer {
  return tlv(0x80 | n, content);
}

/** A non-negative INTEGER from its big-endian magnitude (leading zero bytes are dropped). */
export function derUnsignedInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let m = magnitude.subarray(i);
  if (m.length === 0) m = Buffer.from([0]);
  if (m[0]! & 0x80) m = Buffer.concat([Buffer.from([0]), m]);
  return tlv(Tag.INTEGER, m);
}

export function derSmallInteger(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new DerError(`integer ${n} out of range`);
  const hex = n.toString(16);
  return derUnsignedInteger(Buffer.from(hex.length % 2 ? "0" + hex : hex, "hex"));
}

export function derEnumerated(n: number): Buffer {
  const int = derSmallInteger(n);
  int[0] = Tag.ENUMERATED;
  return int;
}

export const DER_NULL = Buffer.from([0x05, 0x00]);
export const DER_TRUE = Buffer.from([0x01, 0x01, 0xff]);

export function derBoolean(v: boolean): Buffer {
  return Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
}

export function derOctetString(content: Buffer): Buffer {
  return tlv(Tag.OCTET_STRING, content);
}

export function derBitString(content: Buffer, unusedBits = 0): Buffer {
  return tlv(Tag.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), content]));
}

/** A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first byte; DER drops trailing zero bits. */
export function derNamedBits(bits: number[]): Buffer {
  const max = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  const last = bytes[bytes.length - 1]!;
  let unused = 0;
  while (unused < 8 && (last & (1 << unused)) === 0) unused++;
  return derBitString(bytes, unused);
}

const oidCache = new Map<string, Buffer>();

export function derOid(oid: string): Buffer {
  const cached = oidCache.get(oid);
  if (cached) return cached;
  const arcs = oid.split(".").map((s) => {
    if (!/^\d+$/.test(s)) throw new DerError(`bad OID ${oid}`);
    return Number(s);
  });
  if (arcs.length < 2 || arcs[0]! > 2 || (arcs[0]! < 2 && arcs[1]! > 39)) throw new DerError(`bad OID ${oid}`);
  const out: number[] = [];
  const first = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)];
  for (const arc of first) {
    if (!Number.isSafeInteger(arc)) throw new DerError(`bad OID ${oid}`);
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(v % 128);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    out.push(...chunk);
  }
  const enc = tlv(Tag.OID, Buffer.from(out));
  oidCache.set(oid, enc);
  return enc;
}

export function derUtf8String(s: string): Buffer {
  return tlv(Tag.UTF8_STRING, Buffer.from(s, "utf8"));
}
export function derPrintableString(s: string): Buffer {
  return tlv(Tag.PRINTABLE_STRING, Buffer.from(s, "latin1"));
}
export function derIa5String(s: string): Buffer {
  return tlv(Tag.IA5_STRING, Buffer.from(s, "latin1"));
}

const pad2 = (n: number): string => (n < 10 ? "0" : "") + n;

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
export function derTime(d: Date): Buffer {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new DerError("invalid date");
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) throw new DerError(`year ${y} out of range`);
  const rest = pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) + pad2(d.getUTCHours()) + pad2(d.getUTCMinutes()) + pad2(d.getUTCSeconds()) + "Z";
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(pad2(y % 100) + rest, "latin1"));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(String(y).padStart(4, "0") + rest, "latin1"));
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/** One TLV inside `buf`: content is buf[contentStart, end). */
export interface DerNode {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

export function readNode(buf: Buffer, offset: number, limit = buf.length): DerNode {
  if (offset + 2 > limit) throw new DerError("truncated (header)");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("high tag numbers are not supported");
  let p = offset + 1;
  const first = buf[p++]!;
  let len: number;
  if (first < 0x80) len = first;
  else if (first === 0x80) throw new DerError("indefinite length is not DER");
  else {
    const n = first & 0x7f;
    if (n > 4) throw new DerError("length too large");
    if (p + n > limit) throw new DerError("truncated (length)");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  const end = p + len;
  if (end > limit) throw new DerError("truncated (content)");
  return { tag, start: offset, contentStart: p, end };
}

/** The single top-level element of `buf`; trailing bytes are an error. */
export function readRoot(buf: Buffer): DerNode {
  const n = readNode(buf, 0);
  if (n.end !== buf.length) throw new DerError(`${buf.length - n.end} trailing bytes`);
  return n;
}

export function children(buf: Buffer, node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let p = node.contentStart;
  while (p < node.end) {
    const c = readNode(buf, p, node.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`${what} missing`);
  if (node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  return node;
}

export function content(buf: Buffer, node: DerNode): Buffer {
  return buf.subarray(node.contentStart, node.end);
}

export function whole(buf: Buffer, node: DerNode): Buffer {
  return buf.subarray(node.start, node.end);
}

export function readOid(buf: Buffer, node: DerNode): string {
  expectTag(node, Tag.OID, "OBJECT IDENTIFIER");
  const c = content(buf, node);
  if (c.length === 0) throw new DerError("empty OID");
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < c.length; i++) {
    v = v * 128 + (c[i]! & 0x7f);
    if (!Number.isSafeInteger(v)) throw new DerError("OID arc too large");
    if ((c[i]! & 0x80) === 0) {
      if (arcs.length === 0) {
        if (v < 40) arcs.push(0, v);
        else if (v < 80) arcs.push(1, v - 40);
        else arcs.push(2, v - 80);
      } else arcs.push(v);
      v = 0;
    } else if (i === c.length - 1) throw new DerError("truncated OID");
  }
  return arcs.join(".");
}

/** The INTEGER's magnitude bytes; throws on a negative value. */
export function readUnsignedInteger(buf: Buffer, node: DerNode): Buffer {
  expectTag(node, Tag.INTEGER, "INTEGER");
  let c = content(buf, node);
  if (c.length === 0) throw new DerError("empty INTEGER");
  if (c[0]! & 0x80) throw new DerError("negative INTEGER");
  while (c.length > 1 && c[0] === 0) c = c.subarray(1);
  return c;
}

export function readSmallInteger(buf: Buffer, node: DerNode): number {
  const m = readUnsignedInteger(buf, node);
  if (m.length > 6) throw new DerError("INTEGER too large");
  return m.readUIntBE(0, m.length);
}

export function readBoolean(buf: Buffer, node: DerNode): boolean {
  expectTag(node, Tag.BOOLEAN, "BOOLEAN");
  const c = content(buf, node);
  if (c.length !== 1) throw new DerError("bad BOOLEAN");
  return c[0] !== 0;
}

/** BIT STRING content without the unused-bits byte. */
export function readBitString(buf: Buffer, node: DerNode): { bytes: Buffer; unusedBits: number } {
  expectTag(node, Tag.BIT_STRING, "BIT STRING");
  const c = content(buf, node);
  if (c.length === 0 || c[0]! > 7) throw new DerError("bad BIT STRING");
  return { bytes: c.subarray(1), unusedBits: c[0]! };
}

/** Named bits set in a BIT STRING (bit 0 = MSB of the first byte). */
export function readNamedBits(buf: Buffer, node: DerNode): Set<number> {
  const { bytes } = readBitString(buf, node);
  const out = new Set<number>();
  for (let i = 0; i < bytes.length * 8; i++) if (bytes[i >> 3]! & (0x80 >> (i & 7))) out.add(i);
  return out;
}

export function readTime(buf: Buffer, node: DerNode): Date {
  const s = content(buf, node).toString("latin1");
  let m: RegExpExecArray | null;
  if (node.tag === Tag.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError(`bad UTCTime ${JSON.stringify(s)}`);
    const yy = Number(m[1]);
    return utc(yy >= 50 ? 1900 + yy : 2000 + yy, m);
  }
  if (node.tag === Tag.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(s);
    if (!m) throw new DerError(`bad GeneralizedTime ${JSON.stringify(s)}`);
    return utc(Number(m[1]), m);
  }
  throw new DerError(`expected a time, found tag 0x${node.tag.toString(16)}`);
}

function utc(year: number, m: RegExpExecArray): Date {
  const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(d.getTime())) throw new DerError("bad time");
  return d;
}

/** A directory string (UTF8String, PrintableString, IA5String, BMPString, …) as a JS string. */
export function readString(buf: Buffer, node: DerNode): string {
  const c = content(buf, node);
  switch (node.tag) {
    case Tag.UTF8_STRING:
      return c.toString("utf8");
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.T61_STRING:
    case 0x12: // NumericString
    case 0x1a: // VisibleString
      return c.toString("latin1");
    case Tag.BMP_STRING: {
      if (c.length % 2) throw new DerError("bad BMPString");
      const swapped = Buffer.from(c);
      swapped.swap16();
      return swapped.toString("utf16le");
    }
    case Tag.UNIVERSAL_STRING: {
      if (c.length % 4) throw new DerError("bad UniversalString");
      let s = "";
      for (let i = 0; i < c.length; i += 4) s += String.fromCodePoint(c.readUInt32BE(i));
      return s;
    }
    default:
      throw new DerError(`tag 0x${node.tag.toString(16)} is not a string`);
  }
}
