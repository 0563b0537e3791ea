import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import fs from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { appendDurably, makeDirs } from "../../src/durable-fs.js";

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gds-durable-fs-"));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A FileHandle whose write fails after `partial` bytes reached the "file"; records the calls. */
function failingHandle(options: { partial: number; truncateFails: boolean }) {
  const calls: string[] = [];
  const fh = {
    async write(data: Buffer, off: number, len: number) {
      calls.push(`write ${off} ${len}`);
      if (off === 0 && options.partial > 0) return { bytesWritten: Math.min(options.partial, len), buffer: data };
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    },
    async datasync() {
      calls.push("datasync");
    },
    async truncate(size: number) {
      calls.push(`truncate ${size}`);
      if (options.truncateFails) throw new Error("EIO: i/o error");
    },
    async sync() {
      calls.push("sync");
    },
  };
  return { fh: fh as unknown as FileHandle, calls };
}

describe("appendDurably", () => {
  it("appends all of the data and fdatasyncs it", async () => {
    const file = path.join(dir, "log");
    fs.writeFileSync(file, "one\n");
    const fh = await open(file, "a");
    try {
      await expect(appendDurably(fh, Buffer.from("two\nthree\n"), 4)).resolves.toEqual({ ok: true });
    } finally {
      await fh.close();
    }
    expect(fs.readFileSync(file, "utf8")).toBe("one\ntwo\nthree\n");
  });

  it("cuts a failed append back to the durable size and says it rolled back", async () => {
    const { fh, calls } = failingHandle({ partial: 3, truncateFails: false });
    const result = await appendDurably(fh, Buffer.from("0123456789"), 42);
    expect(result).toEqual({ ok: false, error: expect.objectContaining({ code: "ENOSPC" }), rolledBack: true });
    expect(calls).toEqual(["write 0 10", "write 3 7", "truncate 42", "sync"]);
  });

  it("says it did not roll back when even the truncation fails, and reports the append's error", async () => {
    const { fh, calls } = failingHandle({ partial: 0, truncateFails: true });
    const result = await appendDurably(fh, Buffer.from("0123456789"), 7);
    expect(result).toEqual({ ok: false, error: expect.objectContaining({ code: "ENOSPC" }), rolledBack: false });
    expect(calls).toEqual(["write 0 10", "truncate 7"]);
  });
});

describe("makeDirs", () => {
  it("creates the missing levels with the mode and leaves existing ones alone", () => {
    const target = path.join(dir, "a", "b", "c");
    makeDirs(target, 0o700);
    for (const d of [path.join(dir, "a"), path.join(dir, "a", "b"), target]) {
      expect(fs.statSync(d).mode & 0o777).toBe(0o700);
    }
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700); // mkdtemp's own mode, untouched
    expect(() => makeDirs(target, 0o700)).not.toThrow();
  });
});
