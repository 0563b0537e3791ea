import crypto from "node:crypto";
import { GdsError } from "../errors.js";

/**
 * Certificate serial numbers as hex strings. One canonical form everywhere (issue(), the store,
 * certificateInfo(), CRL entries): lower case, the magnitude's bytes without leading zero bytes,
 * an even number of digits. `randomSerialHex()` makes 16 random bytes whose first byte is in
 * 0x01..0x7f, so the value is positive, its DER INTEGER has no 0x00 pad and the canonical form
 * is always 32 digits.
 */

export const MAX_SERIAL_BYTES = 20; // RFC 5280 §4.1.2.2

export function randomSerialHex(): string {
  const b = crypto.randomBytes(16);
  b[0] = (b[0]! & 0x7f) || 0x01;
  return b.toString("hex");
}

/** DER INTEGER content bytes → canonical hex (a negative, malformed serial keeps its two's-complement bytes). */
export function serialHexFromBytes(intContent: Buffer): string {
  let c = intContent;
  if (c.length > 0 && (c[0]! & 0x80) === 0) while (c.length > 1 && c[0] === 0) c = c.subarray(1);
  return c.toString("hex");
}

/** Canonical form of a serial given as hex (any case, optional ':' separators). Throws GdsError BadInvalidArgument. */
export function normaliseSerialHex(hex: string): string {
  return serialBytes(hex).toString("hex");
}

/** Magnitude bytes of a positive serial given as hex. Throws GdsError BadInvalidArgument. */
export function serialBytes(hex: string): Buffer {
  const h = String(hex).replace(/:/g, "").toLowerCase();
  if (!/^[0-9a-f]+$/.test(h)) throw new GdsError("BadInvalidArgument", `serial number ${JSON.stringify(hex)} is not hex`);
  let b = Buffer.from(h.length % 2 ? "0" + h : h, "hex");
  while (b.length > 1 && b[0] === 0) b = b.subarray(1);
  if (b.length === 1 && b[0] === 0) throw new GdsError("BadInvalidArgument", "serial number must be positive (not zero)");
  if (b.length > MAX_SERIAL_BYTES || (b.length === MAX_SERIAL_BYTES && b[0]! & 0x80)) {
    throw new GdsError("BadInvalidArgument", `serial number is longer than ${MAX_SERIAL_BYTES} octets`);
  }
  return b;
}
