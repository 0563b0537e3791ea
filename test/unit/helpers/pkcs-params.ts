import { children, content, readOid, readRoot, readSmallInteger, type DerNode } from "../../../src/ca/der.js";

/** Reads the protection parameters out of encrypted PKCS#8 and PKCS#12 files, to check them. */

const NAMES: Record<string, string> = {
  "1.2.840.113549.1.5.12": "pbkdf2",
  "1.2.840.113549.2.7": "hmacWithSHA1",
  "1.2.840.113549.2.9": "hmacWithSHA256",
  "2.16.840.1.101.3.4.1.42": "aes-256-cbc",
};
const name = (oid: string) => NAMES[oid] ?? oid;

/** The DER of the first PEM block. */
export function pemDer(pem: string): Buffer {
  const m = /-----BEGIN [A-Z ]+-----([\s\S]+?)-----END/.exec(pem);
  if (!m) throw new Error("no PEM block");
  return Buffer.from(m[1].replace(/\s+/g, ""), "base64");
}

export interface Pbes2Params {
  kdf: string;
  prf: string;
  cipher: string;
  iterations: number;
}

/** EncryptedPrivateKeyInfo → its PBES2 parameters (throws if it is not PBES2). */
export function pbes2Of(der: Buffer, node: DerNode = readRoot(der)): Pbes2Params {
  const [algId] = children(der, node);
  const [oid, params] = children(der, algId);
  if (readOid(der, oid) !== "1.2.840.113549.1.5.13") throw new Error(`not PBES2: ${readOid(der, oid)}`);
  const [kdf, scheme] = children(der, params);
  const [kdfOid, kdfParams] = children(der, kdf);
  const p = children(der, kdfParams); // salt, iterationCount, [keyLength], [prf]
  const iterations = readSmallInteger(der, p[1]);
  const last = p[p.length - 1];
  const prf = last.tag === 0x30 ? name(readOid(der, children(der, last)[0])) : "hmacWithSHA1";
  return { kdf: name(readOid(der, kdfOid)), prf, cipher: name(readOid(der, children(der, scheme)[0])), iterations };
}

/** PFX → MAC digest OID and iterations, and the shrouded key bag's PBES2 parameters. */
export function pfxParams(pfx: Buffer): { macDigest: string; macIterations: number; keyBag: Pbes2Params } {
  const [, authSafeInfo, macData] = children(pfx, readRoot(pfx));
  const [digestInfo, , iterNode] = children(pfx, macData);
  const macDigest = readOid(pfx, children(pfx, children(pfx, digestInfo)[0])[0]);
  const macIterations = readSmallInteger(pfx, iterNode);
  // authSafe: ContentInfo(data) → [0] → OCTET STRING → SEQUENCE OF ContentInfo
  const octets = content(pfx, children(pfx, children(pfx, authSafeInfo)[1])[0]);
  const authSafe = readRoot(octets);
  for (const ci of children(octets, authSafe)) {
    const inner = content(octets, children(octets, children(octets, ci)[1])[0]);
    const safeContents = readRoot(inner);
    for (const bag of children(inner, safeContents)) {
      const [bagId, bagValue] = children(inner, bag);
      if (readOid(inner, bagId) === "1.2.840.113549.1.12.10.1.2") {
        return { macDigest, macIterations, keyBag: pbes2Of(inner, children(inner, bagValue)[0]) };
      }
    }
  }
  throw new Error("no pkcs8ShroudedKeyBag in the PFX");
}
