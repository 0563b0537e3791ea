import { describe, expect, it } from "@jest/globals";
import { ArchiveError } from "../../src/backup/archive.js";
import { decryptArchive, encryptArchive, HEADER_LENGTH, isEncryptedArchive, MIN_SCRYPT, readEncryptionHeader } from "../../src/backup/encryption.js";

const PASS = "correct horse battery staple";
const PLAIN = Buffer.from("\x1f\x8b pretend this is a gzip'd tar with -----BEGIN PRIVATE KEY----- inside");

describe("backup encryption (AES-256-GCM, scrypt)", () => {
  it("round trip; header: magic, version, scrypt parameters, fresh salt and nonce; no plaintext in the output", async () => {
    const a = await encryptArchive(PLAIN, PASS, MIN_SCRYPT);
    const b = await encryptArchive(PLAIN, PASS, MIN_SCRYPT);
    expect(isEncryptedArchive(a)).toBe(true);
    expect(a.subarray(0, 8).toString("ascii")).toBe("GDSBKENC");
    const h = readEncryptionHeader(a);
    expect(h).toMatchObject({ version: 1, logN: 15, r: 8, p: 1 });
    expect(h.salt).toHaveLength(16);
    expect(h.nonce).toHaveLength(12);
    expect(readEncryptionHeader(b).salt.equals(h.salt)).toBe(false);
    expect(a.length).toBe(HEADER_LENGTH + PLAIN.length + 16);
    expect(a.includes("PRIVATE KEY")).toBe(false);
    expect(await decryptArchive(a, PASS)).toEqual(PLAIN);
    // The passphrase is NFC-normalised: the same text typed as decomposed characters decrypts.
    const nfc = await encryptArchive(PLAIN, "pässphrase-très-longue", MIN_SCRYPT);
    expect(await decryptArchive(nfc, "pässphrase-très-longue".normalize("NFD"))).toEqual(PLAIN);
  });

  it("the default parameters are N=2^17, r=8, p=1", async () => {
    expect(readEncryptionHeader(await encryptArchive(PLAIN, PASS))).toMatchObject({ logN: 17, r: 8, p: 1 });
  });

  it("wrong passphrase, any flipped byte (header, ciphertext, tag) and truncation are refused", async () => {
    const a = await encryptArchive(PLAIN, PASS, MIN_SCRYPT);
    await expect(decryptArchive(a, `${PASS}!`)).rejects.toThrow(/wrong passphrase, or the archive was changed or damaged/);
    for (const at of [13, 30, HEADER_LENGTH, HEADER_LENGTH + 10, a.length - 1]) {
      const bad = Buffer.from(a);
      bad[at] ^= 0x01;
      await expect(decryptArchive(bad, PASS)).rejects.toThrow(ArchiveError);
    }
    await expect(decryptArchive(a.subarray(0, 40), PASS)).rejects.toThrow(/truncated/);
    await expect(decryptArchive(a.subarray(0, a.length - 1), PASS)).rejects.toThrow(/authentication failed/);
  });

  it("weaker or other key-derivation parameters in a file are refused before any key is derived", async () => {
    const a = await encryptArchive(PLAIN, PASS, MIN_SCRYPT);
    const withParams = (logN: number, r: number, p: number) => {
      const b = Buffer.from(a);
      b[10] = logN;
      b[11] = r;
      b[12] = p;
      return b;
    };
    await expect(decryptArchive(withParams(14, 8, 1), PASS)).rejects.toThrow(/scrypt N=2\^14\) is weaker than the minimum N=2\^15/);
    await expect(decryptArchive(withParams(1, 8, 1), PASS)).rejects.toThrow(/weaker/);
    await expect(decryptArchive(withParams(15, 1, 1), PASS)).rejects.toThrow(/r=1, p=1; this GDS uses only r=8, p=1/);
    await expect(decryptArchive(withParams(15, 8, 2), PASS)).rejects.toThrow(/only r=8, p=1/);
    await expect(decryptArchive(withParams(40, 8, 1), PASS)).rejects.toThrow(/more than the maximum N=2\^20/);
    const v2 = Buffer.from(a);
    v2[8] = 2;
    await expect(decryptArchive(v2, PASS)).rejects.toThrow(/encryption format version is 2/);
    await expect(encryptArchive(PLAIN, PASS, { logN: 14, r: 8, p: 1 })).rejects.toThrow(/weaker/);
  });
});
