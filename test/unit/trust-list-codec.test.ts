import { describe, expect, it } from "@jest/globals";
import {
  decodeTrustList,
  emptyTrustList,
  encodeTrustList,
  encodedTrustListSize,
  maskTrustList,
} from "../../src/opcua/trust-list-codec.js";
import type { TrustListContent } from "../../src/requests/certificate-manager.types.js";
import { throwsGdsError } from "./helpers/gds-error.js";

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}
function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function bytes(s: string): Buffer {
  return Buffer.from(s, "hex");
}

const sample: TrustListContent = {
  trustedCertificates: [bytes("3082aa01"), bytes("3082bb")],
  trustedCrls: [bytes("3081cc")],
  issuerCertificates: [],
  issuerCrls: [bytes("30")],
};

describe("TrustList file codec", () => {
  it("round-trips every list and SpecifiedLists", () => {
    for (const mask of [0, 1, 5, 15]) {
      const buf = encodeTrustList(sample, mask);
      const { specifiedLists, content } = decodeTrustList(buf);
      expect(specifiedLists).toBe(mask);
      expect(content).toEqual(sample);
    }
  });

  it("writes the wire layout of OPC 10000-12 §7.8.2: UInt32 mask, then Int32 count and Int32-length-prefixed bytes per list", () => {
    const tiny: TrustListContent = { trustedCertificates: [bytes("0102")], trustedCrls: [], issuerCertificates: [bytes(""), bytes("ff")], issuerCrls: [] };
    const expected = Buffer.concat([
      uint32(5),
      int32(1), int32(2), bytes("0102"),
      int32(0),
      int32(2), int32(0), int32(1), bytes("ff"),
      int32(0),
    ]);
    const buf = encodeTrustList(tiny, 5);
    expect(buf.toString("hex")).toBe(expected.toString("hex"));
    expect(encodedTrustListSize(tiny)).toBe(expected.length);
    expect(decodeTrustList(expected)).toEqual({ specifiedLists: 5, content: tiny });
  });

  it("decodes null arrays (count -1) as empty lists", () => {
    const buf = Buffer.concat([uint32(1), int32(1), int32(3), bytes("308100"), int32(-1), int32(-1), int32(-1)]);
    const { specifiedLists, content } = decodeTrustList(buf);
    expect(specifiedLists).toBe(1);
    expect(content).toEqual({ trustedCertificates: [bytes("308100")], trustedCrls: [], issuerCertificates: [], issuerCrls: [] });
  });

  it("an empty trust list is 20 bytes", () => {
    const buf = encodeTrustList(emptyTrustList(), 15);
    expect(buf.length).toBe(20);
    expect(decodeTrustList(buf)).toEqual({ specifiedLists: 15, content: emptyTrustList() });
  });

  it("decoded buffers do not alias the input", () => {
    const buf = encodeTrustList(sample, 15);
    const { content } = decodeTrustList(buf);
    buf.fill(0);
    expect(content.trustedCertificates[0]).toEqual(bytes("3082aa01"));
  });

  it("refuses garbage with BadDecodingError", () => {
    const good = encodeTrustList(sample, 15);
    throwsGdsError(() => decodeTrustList(Buffer.alloc(0)), "BadDecodingError");
    throwsGdsError(() => decodeTrustList(bytes("0f0000")), "BadDecodingError");
    throwsGdsError(() => decodeTrustList(good.subarray(0, good.length - 1)), "BadDecodingError");
    throwsGdsError(() => decodeTrustList(Buffer.concat([good, bytes("00")])), "BadDecodingError", "extra byte");
    // a length prefix that runs past the end
    throwsGdsError(() => decodeTrustList(Buffer.concat([uint32(1), int32(1), int32(1000), bytes("30")])), "BadDecodingError");
    // a count far beyond the data
    throwsGdsError(() => decodeTrustList(Buffer.concat([uint32(1), int32(0x7fffffff)])), "BadDecodingError");
    // negative counts other than -1
    throwsGdsError(() => decodeTrustList(Buffer.concat([uint32(1), int32(-2), int32(0), int32(0), int32(0)])), "BadDecodingError");
    // a null element
    throwsGdsError(() => decodeTrustList(Buffer.concat([uint32(1), int32(1), int32(-1), int32(0), int32(0), int32(0)])), "BadDecodingError", "null");
    // SpecifiedLists beyond TrustListMasks.All
    throwsGdsError(() => decodeTrustList(Buffer.concat([uint32(16), int32(0), int32(0), int32(0), int32(0)])), "BadDecodingError", "SpecifiedLists");
  });

  it("refuses to encode a SpecifiedLists outside 0..15", () => {
    throwsGdsError(() => encodeTrustList(sample, 16), "BadInvalidArgument");
    throwsGdsError(() => encodeTrustList(sample, -1), "BadInvalidArgument");
  });

  it("maskTrustList keeps the masked lists and empties the others", () => {
    expect(maskTrustList(sample, 0)).toEqual(emptyTrustList());
    expect(maskTrustList(sample, 15)).toEqual(sample);
    expect(maskTrustList(sample, 2 | 8)).toEqual({ trustedCertificates: [], trustedCrls: sample.trustedCrls, issuerCertificates: [], issuerCrls: sample.issuerCrls });
  });
});
