import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { defaultSettings, loadConfig, settingsInForce, SETTING_DESCRIPTORS, START_FLAGS } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { START_FLAG_HELP, startUsage } from "../../src/cli/start-usage.js";
import { isNpmWrapperShell } from "../../src/cli/npm-wrapper-shell.js";

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), "gds-start-settings-"));

describe("gds start --help", () => {
  const usage = startUsage();

  it.each(START_FLAGS)("lists --%s with its env var and a description", (flag) => {
    const d = SETTING_DESCRIPTORS.find((s) => s.flag === flag);
    expect(d).toBeDefined();
    expect(usage).toMatch(new RegExp(`^  --${flag} [A-Z]+ *(\\n +)?${d!.env} \\(`, "m"));
    expect(START_FLAG_HELP[flag]).toBeDefined();
  });

  it("has no description of a flag that does not exist", () => {
    expect(Object.keys(START_FLAG_HELP).filter((f) => !START_FLAGS.includes(f))).toEqual([]);
  });

  it("states the defaults as an operator writes them", () => {
    expect(usage).toContain("GDS_AUTO_APPROVE (true)");
    expect(usage).toContain("GDS_CERT_LIFETIME (1y)");
    expect(usage).toContain("GDS_CA_LIFETIME (20y)");
    expect(usage).toContain("GDS_PORT (4840)");
    expect(usage).toContain("GDS_ADMIN_PASSWORD_FILE (none)");
  });

  it("keeps lines short enough for a terminal", () => {
    for (const line of usage.split("\n")) expect(line.length).toBeLessThanOrEqual(100);
  });
});

describe("settings in force", () => {
  it("lists every setting by env var, durations as written, and never the admin password", () => {
    const d = dir();
    const config = loadConfig({ env: { GDS_DATA_DIR: d, GDS_AUTO_APPROVE: "false", GDS_ADMIN_PASSWORD: "very-secret-pw" }, flags: {}, cwd: "/" });
    const { settings, notDefault } = settingsInForce(config);
    expect(settings.GDS_AUTO_APPROVE).toBe("false");
    expect(settings.GDS_CERT_LIFETIME).toBe("1y");
    expect(settings.GDS_DATA_DIR).toBe(d);
    expect(settings.GDS_ADMIN_PASSWORD).toBe("(set)");
    expect(JSON.stringify(settings)).not.toContain("very-secret-pw");
    expect(notDefault).toEqual(expect.arrayContaining(["GDS_AUTO_APPROVE", "GDS_ADMIN_PASSWORD"]));
    expect(notDefault).not.toContain("GDS_PORT");
    expect(Object.keys(settings).length).toBeGreaterThanOrEqual(Object.keys(defaultSettings()).length);
  });
});

describe("GDS_ADMIN_PASSWORD_FILE", () => {
  it("reads the password; one trailing newline is not part of it", () => {
    const d = dir();
    const f = path.join(d, "pw");
    fs.writeFileSync(f, "correct horse battery\n");
    expect(loadConfig({ env: { GDS_DATA_DIR: d }, flags: { "admin-password-file": f }, cwd: "/" }).adminPassword).toBe("correct horse battery");
    fs.writeFileSync(f, "correct horse battery");
    expect(loadConfig({ env: { GDS_DATA_DIR: d, GDS_ADMIN_PASSWORD_FILE: f }, flags: {}, cwd: "/" }).adminPassword).toBe("correct horse battery");
    fs.writeFileSync(f, "  spaces are kept  \r\n");
    expect(loadConfig({ env: { GDS_DATA_DIR: d, GDS_ADMIN_PASSWORD_FILE: f }, flags: {}, cwd: "/" }).adminPassword).toBe("  spaces are kept  ");
  });

  it.each([
    ["a missing file", undefined, {}],
    ["a short password", "short\n", {}],
    ["two lines", "first-line\nsecond-line\n", {}],
    ["GDS_ADMIN_PASSWORD as well", "correct horse battery\n", { GDS_ADMIN_PASSWORD: "another-password" }],
  ])("refuses %s, naming GDS_ADMIN_PASSWORD_FILE", (_what, content, env) => {
    const d = dir();
    const f = path.join(d, "pw");
    if (content !== undefined) fs.writeFileSync(f, content);
    let err: unknown;
    try {
      loadConfig({ env: { GDS_DATA_DIR: d, GDS_ADMIN_PASSWORD_FILE: f, ...env }, flags: {}, cwd: "/" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe("GDS_ADMIN_PASSWORD_FILE");
  });
});

describe("npm's wrapper shell", () => {
  it("is a shell run with -c by npm", () => {
    expect(isNpmWrapperShell({ npm_lifecycle_event: "npx" }, ["sh", "-c", "'gds' start"])).toBe(true);
    expect(isNpmWrapperShell({ npm_lifecycle_event: "start" }, ["/bin/sh", "-c", "node dist/src/cli.js start"])).toBe(true);
  });

  it("is nothing else: no npm, npm itself as the parent, a login shell, systemd", () => {
    expect(isNpmWrapperShell({}, ["sh", "-c", "gds start"])).toBe(false);
    expect(isNpmWrapperShell({ npm_lifecycle_event: "start" }, ["npm", "start"])).toBe(false);
    expect(isNpmWrapperShell({ npm_lifecycle_event: "start" }, ["-bash"])).toBe(false);
    expect(isNpmWrapperShell({ npm_lifecycle_event: "start" }, ["/sbin/init"])).toBe(false);
    expect(isNpmWrapperShell({ npm_lifecycle_event: "start" }, undefined)).toBe(false);
  });
});
