import { describe, expect, it } from "@jest/globals";
import { GdsError } from "../../src/errors.js";

describe("toolchain", () => {
  it("runs ESM TypeScript under jest", () => {
    const e = new GdsError("BadNotFound", "x");
    expect(e.statusName).toBe("BadNotFound");
    expect(process.versions.node.split(".")[0]).toBe("22");
  });
});
