import net from "node:net";

/**
 * IP addresses in subjectAltName iPAddress entries: 4 bytes (IPv4) or 16 bytes (IPv6).
 * Text form: dotted quad for IPv4, RFC 5952 (lower case, longest zero run as "::") for IPv6.
 */

/** Text → bytes; undefined when `s` is not an IP address. IPv6 zone ids ("%eth0") are refused. */
export function ipToBytes(s: string): Buffer | undefined {
  const v = net.isIP(s);
  if (v === 4) return Buffer.from(s.split(".").map(Number));
  if (v !== 6 || s.includes("%")) return undefined;
  let text = s;
  // An embedded IPv4 tail ("::ffff:10.0.0.1") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split(".").map(Number);
    text = text.slice(0, v4.index) + ((b[0]! << 8) | b[1]!).toString(16) + ":" + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail === undefined ? [] : tail ? tail.split(":") : [];
  const fill = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(fill).fill("0"), ...tailGroups];
  if (groups.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Bytes → text; undefined for a length other than 4 or 16. */
export function bytesToIp(b: Buffer): string | undefined {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // Longest run (length ≥ 2) of zero groups, first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

/** The canonical text of an IP address, or undefined when `s` is not one. */
export function normaliseIp(s: string): string | undefined {
  const b = ipToBytes(s);
  return b ? bytesToIp(b) : undefined;
}
