import { GdsError } from "../errors.js";
import {
  DerError,
  Tag,
  children,
  derIa5String,
  derOid,
  derPrintableString,
  derSequence,
  derSetOf,
  derUtf8String,
  expectTag,
  readNode,
  readOid,
  readString,
  whole,
  type DerNode,
} from "./der.js";

/**
 * Distinguished names as strings.
 *
 * The canonical form used everywhere in the domain is an RFC 4514 string with ", " between RDNs,
 * e.g. "CN=Pump 7, O=Acme, C=DE". As in RFC 4514 the string lists the RDNs in reverse order of the
 * DER encoding (most specific first), so "CN=Pump 7, O=Acme, C=DE" is encoded C, O, CN.
 *
 * `parseSubjectName` accepts what users type (OPC 10000-12 StartNewKeyPairRequest SubjectName
 * "/CN=Pump/O=Acme/DC=host" or a .NET/RFC 4514 style "CN=Pump, O=Acme") and allows only the
 * attributes the GDS spec names. The OPC UA slash form keeps the written order in the RFC 4514
 * string: "/CN=Pump/O=Acme" and "CN=Pump, O=Acme" are the same name.
 *
 * `encodeDistinguishedName` / `decodeDistinguishedName` translate between the string and DER for
 * any attribute (names found in CSRs and certificates): unknown attribute types are written as a
 * dotted OID with a "#"-hex DER value (RFC 4514 §2.4), so they survive the round trip.
 */

type ValueEncoding = "utf8" | "printable" | "ia5";

interface AttributeDef {
  short: string;
  oid: string;
  encoding: ValueEncoding;
}

const ATTRIBUTES: AttributeDef[] = [
  { short: "CN", oid: "2.5.4.3", encoding: "utf8" },
  { short: "L", oid: "2.5.4.7", encoding: "utf8" },
  { short: "ST", oid: "2.5.4.8", encoding: "utf8" },
  { short: "O", oid: "2.5.4.10", encoding: "utf8" },
  { short: "OU", oid: "2.5.4.11", encoding: "utf8" },
  { short: "C", oid: "2.5.4.6", encoding: "printable" },
  { short: "STREET", oid: "2.5.4.9", encoding: "utf8" },
  { short: "DC", oid: "0.9.2342.19200300.100.1.25", encoding: "ia5" },
  { short: "UID", oid: "0.9.2342.19200300.100.1.1", encoding: "utf8" },
  { short: "SERIALNUMBER", oid: "2.5.4.5", encoding: "printable" },
  { short: "E", oid: "1.2.840.113549.1.9.1", encoding: "ia5" },
  { short: "T", oid: "2.5.4.12", encoding: "utf8" },
  { short: "SN", oid: "2.5.4.4", encoding: "utf8" },
  { short: "G", oid: "2.5.4.42", encoding: "utf8" },
];

const ALIASES: Record<string, string> = { S: "ST", EMAILADDRESS: "E", GN: "G", GIVENNAME: "G", SURNAME: "SN", TITLE: "T" };

const BY_SHORT = new Map(ATTRIBUTES.map((a) => [a.short, a]));
const BY_OID = new Map(ATTRIBUTES.map((a) => [a.oid, a]));

/** The attributes OPC 10000-12 allows in a SubjectName (S is the GDS spec's name for ST). */
const SUBJECT_NAME_ALLOWED = new Set(["CN", "O", "OU", "DC", "L", "ST", "C"]);

const MAX_VALUE_LENGTH = 256;

/** One attribute of an RDN. `raw` holds the DER of a value given as "#hex". */
export interface DnAttribute {
  /** Short name ("CN") or dotted OID for unknown types. */
  type: string;
  oid: string;
  value: string;
  raw?: Buffer;
}

/** RDNs in display (RFC 4514) order; each RDN has one or more attributes. */
export type Dn = DnAttribute[][];

// ---------------------------------------------------------------------------------------------
// String → model
// ---------------------------------------------------------------------------------------------

class DnSyntaxError extends Error {}

function attributeFor(typeText: string): { type: string; oid: string } {
  let t = typeText.trim();
  if (/^oid\./i.test(t)) t = t.slice(4);
  if (/^\d+(\.\d+)+$/.test(t)) {
    const def = BY_OID.get(t);
    return def ? { type: def.short, oid: def.oid } : { type: t, oid: t };
  }
  const upper = t.toUpperCase();
  const short = ALIASES[upper] ?? upper;
  const def = BY_SHORT.get(short);
  if (!def) throw new DnSyntaxError(`unknown attribute type ${JSON.stringify(typeText.trim())}`);
  return { type: def.short, oid: def.oid };
}

const HEX2 = /^[0-9a-fA-F]{2}$/;

/**
 * RFC 4514 (lenient: spaces around separators, ';' as separator, quoted values as in RFC 1779 /
 * .NET). With `hexValues` false (what users type) a leading '#' is a literal character.
 */
function parseRfc4514(s: string, hexValues = true): Dn {
  const dn: Dn = [];
  let rdn: DnAttribute[] = [];
  let i = 0;
  const n = s.length;
  const skipSpaces = (): void => {
    while (i < n && s[i] === " ") i++;
  };
  for (;;) {
    skipSpaces();
    const typeStart = i;
    while (i < n && s[i] !== "=" && s[i] !== "," && s[i] !== "+" && s[i] !== ";") i++;
    if (i >= n || s[i] !== "=") {
      const frag = s.slice(typeStart, i).trim();
      throw new DnSyntaxError(frag ? `"${frag}" is not a name=value pair` : "empty name=value pair");
    }
    const typeText = s.slice(typeStart, i);
    if (!typeText.trim()) throw new DnSyntaxError("attribute type missing before '='");
    const { type, oid } = attributeFor(typeText);
    i++; // '='
    skipSpaces();
    let value = "";
    let raw: Buffer | undefined;
    if (s[i] === "#" && hexValues) {
      i++;
      const start = i;
      while (i < n && /[0-9a-fA-F]/.test(s[i]!)) i++;
      const hex = s.slice(start, i);
      if (hex.length === 0 || hex.length % 2) throw new DnSyntaxError(`bad hex value for ${type}`);
      raw = Buffer.from(hex, "hex");
      try {
        const node = readNode(raw, 0);
        if (node.end !== raw.length) throw new DerError("trailing bytes");
        value = isStringTag(node.tag) ? readString(raw, node) : "";
      } catch {
        throw new DnSyntaxError(`hex value for ${type} is not a DER value`);
      }
      skipSpaces();
    } else if (s[i] === '"') {
      i++;
      const bytes: number[] = [];
      let closed = false;
      while (i < n) {
        const c = s[i]!;
        if (c === "\\") {
          i = readEscape(s, i, bytes);
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        pushUtf8(bytes, c);
        i += c.length;
      }
      if (!closed) throw new DnSyntaxError(`unterminated quoted value for ${type}`);
      value = Buffer.from(bytes).toString("utf8");
      skipSpaces();
    } else {
      const bytes: number[] = [];
      let trailingUnescapedSpaces = 0;
      while (i < n) {
        const c = s[i]!;
        if (c === "," || c === ";" || c === "+") break;
        if (c === "\\") {
          i = readEscape(s, i, bytes);
          trailingUnescapedSpaces = 0;
          continue;
        }
        if (c === '"') throw new DnSyntaxError(`unexpected '"' in the value of ${type} (quote the whole value)`);
        pushUtf8(bytes, c);
        trailingUnescapedSpaces = c === " " ? trailingUnescapedSpaces + 1 : 0;
        i++;
      }
      value = Buffer.from(bytes.slice(0, bytes.length - trailingUnescapedSpaces)).toString("utf8");
    }
    rdn.push(raw ? { type, oid, value, raw } : { type, oid, value });
    if (i >= n) {
      dn.push(rdn);
      return dn;
    }
    const sep = s[i];
    if (sep !== "," && sep !== ";" && sep !== "+") throw new DnSyntaxError(`unexpected ${JSON.stringify(sep)} after the value of ${type}`);
    i++;
    if (sep !== "+") {
      dn.push(rdn);
      rdn = [];
    }
    skipSpaces();
    if (i >= n) throw new DnSyntaxError(`nothing after the final ${JSON.stringify(sep)}`);
  }
}

function pushUtf8(bytes: number[], c: string): void {
  for (const b of Buffer.from(c, "utf8")) bytes.push(b);
}

/** `\` followed by a special character or two hex digits (one UTF-8 byte). Returns the next index. */
function readEscape(s: string, i: number, bytes: number[]): number {
  const next = s[i + 1];
  if (next === undefined) throw new DnSyntaxError("dangling '\\' at the end");
  const pair = s.slice(i + 1, i + 3);
  if (HEX2.test(pair)) {
    bytes.push(parseInt(pair, 16));
    return i + 3;
  }
  pushUtf8(bytes, next);
  return i + 2;
}

function isStringTag(tag: number): boolean {
  return [Tag.UTF8_STRING, Tag.PRINTABLE_STRING, Tag.IA5_STRING, Tag.T61_STRING, Tag.BMP_STRING, Tag.UNIVERSAL_STRING, 0x12, 0x1a].includes(tag as never);
}

/** OPC 10000-12 SubjectName: "/"-separated name=value pairs, values in "" when they contain '/' or '='. */
function parseSlashSyntax(s: string): Dn {
  const dn: Dn = [];
  let i = s.startsWith("/") ? 1 : 0;
  const n = s.length;
  while (i < n) {
    const eq = s.indexOf("=", i);
    const slash = s.indexOf("/", i);
    if (eq < 0 || (slash >= 0 && slash < eq)) {
      const frag = s.slice(i, slash < 0 ? n : slash).trim();
      throw new DnSyntaxError(frag ? `"${frag}" is not a name=value pair` : "empty name=value pair (two '/' in a row)");
    }
    const typeText = s.slice(i, eq);
    if (!typeText.trim()) throw new DnSyntaxError("attribute name missing before '='");
    const { type, oid } = attributeFor(typeText);
    i = eq + 1;
    let value: string;
    const rest = s.slice(i);
    const lead = rest.length - rest.trimStart().length;
    if (rest.trimStart().startsWith('"')) {
      const open = i + lead;
      const close = s.indexOf('"', open + 1);
      if (close < 0) throw new DnSyntaxError(`unterminated quoted value for ${type}`);
      value = s.slice(open + 1, close);
      i = close + 1;
      while (i < n && s[i] === " ") i++;
      if (i < n && s[i] !== "/") throw new DnSyntaxError(`unexpected text after the quoted value of ${type}`);
    } else {
      const end = s.indexOf("/", i);
      const stop = end < 0 ? n : end;
      value = s.slice(i, stop).trim();
      if (value.includes("=")) throw new DnSyntaxError(`the value of ${type} contains '=': enclose it in double quotes`);
      if (value.includes('"')) throw new DnSyntaxError(`the value of ${type} contains '"'`);
      i = stop;
    }
    dn.push([{ type, oid, value }]);
    if (i < n) {
      i++; // '/'
      if (i >= n) break; // a trailing '/' is tolerated
    }
  }
  return dn;
}

// ---------------------------------------------------------------------------------------------
// Model → string
// ---------------------------------------------------------------------------------------------

function escapeValue(v: string): string {
  let out = "";
  for (let k = 0; k < v.length; k++) {
    const c = v[k]!;
    if (c === "," || c === "+" || c === '"' || c === "\\" || c === "<" || c === ">" || c === ";" || c === "=") out += "\\" + c;
    else if (c === "\0") out += "\\00";
    else if ((c === "#" && k === 0) || (c === " " && (k === 0 || k === v.length - 1))) out += "\\" + c;
    else out += c;
  }
  return out;
}

export function formatDn(dn: Dn): string {
  return dn
    .map((rdn) =>
      rdn
        .map((a) => {
          if (a.raw) return `${a.type}=#${a.raw.toString("hex")}`;
          return `${a.type}=${escapeValue(a.value)}`;
        })
        .join("+"),
    )
    .join(", ");
}

// ---------------------------------------------------------------------------------------------
// DER
// ---------------------------------------------------------------------------------------------

function encodeValue(a: DnAttribute): Buffer {
  if (a.raw) return a.raw;
  const def = BY_OID.get(a.oid);
  switch (def?.encoding ?? "utf8") {
    case "printable":
      return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(a.value) ? derPrintableString(a.value) : derUtf8String(a.value);
    case "ia5":
      // eslint-disable-next-line no-control-regex
      return /^[\x00-\x7f]*$/.test(a.value) ? derIa5String(a.value) : derUtf8String(a.value);
    default:
      return derUtf8String(a.value);
  }
}

export function encodeDn(dn: Dn): Buffer {
  const rdns = [...dn].reverse().map((rdn) => derSetOf(...rdn.map((a) => derSequence(derOid(a.oid), encodeValue(a)))));
  return derSequence(...rdns);
}

/** DER Name (the node) → model. Throws DerError. */
export function decodeDnNode(buf: Buffer, node: DerNode): Dn {
  expectTag(node, Tag.SEQUENCE, "Name");
  const dn: Dn = [];
  for (const rdnNode of children(buf, node)) {
    expectTag(rdnNode, Tag.SET, "RelativeDistinguishedName");
    const rdn: DnAttribute[] = [];
    for (const atv of children(buf, rdnNode)) {
      const [t, v] = children(buf, expectTag(atv, Tag.SEQUENCE, "AttributeTypeAndValue"));
      const oid = readOid(buf, t!);
      if (!v) throw new DerError("attribute value missing");
      const def = BY_OID.get(oid);
      if (def && isStringTag(v.tag)) rdn.push({ type: def.short, oid, value: readString(buf, v) });
      else rdn.push({ type: def?.short ?? oid, oid, value: isStringTag(v.tag) ? readString(buf, v) : "", raw: Buffer.from(whole(buf, v)) });
    }
    if (rdn.length === 0) throw new DerError("empty RelativeDistinguishedName");
    dn.push(rdn);
  }
  return dn.reverse();
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/** Parses an RFC 4514 string (any attribute type). Throws GdsError BadInvalidArgument. */
export function parseDistinguishedName(s: string): Dn {
  if (typeof s !== "string" || s.trim() === "") throw new GdsError("BadInvalidArgument", "distinguished name is empty");
  try {
    return parseRfc4514(s);
  } catch (e) {
    if (e instanceof DnSyntaxError) throw new GdsError("BadInvalidArgument", `distinguished name ${JSON.stringify(s)}: ${e.message}`);
    throw e;
  }
}

/** RFC 4514 string → DER Name. Throws GdsError BadInvalidArgument on a malformed string. */
export function encodeDistinguishedName(s: string): Buffer {
  return encodeDn(parseDistinguishedName(s));
}

/** DER Name → RFC 4514 string. Throws DerError. */
export function decodeDistinguishedName(buf: Buffer, node: DerNode = readNode(buf, 0)): string {
  return formatDn(decodeDnNode(buf, node));
}

/** Re-formats an RFC 4514 string into the canonical form (", " separators, canonical escapes). */
export function normaliseDistinguishedName(s: string): string {
  return formatDn(parseDistinguishedName(s));
}

function looksLikeSlashSyntax(s: string): boolean {
  const t = s.trim();
  if (t.startsWith("/")) return true;
  // Outside quotes: a ',' or '+' means comma syntax; a '/' followed by "NAME=" means slash syntax.
  let inQuotes = false;
  let sawSlashPair = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === '"') inQuotes = !inQuotes;
    else if (!inQuotes && (c === "," || c === "+" || c === ";")) return false;
    else if (!inQuotes && c === "/" && /^\s*[A-Za-z]+\s*=/.test(t.slice(i + 1))) sawSlashPair = true;
  }
  return sawSlashPair;
}

/**
 * A user-supplied subject name (OPC UA "/CN=x/O=y" or "CN=x, O=y") → canonical RFC 4514 string.
 * Allowed attributes: CN, O, OU, DC, L, S (=ST), ST, C. CN is required. Throws GdsError
 * BadInvalidArgument naming the problem.
 */
export function parseSubjectName(s: string): string {
  if (typeof s !== "string" || s.trim() === "") throw new GdsError("BadInvalidArgument", "subject name is empty");
  const slash = looksLikeSlashSyntax(s);
  let dn: Dn;
  try {
    dn = slash ? parseSlashSyntax(s.trim()) : parseRfc4514(s, false);
  } catch (e) {
    if (e instanceof DnSyntaxError) throw new GdsError("BadInvalidArgument", `subject name ${JSON.stringify(s)}: ${e.message}`);
    throw e;
  }
  const problem = (msg: string): GdsError => new GdsError("BadInvalidArgument", `subject name ${JSON.stringify(s)}: ${msg}`);
  if (dn.length === 0) throw problem("no name=value pairs");
  let hasCn = false;
  for (const rdn of dn) {
    for (const a of rdn) {
      if (!SUBJECT_NAME_ALLOWED.has(a.type)) throw problem(`attribute ${a.type} is not allowed (use CN, O, OU, DC, L, S, C)`);
      if (a.value.trim() === "") throw problem(`${a.type} has an empty value`);
      if (a.value.length > MAX_VALUE_LENGTH) throw problem(`${a.type} is longer than ${MAX_VALUE_LENGTH} characters`);
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x1f\x7f]/.test(a.value)) throw problem(`${a.type} contains control characters`);
      if (a.type === "C" && !/^[A-Za-z]{2}$/.test(a.value)) throw problem(`C must be a two-letter country code, not ${JSON.stringify(a.value)}`);
      if (a.type === "DC" && !/^[\x21-\x7e]+$/.test(a.value)) throw problem(`DC must be ASCII without spaces, not ${JSON.stringify(a.value)}`);
      if (a.type === "CN") hasCn = true;
    }
  }
  if (!hasCn) throw problem("CN is required");
  return formatDn(dn);
}

/** The (first) CN of an RFC 4514 string, or undefined. */
export function commonNameOf(dn: string): string | undefined {
  let parsed: Dn;
  try {
    parsed = parseDistinguishedName(dn);
  } catch {
    return undefined;
  }
  for (const rdn of parsed) for (const a of rdn) if (a.oid === "2.5.4.3") return a.value;
  return undefined;
}
