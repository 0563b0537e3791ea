import { BinaryStream } from "node-opcua";
import { TrustListDataType } from "node-opcua-types";
import { GdsError } from "../errors.js";
import type { TrustListContent } from "../requests/certificate-manager.types.js";

/**
 * The bytes of a TrustList file (OPC 10000-12 §7.8.2): the UA Binary body of a TrustListDataType
 * with no ExtensionObject header. UInt32 SpecifiedLists, then TrustedCertificates, TrustedCrls,
 * IssuerCertificates, IssuerCrls, each an Int32 count (-1 = null array) followed by that many
 * Int32-length-prefixed ByteStrings.
 */

/** TrustListMasks.All: the four lists. */
export const ALL_TRUST_LISTS = 15;

export interface DecodedTrustList {
  specifiedLists: number;
  content: TrustListContent;
}

const LISTS = ["trustedCertificates", "trustedCrls", "issuerCertificates", "issuerCrls"] as const;
const MASK_OF: Record<(typeof LISTS)[number], number> = { trustedCertificates: 1, trustedCrls: 2, issuerCertificates: 4, issuerCrls: 8 };

export function emptyTrustList(): TrustListContent {
  return { trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] };
}

/** The lists named by `masks`; the others empty. */
export function maskTrustList(content: TrustListContent, masks: number): TrustListContent {
  const out = emptyTrustList();
  for (const list of LISTS) if (masks & MASK_OF[list]) out[list] = [...content[list]];
  return out;
}

/** Exact byte length of encodeTrustList(content, …), without encoding. */
export function encodedTrustListSize(content: TrustListContent): number {
  let size = 4;
  for (const list of LISTS) {
    size += 4;
    for (const item of content[list]) size += 4 + item.length;
  }
  return size;
}

function checkSpecifiedLists(specifiedLists: number): void {
  if (!Number.isInteger(specifiedLists) || specifiedLists < 0 || specifiedLists > ALL_TRUST_LISTS) {
    throw new GdsError("BadInvalidArgument", `SpecifiedLists ${specifiedLists} is not a TrustListMasks value (0..15)`);
  }
}

/** Encodes all four lists as given (empty lists as count 0); `specifiedLists` is written as is. */
export function encodeTrustList(content: TrustListContent, specifiedLists: number): Buffer {
  checkSpecifiedLists(specifiedLists);
  const size = encodedTrustListSize(content);
  const stream = new BinaryStream(size);
  new TrustListDataType({
    specifiedLists,
    trustedCertificates: content.trustedCertificates,
    trustedCrls: content.trustedCrls,
    issuerCertificates: content.issuerCertificates,
    issuerCrls: content.issuerCrls,
  }).encode(stream);
  if (stream.length !== size) throw new Error(`TrustListDataType encoding wrote ${stream.length} bytes, expected ${size}`);
  return Buffer.from(stream.buffer.subarray(0, size));
}

/**
 * Decodes a TrustList file. Null arrays become []; the result's Buffers are copies (independent of
 * `buf`). Throws GdsError("BadDecodingError") on a truncated or malformed body, trailing bytes, a
 * null element inside a list, or SpecifiedLists outside 0..15.
 */
export function decodeTrustList(buf: Buffer): DecodedTrustList {
  const stream = new BinaryStream(buf);
  const decoded = new TrustListDataType();
  try {
    decoded.decode(stream);
  } catch (err) {
    throw new GdsError("BadDecodingError", `not a TrustListDataType body (${buf.length} bytes): ${(err as Error).message}`);
  }
  if (stream.length !== buf.length) {
    throw new GdsError("BadDecodingError", `TrustListDataType body of ${stream.length} bytes followed by ${buf.length - stream.length} extra byte(s)`);
  }
  const specifiedLists = decoded.specifiedLists;
  if (specifiedLists > ALL_TRUST_LISTS) throw new GdsError("BadDecodingError", `SpecifiedLists ${specifiedLists} is not a TrustListMasks value (0..15)`);
  const content = emptyTrustList();
  for (const list of LISTS) {
    const items = (decoded[list] ?? []) as (Buffer | null)[];
    content[list] = items.map((item, i) => {
      if (item === null || item === undefined) throw new GdsError("BadDecodingError", `${list}[${i}] is a null ByteString`);
      return Buffer.from(item);
    });
  }
  return { specifiedLists, content };
}
