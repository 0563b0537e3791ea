/**
 * The LIKE operator of OPC 10000-4 (FilterOperator Like), used by QueryApplications and
 * QueryServers for ApplicationName, ApplicationUri and ProductUri:
 *
 *   %      any run of characters, including the empty run (runs of % collapse to one)
 *   _      exactly one character
 *   [abc]  one character of the list;  [a-c] a range;  [^abc] / [^a-c] any one character NOT listed
 *   \x     the character x itself (so \% \_ \[ \] \\ \^ \- are literals, also inside a list)
 *
 * Case: Part 4 leaves case sensitivity to the server. Names and URIs in a directory are
 * matched CASE-INSENSITIVELY here, as users expect and as the .NET reference GDS does. Folding is
 * simple, per code point: a character is replaced by its lower-case form when that form is a
 * single code point (so "A"~"a", "É"~"é", "ẞ"~"ß"; "İ" only matches itself). List members match
 * a character in either case. A "character" is a Unicode code point (a surrogate pair counts
 * once for `_`).
 *
 * List syntax details: `^` negates only as the first member; `-` is literal as the first or last
 * member; `]` closes the list (write `\]` for a literal one); an empty list (`[]`, `[^]`) and a
 * reversed range (`[z-a]`) are errors; a lone `]` outside a list is a literal.
 *
 * Malformed patterns (unclosed `[`, trailing lone `\`, empty list, reversed range) and patterns
 * longer than MAX_LIKE_PATTERN_LENGTH throw GdsError("BadInvalidArgument") naming the problem and
 * its 0-based offset in the pattern.
 *
 * Cost: the pattern is split on `%` into fixed-length segments. The first segment is anchored at
 * the start, the last at the end, and each middle one is found leftmost (earliest end, which is
 * optimal for fixed-length segments) with a bit-parallel Shift-And scan. Each subject character is
 * visited once per scan, so a match costs O(n * ceil(m/32)) for a subject of n characters and a
 * longest segment of m; there is no backtracking and no RegExp.
 */
import { GdsError } from "../errors.js";
import { MAX_LIKE_PATTERN_LENGTH } from "./limits.js";

export { MAX_LIKE_PATTERN_LENGTH };

export type LikeMatcher = (subject: string) => boolean;

// ---------------------------------------------------------------------------------------------
// Case folding (per code point, cached)

const FOLD_CACHE_LIMIT = 65536;
const lowerCache = new Map<number, number>();
const upperCache = new Map<number, number>();

function singleCodePointOr(s: string, fallback: number): number {
  const cp = s.codePointAt(0);
  if (cp === undefined) return fallback;
  return s.length === (cp > 0xffff ? 2 : 1) ? cp : fallback;
}

function foldCodePoint(cp: number): number {
  if (cp < 128) return cp >= 65 && cp <= 90 ? cp + 32 : cp;
  let f = lowerCache.get(cp);
  if (f === undefined) {
    f = singleCodePointOr(String.fromCodePoint(cp).toLowerCase(), cp);
    if (lowerCache.size < FOLD_CACHE_LIMIT) lowerCache.set(cp, f);
  }
  return f;
}

function upperCodePoint(cp: number): number {
  if (cp < 128) return cp >= 97 && cp <= 122 ? cp - 32 : cp;
  let u = upperCache.get(cp);
  if (u === undefined) {
    u = singleCodePointOr(String.fromCodePoint(cp).toUpperCase(), cp);
    if (upperCache.size < FOLD_CACHE_LIMIT) upperCache.set(cp, u);
  }
  return u;
}

/** Writes the folded code points of `s` into `buf` (which must hold s.length entries). */
function foldInto(s: string, buf: Int32Array): number {
  const len = s.length;
  let n = 0;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < 128) {
      buf[n++] = c >= 65 && c <= 90 ? c + 32 : c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        i++;
      }
    }
    buf[n++] = foldCodePoint(c);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Pattern elements

const enum Kind {
  Literal,
  Any,
  Set,
}

interface LiteralElement {
  kind: Kind.Literal;
  /** Folded code point. */
  cp: number;
}
interface AnyElement {
  kind: Kind.Any;
}
interface SetElement {
  kind: Kind.Set;
  negated: boolean;
  /** Flat [lo0, hi0, lo1, hi1, ...] of raw (unfolded) code points. */
  ranges: number[];
  /** Result for each folded ASCII subject character (negation applied). */
  ascii: Uint8Array;
}
type Element = LiteralElement | AnyElement | SetElement;

function inRanges(ranges: number[], c: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (c >= ranges[i]! && c <= ranges[i + 1]!) return true;
  }
  return false;
}

/** `c` is a folded subject code point. */
function setMatches(e: SetElement, c: number): boolean {
  if (c < 128) return e.ascii[c] === 1;
  let member = inRanges(e.ranges, c);
  if (!member) {
    const u = upperCodePoint(c);
    member = u !== c && inRanges(e.ranges, u);
  }
  return member !== e.negated;
}

function makeSet(negated: boolean, ranges: number[]): SetElement {
  const e: SetElement = { kind: Kind.Set, negated, ranges, ascii: new Uint8Array(128) };
  for (let c = 0; c < 128; c++) {
    const u = upperCodePoint(c);
    const member = inRanges(ranges, c) || (u !== c && inRanges(ranges, u));
    e.ascii[c] = member !== negated ? 1 : 0;
  }
  return e;
}

function elementMatches(e: Element, c: number): boolean {
  switch (e.kind) {
    case Kind.Any:
      return true;
    case Kind.Literal:
      return e.cp === c;
    default:
      return setMatches(e, c);
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing

function invalid(problem: string): GdsError {
  return new GdsError("BadInvalidArgument", `LIKE pattern: ${problem}`);
}

function codePointAt(s: string, i: number): number {
  return s.codePointAt(i)!;
}
function width(cp: number): number {
  return cp > 0xffff ? 2 : 1;
}

interface ParsedPattern {
  /** Segments between unescaped `%`; length 1 when the pattern has no `%`. */
  segments: Element[][];
}

function parse(pattern: string): ParsedPattern {
  const segments: Element[][] = [];
  let current: Element[] = [];
  let i = 0;
  const len = pattern.length;
  while (i < len) {
    const cp = codePointAt(pattern, i);
    if (cp === 0x5c /* \ */) {
      if (i + 1 >= len) throw invalid(`trailing '\\' at offset ${i} escapes nothing`);
      const next = codePointAt(pattern, i + 1);
      current.push({ kind: Kind.Literal, cp: foldCodePoint(next) });
      i += 1 + width(next);
    } else if (cp === 0x25 /* % */) {
      segments.push(current);
      current = [];
      i++;
      while (i < len && pattern.charCodeAt(i) === 0x25) i++;
    } else if (cp === 0x5f /* _ */) {
      current.push({ kind: Kind.Any });
      i++;
    } else if (cp === 0x5b /* [ */) {
      const [set, end] = parseSet(pattern, i);
      current.push(set);
      i = end;
    } else {
      current.push({ kind: Kind.Literal, cp: foldCodePoint(cp) });
      i += width(cp);
    }
  }
  segments.push(current);
  return { segments };
}

/** Parses the list starting at `open` (the `[`); returns the element and the offset after `]`. */
function parseSet(pattern: string, open: number): [SetElement, number] {
  const len = pattern.length;
  let i = open + 1;
  let negated = false;
  if (i < len && pattern.charCodeAt(i) === 0x5e /* ^ */) {
    negated = true;
    i++;
  }
  const ranges: number[] = [];
  // Reads one member character (escape-aware); returns [cp, nextOffset] or null at `]`/end.
  const readMember = (at: number): [number, number] | null => {
    if (at >= len) return null;
    const c = codePointAt(pattern, at);
    if (c === 0x5d /* ] */) return null;
    if (c === 0x5c /* \ */) {
      if (at + 1 >= len) throw invalid(`trailing '\\' at offset ${at} escapes nothing`);
      const next = codePointAt(pattern, at + 1);
      return [next, at + 1 + width(next)];
    }
    return [c, at + width(c)];
  };
  for (;;) {
    if (i >= len) throw invalid(`unclosed '[' at offset ${open}`);
    if (pattern.charCodeAt(i) === 0x5d /* ] */) break;
    const first = readMember(i)!;
    let lo = first[0];
    let hi = lo;
    i = first[1];
    // A range needs an unescaped '-' followed by a member (a '-' before ']' is a literal).
    if (i < len && pattern.charCodeAt(i) === 0x2d /* - */) {
      const second = readMember(i + 1);
      if (second !== null) {
        hi = second[0];
        if (hi < lo) {
          throw invalid(
            `reversed range '${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)}' at offset ${i - width(lo)}`,
          );
        }
        i = second[1];
      }
    }
    ranges.push(lo, hi);
  }
  if (ranges.length === 0) throw invalid(`empty character list at offset ${open}`);
  return [makeSet(negated, ranges), i + 1];
}

// ---------------------------------------------------------------------------------------------
// Segment matching

interface Segment {
  elements: Element[];
  length: number;
  /** Shift-And tables (only for middle segments). */
  words: number;
  /** asciiMasks[c * words + w]: bit j of word w set when element 32w+j matches folded ASCII c. */
  asciiMasks: Uint32Array;
  /** Bits of the positions that match any character (`_`). */
  anyMask: Uint32Array;
  /** Bits of literal positions by folded non-ASCII code point. */
  literalMasks: Map<number, Uint32Array>;
  /** The distinct lists of the segment, each with the bits of the positions that hold it. */
  setGroups: { set: SetElement; bits: Uint32Array }[];
  /** Masks of non-ASCII code points already seen by this matcher (bounded, see NON_ASCII_CACHE_LIMIT). */
  nonAsciiCache: Map<number, Uint32Array>;
  /** This segment's share of NON_ASCII_CACHE_LIMIT. */
  cacheLimit: number;
}

/**
 * Non-ASCII subject characters cannot use the 128-entry table, so their position mask is computed
 * from the segment's lists once per distinct code point and kept for the rest of the query (a name
 * rarely uses more than a few hundred distinct characters). The matcher's segments share this many
 * entries; past its share, a segment computes masks afresh (still linear: one evaluation per
 * distinct list).
 */
const NON_ASCII_CACHE_LIMIT = 8192;

function buildSegment(elements: Element[], withTables: boolean, cacheLimit = 0): Segment {
  const m = elements.length;
  const words = withTables ? Math.max(1, Math.ceil(m / 32)) : 0;
  const seg: Segment = {
    elements,
    length: m,
    words,
    asciiMasks: new Uint32Array(withTables ? 128 * words : 0),
    anyMask: new Uint32Array(words),
    literalMasks: new Map(),
    setGroups: [],
    nonAsciiCache: new Map(),
    cacheLimit,
  };
  if (!withTables) return seg;
  const groups = new Map<string, { set: SetElement; bits: Uint32Array }>();
  for (let j = 0; j < m; j++) {
    const e = elements[j]!;
    const w = j >>> 5;
    const bit = (1 << (j & 31)) >>> 0;
    for (let c = 0; c < 128; c++) {
      if (elementMatches(e, c)) seg.asciiMasks[c * words + w]! |= bit;
    }
    if (e.kind === Kind.Any) seg.anyMask[w]! |= bit;
    else if (e.kind === Kind.Literal && e.cp >= 128) {
      let mask = seg.literalMasks.get(e.cp);
      if (!mask) seg.literalMasks.set(e.cp, (mask = new Uint32Array(words)));
      mask[w]! |= bit;
    } else if (e.kind === Kind.Set) {
      const key = setKey(e);
      let group = groups.get(key);
      if (!group) {
        group = { set: e, bits: new Uint32Array(words) };
        groups.set(key, group);
        seg.setGroups.push(group);
      }
      group.bits[w]! |= bit;
    }
  }
  return seg;
}

function setKey(e: SetElement): string {
  return `${e.negated ? "^" : ""}${e.ranges.join(",")}`;
}

/** Mask of segment positions matching the folded non-ASCII code point `c` (`scratch` when not cached). */
function nonAsciiMask(seg: Segment, c: number, scratch: Uint32Array): Uint32Array {
  const cached = seg.nonAsciiCache.get(c);
  if (cached) return cached;
  const out = seg.nonAsciiCache.size < seg.cacheLimit ? new Uint32Array(seg.words) : scratch;
  out.set(seg.anyMask);
  const lit = seg.literalMasks.get(c);
  if (lit) for (let w = 0; w < seg.words; w++) out[w]! |= lit[w]!;
  for (const g of seg.setGroups) {
    if (setMatches(g.set, c)) for (let w = 0; w < seg.words; w++) out[w]! |= g.bits[w]!;
  }
  if (out !== scratch) seg.nonAsciiCache.set(c, out);
  return out;
}

function matchesAt(seg: Segment, subject: Int32Array, at: number): boolean {
  const els = seg.elements;
  for (let j = 0; j < els.length; j++) {
    if (!elementMatches(els[j]!, subject[at + j]!)) return false;
  }
  return true;
}

/**
 * Leftmost occurrence of `seg` in subject[from, limit): returns the offset just after the match
 * with the earliest end, or -1. Shift-And: bit j of the state means "the last j+1 characters
 * match the first j+1 elements".
 */
function findEarliestEnd(
  seg: Segment,
  subject: Int32Array,
  from: number,
  limit: number,
  state: Uint32Array,
  scratch: Uint32Array,
): number {
  const m = seg.length;
  const words = seg.words;
  const masks = seg.asciiMasks;
  if (words === 1) {
    const high = (1 << (m - 1)) >>> 0;
    let d = 0;
    for (let i = from; i < limit; i++) {
      const c = subject[i]!;
      let mask: number;
      mask = c < 128 ? masks[c]! : nonAsciiMask(seg, c, scratch)[0]!;
      d = (((d << 1) | 1) & mask) >>> 0;
      if ((d & high) !== 0) return i + 1;
    }
    return -1;
  }
  const lastWord = (m - 1) >>> 5;
  const high = (1 << ((m - 1) & 31)) >>> 0;
  state.fill(0, 0, words);
  for (let i = from; i < limit; i++) {
    const c = subject[i]!;
    let base = 0;
    let maskArr: Uint32Array;
    if (c < 128) {
      maskArr = masks;
      base = c * words;
    } else {
      maskArr = nonAsciiMask(seg, c, scratch);
    }
    let carry = 1;
    for (let w = 0; w < words; w++) {
      const v = state[w]!;
      const nextCarry = v >>> 31;
      state[w] = (((v << 1) | carry) & maskArr[base + w]!) >>> 0;
      carry = nextCarry;
    }
    if ((state[lastWord]! & high) !== 0) return i + 1;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------

/**
 * Compiles an OPC UA LIKE pattern into a case-insensitive matcher (see the file comment).
 * Throws GdsError("BadInvalidArgument") for malformed or over-long patterns.
 */
export function compileLikePattern(pattern: string): LikeMatcher {
  if (typeof pattern !== "string") throw invalid("must be a string");
  if (pattern.length > MAX_LIKE_PATTERN_LENGTH) {
    throw invalid(`longer than ${MAX_LIKE_PATTERN_LENGTH} characters (got ${pattern.length})`);
  }
  const { segments } = parse(pattern);

  let buf = new Int32Array(64);
  const fold = (subject: string): number => {
    if (buf.length < subject.length) buf = new Int32Array(Math.max(subject.length, buf.length * 2));
    return foldInto(subject, buf);
  };

  if (segments.length === 1) {
    const only = buildSegment(segments[0]!, false);
    if (only.elements.every((e) => e.kind === Kind.Literal)) {
      // No wildcard at all: plain (case-insensitive) equality.
      const cps = Int32Array.from(only.elements, (e) => (e as LiteralElement).cp);
      return (subject) => {
        if (typeof subject !== "string") return false;
        const n = fold(subject);
        if (n !== cps.length) return false;
        for (let i = 0; i < n; i++) if (buf[i] !== cps[i]) return false;
        return true;
      };
    }
    return (subject) => {
      if (typeof subject !== "string") return false;
      const n = fold(subject);
      return n === only.length && matchesAt(only, buf, 0);
    };
  }

  const first = buildSegment(segments[0]!, false);
  const last = buildSegment(segments[segments.length - 1]!, false);
  const middleElements = segments.slice(1, -1).filter((s) => s.length > 0);
  const cacheLimit = Math.floor(NON_ASCII_CACHE_LIMIT / Math.max(1, middleElements.length));
  const middles = middleElements.map((s) => buildSegment(s, true, cacheLimit));
  const minLength = first.length + last.length + middles.reduce((sum, s) => sum + s.length, 0);
  const maxWords = middles.reduce((mx, s) => Math.max(mx, s.words), 1);
  const state = new Uint32Array(maxWords);
  const scratch = new Uint32Array(maxWords);

  return (subject) => {
    if (typeof subject !== "string") return false;
    const n = fold(subject);
    if (n < minLength) return false;
    if (!matchesAt(first, buf, 0)) return false;
    const limit = n - last.length;
    if (!matchesAt(last, buf, limit)) return false;
    let pos = first.length;
    for (const seg of middles) {
      const end = findEarliestEnd(seg, buf, pos, limit, state, scratch);
      if (end < 0) return false;
      pos = end;
    }
    return true;
  };
}
