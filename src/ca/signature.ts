import crypto, { type KeyObject } from "node:crypto";
import { DER_NULL, DerError, Tag, children, derOid, derSequence, expectTag, readNode, readOid, readSmallInteger, type DerNode } from "./der.js";

/**
 * Signature algorithms: AlgorithmIdentifier ↔ node:crypto, and signing/verifying off the event
 * loop. `crypto.sign(alg, data, key, callback)` and `crypto.verify(…, callback)` run in the libuv
 * thread pool, so signatures in flight use every core and never block the event loop.
 */

interface SigAlg {
  /** node:crypto digest name; null for Ed25519/Ed448. */
  hash: string | null;
  kind: "rsa" | "ecdsa" | "eddsa";
}

const SIG_ALGS: Record<string, SigAlg> = {
  "1.2.840.113549.1.1.5": { hash: "sha1", kind: "rsa" },
  "1.2.840.113549.1.1.14": { hash: "sha224", kind: "rsa" },
  "1.2.840.113549.1.1.11": { hash: "sha256", kind: "rsa" },
  "1.2.840.113549.1.1.12": { hash: "sha384", kind: "rsa" },
  "1.2.840.113549.1.1.13": { hash: "sha512", kind: "rsa" },
  "1.2.840.10045.4.1": { hash: "sha1", kind: "ecdsa" },
  "1.2.840.10045.4.3.1": { hash: "sha224", kind: "ecdsa" },
  "1.2.840.10045.4.3.2": { hash: "sha256", kind: "ecdsa" },
  "1.2.840.10045.4.3.3": { hash: "sha384", kind: "ecdsa" },
  "1.2.840.10045.4.3.4": { hash: "sha512", kind: "ecdsa" },
  "1.3.101.112": { hash: null, kind: "eddsa" },
  "1.3.101.113": { hash: null, kind: "eddsa" },
};

const RSASSA_PSS = "1.2.840.113549.1.1.10";

const HASH_OIDS: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.4": "sha224",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

const OID_NAMES: Record<string, string> = {
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
  "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
};

/** Digests of the signature algorithms node:crypto cannot verify (so they are only named). */
const LEGACY_HASHES: Record<string, string> = { "1.2.840.113549.1.1.2": "md2", "1.2.840.113549.1.1.4": "md5" };

export function signatureAlgorithmName(oid: string): string {
  return OID_NAMES[oid] ?? oid;
}

/** How to verify a signature made with the AlgorithmIdentifier at `node`. Throws DerError when unsupported. */
interface VerifyParams {
  hash: string | null;
  pss?: { saltLength: number };
}

function verifyParamsOf(buf: Buffer, node: DerNode): VerifyParams {
  const [oidNode, params] = children(buf, expectTag(node, Tag.SEQUENCE, "AlgorithmIdentifier"));
  const oid = readOid(buf, oidNode!);
  const alg = SIG_ALGS[oid];
  if (alg) return { hash: alg.hash };
  if (oid !== RSASSA_PSS) throw new DerError(`unsupported signature algorithm ${oid}`);
  // RSASSA-PSS-params: [0] hash (default sha1), [1] MGF1 (default with sha1), [2] salt length (default 20)
  let hash = "sha1";
  let mgfHash = "sha1";
  let saltLength = 20;
  if (params && params.tag === Tag.SEQUENCE) {
    for (const p of children(buf, params)) {
      const inner = readNode(buf, p.contentStart, p.end);
      if (p.tag === 0xa0) {
        const h = HASH_OIDS[readOid(buf, children(buf, inner)[0]!)];
        if (!h) throw new DerError("unsupported RSASSA-PSS hash");
        hash = h;
      } else if (p.tag === 0xa1) {
        const [mgfOid, mgfParams] = children(buf, inner);
        if (readOid(buf, mgfOid!) !== "1.2.840.113549.1.1.8" || !mgfParams) throw new DerError("unsupported RSASSA-PSS mask generation");
        const h = HASH_OIDS[readOid(buf, children(buf, mgfParams)[0]!)];
        if (!h) throw new DerError("unsupported RSASSA-PSS MGF1 hash");
        mgfHash = h;
      } else if (p.tag === 0xa2) {
        saltLength = readSmallInteger(buf, inner);
      }
    }
  }
  if (mgfHash !== hash) throw new DerError("RSASSA-PSS with an MGF1 hash different from the message hash is not supported");
  return { hash, pss: { saltLength } };
}

/**
 * The digest of the signature algorithm at `node` ("sha1", "sha256", "md5", …; for RSASSA-PSS the
 * message digest of its parameters), null for EdDSA, undefined when the algorithm is unknown or
 * malformed. Never throws: it names what a policy refuses, before anything is verified.
 */
export function signatureHashName(buf: Buffer, node: DerNode): string | null | undefined {
  try {
    const oid = readOid(buf, children(buf, expectTag(node, Tag.SEQUENCE, "AlgorithmIdentifier"))[0]!);
    if (LEGACY_HASHES[oid]) return LEGACY_HASHES[oid];
    return verifyParamsOf(buf, node).hash;
  } catch {
    return undefined;
  }
}

/**
 * Verifies `signature` over `data` with the public key `spki`, the algorithm given by the DER
 * AlgorithmIdentifier at `algNode` in `algBuf`. Resolves false on a wrong signature; throws
 * DerError on an unsupported or malformed algorithm or key.
 */
export async function verifySignature(algBuf: Buffer, algNode: DerNode, data: Buffer, spki: Buffer | KeyObject, signature: Buffer): Promise<boolean> {
  const params = verifyParamsOf(algBuf, algNode);
  let key: KeyObject;
  try {
    key = Buffer.isBuffer(spki) ? crypto.createPublicKey({ key: spki, format: "der", type: "spki" }) : spki;
  } catch {
    throw new DerError("public key cannot be read");
  }
  const keyArg = params.pss ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: params.pss.saltLength } : key;
  return new Promise<boolean>((resolve) => {
    crypto.verify(params.hash, data, keyArg, signature, (err, ok) => resolve(err ? false : ok));
  });
}

/** The AlgorithmIdentifier and digest a CA key signs with. */
export interface SigningAlgorithm {
  algorithmIdentifier: Buffer;
  hash: string | null;
  name: string;
}

/** sha256WithRSAEncryption for RSA; ecdsa-with-SHA256/384/512 by curve for EC. */
export function signingAlgorithmFor(key: KeyObject): SigningAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === "rsa") {
    return { algorithmIdentifier: derSequence(derOid("1.2.840.113549.1.1.11"), DER_NULL), hash: "sha256", name: "sha256WithRSAEncryption" };
  }
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const [oid, hash, name] =
      curve === "secp384r1"
        ? ["1.2.840.10045.4.3.3", "sha384", "ecdsa-with-SHA384"]
        : curve === "secp521r1"
          ? ["1.2.840.10045.4.3.4", "sha512", "ecdsa-with-SHA512"]
          : ["1.2.840.10045.4.3.2", "sha256", "ecdsa-with-SHA256"];
    return { algorithmIdentifier: derSequence(derOid(oid)), hash, name };
  }
  throw new Error(`CA keys of type ${type} are not supported (RSA or ECDSA only)`);
}

/** Signs in the libuv thread pool. */
export function signAsync(hash: string | null, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    crypto.sign(hash, data, key, (err, sig) => (err ? reject(err) : resolve(sig)));
  });
}
