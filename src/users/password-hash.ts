import crypto from "node:crypto";
import { promisify } from "node:util";

const scryptRaw = promisify(crypto.scrypt) as (pw: crypto.BinaryLike, salt: crypto.BinaryLike, keylen: number, opts: crypto.ScryptOptions) => Promise<Buffer>;

/**
 * At most two scrypt computations at once: libuv's pool has four threads, shared with fsync and
 * the CA's signatures; a burst of logins must not hold all four and stall acknowledged writes.
 */
const MAX_CONCURRENT_SCRYPT = 2;
let running = 0;
const waiting: (() => void)[] = [];

async function scrypt(pw: crypto.BinaryLike, salt: crypto.BinaryLike, keylen: number, opts: crypto.ScryptOptions): Promise<Buffer> {
  if (running >= MAX_CONCURRENT_SCRYPT) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await scryptRaw(pw, salt, keylen, opts);
  } finally {
    // Hand the slot straight to the next waiter (running stays the same), or free it.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

// N=2^15, r=8, p=1: ~50 ms on these machines, 32 MiB of memory; runs in libuv's thread pool,
// so it does not block other sessions.
const PARAMS = { N: 1 << 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
const MAX_MEM = 64 * 1024 * 1024;

/** Encoded as `scrypt$N$r$p$<salt b64>$<hash b64>` so parameters can change later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LENGTH, { ...PARAMS, maxmem: MAX_MEM });
  return ["scrypt", PARAMS.N, PARAMS.r, PARAMS.p, salt.toString("base64"), hash.toString("base64")].join("$");
}

/**
 * The stored hash is refused (`weak`) unless it is at least as costly as the ones this server
 * makes, and not absurdly costly: a hash with small scrypt parameters, a short salt or a short
 * key (e.g. from a crafted backup) would make guessing cheap, so it never verifies. Its user
 * cannot log in until an admin sets the password again.
 */
export function hashStrength(encoded: string): "ok" | "weak" | "malformed" {
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return "malformed";
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((x) => Number.isSafeInteger(x) && x > 0)) return "malformed";
  const salt = Buffer.from(parts[4], "base64");
  const hash = Buffer.from(parts[5], "base64");
  if (N < PARAMS.N || r < PARAMS.r || p < PARAMS.p || salt.length < 16 || hash.length < KEY_LENGTH) return "weak";
  // At most what maxmem allows (128·N·r bytes) and a few times the server's own cost.
  if (128 * N * r > MAX_MEM || p > 4 || hash.length > 64) return "malformed";
  return "ok";
}

export class WeakPasswordHash extends Error {
  constructor(readonly strength: "weak" | "malformed") {
    super(strength === "weak" ? "the stored password hash is weaker than this server's scrypt parameters" : "the stored password hash is not a valid scrypt hash");
  }
}

/** Throws WeakPasswordHash for a stored hash `hashStrength` does not pass. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const strength = hashStrength(encoded);
  if (strength !== "ok") throw new WeakPasswordHash(strength);
  const parts = encoded.split("$");
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], "base64");
  const expected = Buffer.from(parts[5], "base64");
  const actual = await scrypt(password, salt, expected.length, { N, r, p, maxmem: MAX_MEM });
  return actual.length === expected.length && crypto.timingSafeEqual(actual, expected);
}

/** A hash that matches nothing: verifying an unknown user costs as much as a known one. */
export const DUMMY_HASH = `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${Buffer.alloc(16).toString("base64")}$${Buffer.alloc(KEY_LENGTH).toString("base64")}`;
