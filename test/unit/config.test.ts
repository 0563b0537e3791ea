import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { loadConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), "gds-config-"));

describe("loadConfig", () => {
  it("uses the defaults", () => {
    const d = dir();
    const c = loadConfig({ env: { GDS_DATA_DIR: d }, flags: {}, cwd: "/" });
    expect(c).toMatchObject({ port: 4840, hostname: os.hostname(), dataDir: d, logLevel: "info", acceptUnknownCertificates: true });
    expect(c.adminPassword).toBeUndefined();
  });

  it("takes env over flag over config file", () => {
    const d = dir();
    fs.writeFileSync(path.join(d, "gds.config.json"), JSON.stringify({ port: 4001, logLevel: "debug", hostname: "from-file" }));
    const c = loadConfig({ env: { GDS_DATA_DIR: d, GDS_PORT: "4003" }, flags: { port: "4002", hostname: "from-flag" }, cwd: "/" });
    expect(c.port).toBe(4003);
    expect(c.hostname).toBe("from-flag");
    expect(c.logLevel).toBe("debug");
  });

  it("resolves a relative data dir against the working directory", () => {
    const cwd = dir();
    expect(loadConfig({ env: {}, flags: { "data-dir": "state" }, cwd }).dataDir).toBe(path.join(cwd, "state"));
  });

  it.each([
    [{ GDS_PORT: "0" }, "GDS_PORT"],
    [{ GDS_PORT: "65536" }, "GDS_PORT"],
    [{ GDS_PORT: "4840.5" }, "GDS_PORT"],
    [{ GDS_LOG_LEVEL: "chatty" }, "GDS_LOG_LEVEL"],
    [{ GDS_HOSTNAME: "bad host" }, "GDS_HOSTNAME"],
    [{ GDS_ADMIN_PASSWORD: "short" }, "GDS_ADMIN_PASSWORD"],
    [{ GDS_ACCEPT_UNKNOWN_CERTIFICATES: "maybe" }, "GDS_ACCEPT_UNKNOWN_CERTIFICATES"],
  ])("names the bad setting %j", (env, setting) => {
    const d = dir();
    let err: unknown;
    try {
      loadConfig({ env: { GDS_DATA_DIR: d, ...env }, flags: {}, cwd: "/" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe(setting);
  });

  it("refuses malformed and unknown config file content", () => {
    const d = dir();
    fs.writeFileSync(path.join(d, "gds.config.json"), "[1,2]");
    expect(() => loadConfig({ env: { GDS_DATA_DIR: d }, flags: {}, cwd: "/" })).toThrow(/JSON object/);
    fs.writeFileSync(path.join(d, "gds.config.json"), JSON.stringify({ prot: 1 }));
    expect(() => loadConfig({ env: { GDS_DATA_DIR: d }, flags: {}, cwd: "/" })).toThrow(/unknown key "prot"/);
    fs.writeFileSync(path.join(d, "gds.config.json"), JSON.stringify({ port: "x" }));
    expect(() => loadConfig({ env: { GDS_DATA_DIR: d }, flags: {}, cwd: "/" })).toThrow(/gds\.config\.json: port/);
  });
});
