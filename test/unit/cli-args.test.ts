import { describe, expect, it } from "@jest/globals";
import { StatusCodes } from "node-opcua";
import type { AdminCall, AdminSessionOptions } from "../../src/cli/admin-client.js";
import { errorForStatus, statusNameOfError } from "../../src/cli/admin-client.js";
import { runAdminCommand, type AdminCommand } from "../../src/cli/admin-commands.js";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { defaultEndpoint, parseCli, resolveDataDir, resolveRoles, type CaImportCommand, type Env } from "../../src/cli/args.js";
import { CliError, ExitCode } from "../../src/cli/cli-error.js";
import {
  applicationName,
  applicationTypeName,
  formatApplication,
  formatApplicationsTable,
  formatDone,
  formatRequest,
  formatRequestsList,
  formatTable,
  formatUsersTable,
  parseJsonResult,
} from "../../src/cli/format.js";
import { runCli, type CliDeps } from "../../src/cli/main.js";
import { CA_USAGE, LEAF_USAGE, MAIN_USAGE, REQUESTS_USAGE } from "../../src/cli/usage.js";

const ENV: Env = { GDS_ADMIN_PASSWORD: "pw-admin-123" };

function parseError(argv: string[], env: Env = ENV): CliError {
  try {
    parseCli(argv, env);
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error(`parseCli(${argv.join(" ")}) did not fail`);
}

describe("parseCli", () => {
  it("prints help for gds, every command and every subcommand", () => {
    for (const argv of [["--help"], ["-h"], ["help"]]) {
      expect(parseCli(argv, {})).toEqual({ kind: "help", text: MAIN_USAGE });
    }
    expect(parseCli(["apps", "--help"], {})).toMatchObject({ kind: "help", text: expect.stringContaining("gds apps") });
    expect(parseCli(["users", "-h"], {})).toMatchObject({ kind: "help", text: expect.stringContaining("gds users") });
    expect(parseCli(["requests", "--help"], {})).toEqual({ kind: "help", text: REQUESTS_USAGE });
    expect(parseCli(["ca", "-h"], {})).toEqual({ kind: "help", text: CA_USAGE });
    for (const leaf of ["requests list", "requests approve", "requests reject", "ca import"]) expect(LEAF_USAGE[leaf]).toBeTruthy();
    for (const leaf of Object.keys(LEAF_USAGE)) {
      const argv = [...leaf.split(" "), "-h"];
      // help wins over missing arguments, unknown flags and a missing password
      expect(parseCli([...argv, "--bogus"], {})).toEqual({ kind: "help", text: LEAF_USAGE[leaf] });
      expect(parseCli([...leaf.split(" "), "--help"], {})).toEqual({ kind: "help", text: LEAF_USAGE[leaf] });
    }
  });

  it("lists every command in the main usage", () => {
    for (const c of [
      "start",
      "apps list",
      "apps show",
      "apps remove",
      "users add",
      "users list",
      "users remove",
      "requests list",
      "requests approve",
      "requests reject",
      "ca import",
    ]) {
      expect(MAIN_USAGE).toContain(`  ${c}`);
    }
  });

  it("passes everything after start to the start command", () => {
    expect(parseCli(["start", "--port", "1234", "--help"], {})).toEqual({ kind: "start", args: ["--port", "1234", "--help"] });
  });

  it("rejects unknown commands, subcommands and flags with usage and exit code 2", () => {
    const cases: [string[], RegExp][] = [
      [[], /missing command/],
      [["frobnicate"], /unknown command "frobnicate"/],
      [["apps"], /missing apps subcommand/],
      [["apps", "delete", "x"], /unknown command "apps delete"/],
      [["apps", "list", "--bogus"], /Unknown option '--bogus'/],
      [["apps", "list", "extra"], /unexpected argument "extra"/],
      [["apps", "show"], /missing ID/],
      [["apps", "show", ""], /ID must not be empty/],
      [["apps", "show", "--endpoint"], /argument missing|--endpoint/],
      [["users", "remove"], /missing NAME/],
      [["users", "add", "bob", "--password-env", "P"], /missing --role/],
      [["users", "add", "bob", "--role", "Observer"], /missing --password-env/],
      [["apps", "list", "--endpoint", "http://x"], /invalid --endpoint/],
      [["requests"], /missing requests subcommand/],
      [["requests", "delete", "x"], /unknown command "requests delete"/],
      [["requests", "approve"], /missing ID/],
      [["requests", "reject"], /missing ID/],
      [["requests", "approve", " "], /ID must not be empty/],
      [["requests", "approve", "a", "b"], /unexpected argument "b"/],
      [["requests", "list", "--state", "bogus"], /invalid --state "bogus": expected one of pending, approved, rejected, delivered, failed/],
      [["requests", "list", "--state"], /argument missing|--state/],
      [["requests", "approve", "x", "--reason", "r"], /Unknown option '--reason'/],
      [["ca"], /missing ca subcommand/],
      [["ca", "export"], /unknown command "ca export"/],
      [["ca", "import", "--key", "k.pem"], /missing --cert FILE/],
      [["ca", "import", "--cert", "c.pem"], /missing --key FILE/],
      [["ca", "import", "--cert", "c.pem", "--key", "k.pem", "--group", "Nope"], /invalid --group "Nope": expected one of DefaultApplicationGroup, DefaultHttpsGroup, DefaultUserTokenGroup/],
      [["ca", "import", "--cert", "c.pem", "--key", "k.pem", "--endpoint", "opc.tcp://x:1"], /Unknown option '--endpoint'/],
      [["ca", "import", "extra", "--cert", "c.pem", "--key", "k.pem"], /unexpected argument "extra"/],
    ];
    for (const [argv, message] of cases) {
      const err = parseError(argv, { ...ENV, P: "secret-123" });
      expect(err.exitCode).toBe(ExitCode.Usage);
      expect(err.message).toMatch(message);
      expect(err.usage).toBeTruthy();
    }
  });

  it("parses admin commands with defaults from the environment", () => {
    expect(parseCli(["apps", "list"], ENV)).toEqual({
      kind: "apps list",
      admin: { endpoint: "opc.tcp://localhost:4840", user: "admin", password: "pw-admin-123", json: false },
    });
    const env = { ...ENV, GDS_PORT: "4999", GDS_ADMIN_USER: "alice" };
    expect(parseCli(["apps", "show", "ns=2;g=abc", "--json"], env)).toEqual({
      kind: "apps show",
      admin: { endpoint: "opc.tcp://localhost:4999", user: "alice", password: "pw-admin-123", json: true },
      applicationId: "ns=2;g=abc",
    });
    expect(parseCli(["apps", "remove", "--endpoint", "opc.tcp://[::1]:4841", "abc"], ENV)).toMatchObject({
      kind: "apps remove",
      admin: { endpoint: "opc.tcp://[::1]:4841" },
      applicationId: "abc",
    });
    expect(parseCli(["users", "list", "--endpoint=opc.tcp://gds.example:4840/path"], ENV)).toMatchObject({
      kind: "users list",
      admin: { endpoint: "opc.tcp://gds.example:4840/path" },
    });
    expect(parseCli(["users", "remove", "bob"], ENV)).toMatchObject({ kind: "users remove", name: "bob" });
    expect(defaultEndpoint({})).toBe("opc.tcp://localhost:4840");
  });

  it("reads the user's password from the variable named by --password-env and canonicalises roles", () => {
    const cmd = parseCli(
      ["users", "add", "bob", "--role", "observer", "--role", "DISCOVERYADMIN", "--role", "Observer", "--password-env", "BOB_PW"],
      { ...ENV, BOB_PW: "bob-secret-1" },
    );
    expect(cmd).toMatchObject({ kind: "users add", name: "bob", roles: ["Observer", "DiscoveryAdmin"], password: "bob-secret-1" });
  });

  it("refuses an unset --password-env variable, unknown roles and a missing GDS_ADMIN_PASSWORD (exit 2)", () => {
    const unset = parseError(["users", "add", "bob", "--role", "Observer", "--password-env", "NOPE"]);
    expect(unset.message).toBe("environment variable NOPE (--password-env) is not set");
    expect(unset.exitCode).toBe(2);

    const role = parseError(["users", "add", "bob", "--role", "Wizard", "--password-env", "P"], { ...ENV, P: "x" });
    expect(role.message).toMatch(/^unknown role Wizard; known roles: Anonymous, .*SecurityAdmin/);
    expect(role.exitCode).toBe(2);
    expect(() => resolveRoles(["securityadmin"])).not.toThrow();

    for (const env of [{}, { GDS_ADMIN_PASSWORD: "" }]) {
      const pw = parseError(["apps", "list"], env);
      expect(pw.message).toBe("GDS_ADMIN_PASSWORD is not set");
      expect(pw.exitCode).toBe(2);
      expect(pw.usage).toBeUndefined();
    }
  });
});

describe("parseCli: requests and ca import", () => {
  const admin = { endpoint: "opc.tcp://localhost:4840", user: "admin", password: "pw-admin-123", json: false };

  it("parses requests list, approve and reject", () => {
    expect(parseCli(["requests", "list"], ENV)).toEqual({ kind: "requests list", admin });
    expect(parseCli(["requests", "list", "--state", "Pending", "--json"], ENV)).toEqual({
      kind: "requests list",
      admin: { ...admin, json: true },
      state: "pending",
    });
    const id = "0b5c8b1e-0000-4000-8000-000000000001";
    expect(parseCli(["requests", "approve", id, "--endpoint", "opc.tcp://gds:4841"], { ...ENV, GDS_ADMIN_USER: "ra" })).toEqual({
      kind: "requests approve",
      admin: { ...admin, endpoint: "opc.tcp://gds:4841", user: "ra" },
      requestId: id,
    });
    expect(parseCli(["requests", "reject", `ns=3;g=${id}`], ENV)).toEqual({ kind: "requests reject", admin, requestId: `ns=3;g=${id}`, reason: "" });
    expect(parseCli(["requests", "reject", id, "--reason", "unknown device", "--json"], ENV)).toEqual({
      kind: "requests reject",
      admin: { ...admin, json: true },
      requestId: id,
      reason: "unknown device",
    });
    // the requests commands talk to the server: they need its password
    expect(parseError(["requests", "list"], {})).toMatchObject({ message: "GDS_ADMIN_PASSWORD is not set", exitCode: 2 });
  });

  it("parses ca import without a server password, with the group and data dir defaults of gds start", () => {
    const cmd = parseCli(["ca", "import", "--cert", "ca.pem", "--key", "/keys/ca.key"], {});
    expect(cmd).toEqual({
      kind: "ca import",
      dataDir: path.resolve("pki"),
      group: "DefaultApplicationGroup",
      certFile: path.resolve("ca.pem"),
      keyFile: "/keys/ca.key",
      force: false,
      json: false,
    } satisfies CaImportCommand);
    expect(parseCli(["ca", "import", "--cert", "c", "--key", "k", "--group", "defaulthttpsgroup", "--data-dir", "/srv/gds", "--force", "--json"], {})).toMatchObject({
      group: "DefaultHttpsGroup",
      dataDir: "/srv/gds",
      force: true,
      json: true,
    });
    expect(parseCli(["ca", "import", "--cert", "c", "--key", "k", "--group", "DefaultUserTokenGroup"], { GDS_DATA_DIR: "/var/lib/gds" })).toMatchObject({
      group: "DefaultUserTokenGroup",
      dataDir: "/var/lib/gds",
    });
  });

  it("finds the data dir as gds start does and refuses two different ones", () => {
    expect(resolveDataDir(undefined, {}, "/home/op")).toBe("/home/op/pki");
    expect(resolveDataDir("data", {}, "/home/op")).toBe("/home/op/data");
    expect(resolveDataDir(undefined, { GDS_DATA_DIR: "/srv/gds" }, "/home/op")).toBe("/srv/gds");
    expect(resolveDataDir("/srv/gds/", { GDS_DATA_DIR: "/srv/gds" }, "/home/op")).toBe("/srv/gds");
    const cases: [string | undefined, Env, RegExp][] = [
      ["/other", { GDS_DATA_DIR: "/srv/gds" }, /GDS_DATA_DIR \(\/srv\/gds\) and --data-dir \(\/other\) name different data dirs/],
      [undefined, { GDS_DATA_DIR: "" }, /GDS_DATA_DIR: must not be empty/],
      ["", {}, /--data-dir: must not be empty/],
    ];
    for (const [flag, env, message] of cases) {
      expect(() => resolveDataDir(flag, env, "/home/op")).toThrow(message);
      try {
        resolveDataDir(flag, env, "/home/op");
      } catch (err) {
        expect((err as CliError).exitCode).toBe(ExitCode.Usage);
      }
    }
  });
});

describe("format", () => {
  const app = {
    applicationId: "ns=3;g=0b5c8b1e-0000-4000-8000-000000000001",
    applicationUri: "urn:plant:press-1",
    applicationType: 0,
    applicationNames: [{ locale: "en", text: "Press 1" }, { locale: "de", text: "Presse 1" }],
    productUri: "urn:vendor:press",
    discoveryUrls: ["opc.tcp://press-1:4840"],
    serverCapabilities: [],
    recordId: 7,
    createdAt: "2026-11-25T10:00:00.000Z",
    updatedAt: "2026-11-25T10:00:00.000Z",
  };

  it("pads table columns and trims trailing blanks", () => {
    expect(formatTable(["A", "BB", "C"], [["xxx", "y", ""], ["z", "", "w"]])).toBe("A    BB  C\nxxx  y\nz        w\n");
  });

  it("lists applications as a table of id, uri, type and name", () => {
    const out = formatApplicationsTable([app, { ...app, applicationId: "x", applicationUri: "urn:c", applicationType: 2, applicationNames: [] }]);
    expect(out.split("\n")).toEqual([
      "APPLICATION ID                               APPLICATION URI    TYPE             NAME",
      "ns=3;g=0b5c8b1e-0000-4000-8000-000000000001  urn:plant:press-1  Server           Press 1",
      "x                                            urn:c              ClientAndServer",
      "",
    ]);
    expect(formatApplicationsTable([])).toBe("no applications registered\n");
  });

  it("names application types and names defensively", () => {
    expect(applicationTypeName(3)).toBe("DiscoveryServer");
    expect(applicationTypeName(9)).toBe("9");
    expect(applicationTypeName("Client")).toBe("Client");
    expect(applicationName({ applicationNames: ["plain"] })).toBe("plain");
    expect(applicationName({})).toBe("");
  });

  it("shows one application as key/value lines", () => {
    expect(formatApplication(app)).toBe(
      [
        "applicationId:      ns=3;g=0b5c8b1e-0000-4000-8000-000000000001",
        "applicationUri:     urn:plant:press-1",
        "type:               Server",
        "names:              Press 1 [en]",
        "                    Presse 1 [de]",
        "productUri:         urn:vendor:press",
        "discoveryUrls:      opc.tcp://press-1:4840",
        "serverCapabilities: -",
        "createdAt:          2026-11-25T10:00:00.000Z",
        "updatedAt:          2026-11-25T10:00:00.000Z",
        "",
      ].join("\n"),
    );
  });

  it("lists users with their roles", () => {
    expect(formatUsersTable([{ name: "admin", roles: ["SecurityAdmin", "DiscoveryAdmin"], createdAt: "2026-11-25" }])).toBe(
      "NAME   ROLES                         CREATED\nadmin  SecurityAdmin,DiscoveryAdmin  2026-11-25\n",
    );
    expect(formatUsersTable([])).toBe("no users\n");
  });

  it("lists certificate requests one block each (application, names, subject) and reports decisions", () => {
    const r = {
      requestId: "6f1c0a52-1d7e-4c1b-9a3e-0c0ffee00001",
      applicationId: "0b5c8b1e-0000-4000-8000-000000000001",
      applicationUri: "urn:press1",
      applicationName: "Press 1",
      kind: "newKeyPair",
      group: "DefaultApplicationGroup",
      type: "RsaSha256ApplicationCertificateType",
      state: "pending",
      createdAt: "2026-11-25T10:00:00.000Z",
      requestedBy: "admin",
      subject: "CN=Press 1, DC=press1.local",
      dnsNames: ["press1.local"],
      ipAddresses: [],
    };
    expect(formatRequestsList([r]).split("\n")).toEqual([
      "request 6f1c0a52-1d7e-4c1b-9a3e-0c0ffee00001  pending  newKeyPair",
      '  application   0b5c8b1e-0000-4000-8000-000000000001  urn:press1  "Press 1"',
      "  group         DefaultApplicationGroup",
      "  type          RsaSha256ApplicationCertificateType",
      "  subject       CN=Press 1, DC=press1.local",
      "  dns names     press1.local",
      "  ip addresses  (none)",
      "  requested     2026-11-25T10:00:00.000Z by admin",
      "",
    ]);
    expect(formatRequest({ ...r, key: { keyType: "RSA", keySize: 2048, source: "generated" } })).toContain("\n  key           RSA 2048 bits, generated by the GDS\n");
    expect(formatRequest({ ...r, key: { keyType: "EC", keySize: 256, curve: "P-256", source: "csr" } })).toContain("\n  key           EC P-256 (256 bits), from the CSR\n");
    expect(formatRequestsList([])).toBe("no certificate requests\n");
    expect(formatRequestsList([], "pending")).toBe("no pending certificate requests\n");
    expect(formatDone.requestApproved({ ...r, state: "approved" })).toBe(
      "approved request 6f1c0a52-1d7e-4c1b-9a3e-0c0ffee00001 of application 0b5c8b1e-0000-4000-8000-000000000001 (state approved)\n",
    );
    expect(formatDone.requestRejected({ ...r, state: "rejected", reason: "unknown\ndevice" })).toBe(
      "rejected request 6f1c0a52-1d7e-4c1b-9a3e-0c0ffee00001 of application 0b5c8b1e-0000-4000-8000-000000000001: unknown device\n",
    );
    expect(formatDone.requestRejected({ ...r, state: "rejected" })).toMatch(/0001\n$/);
  });

  it("treats a broken JSON reply as a failure (exit 1)", () => {
    expect(() => parseJsonResult("{", "users")).toThrow(expect.objectContaining({ exitCode: 1 }) as unknown as Error);
    expect(() => parseJsonResult(null, "users")).toThrow(CliError);
  });
});

describe("status code mapping", () => {
  it("maps the server's StatusCodes to messages and exit codes", () => {
    expect(errorForStatus("BadUserAccessDenied", "ListUsers requires SecurityAdmin")).toMatchObject({
      message: "access denied: ListUsers requires SecurityAdmin",
      exitCode: 4,
    });
    expect(errorForStatus("BadIdentityTokenRejected", null, "bob").exitCode).toBe(4);
    expect(errorForStatus("BadIdentityTokenInvalid", null).exitCode).toBe(4);
    expect(errorForStatus("BadNotFound", "no user named \"bob\"", "bob")).toMatchObject({ message: 'not found: no user named "bob"', exitCode: 5 });
    // no message of the server's own (only the standard description): name the id instead
    expect(errorForStatus("BadNotFound", StatusCodes.BadNotFound.description, "ns=3;g=x")).toMatchObject({ message: "not found: ns=3;g=x", exitCode: 5 });
    expect(errorForStatus("BadEntryExists", "user bob already exists")).toMatchObject({ message: "already exists: user bob already exists", exitCode: 6 });
    expect(errorForStatus("BadInvalidArgument", "password too short")).toMatchObject({ message: "BadInvalidArgument: password too short", exitCode: 1 });
    // approving a request that is not pending
    expect(errorForStatus("BadInvalidState", "request x is rejected, not pending")).toMatchObject({ message: "BadInvalidState: request x is rejected, not pending", exitCode: 1 });
    expect(errorForStatus("BadInternalError", null).message).toMatch(/^BadInternalError: ./);
  });

  it("finds the StatusCode name in client errors", () => {
    expect(statusNameOfError(new Error("Error BadIdentityTokenRejected The user token was rejected"))).toBe("BadIdentityTokenRejected");
    expect(statusNameOfError({ response: { responseHeader: { serviceResult: { name: "BadSessionClosed" } } } })).toBe("BadSessionClosed");
    expect(statusNameOfError(new Error("socket hang up"))).toBeUndefined();
  });
});

describe("admin commands", () => {
  const admin = { endpoint: "opc.tcp://localhost:4840", user: "admin", password: "pw", json: false };

  function fakeCall(outputs: Record<string, unknown[]>): { call: AdminCall; calls: [string, unknown[]][] } {
    const calls: [string, unknown[]][] = [];
    return {
      calls,
      call: async (method, inputs) => {
        calls.push([method, inputs]);
        return outputs[method] ?? [];
      },
    };
  }

  it("calls the right admin method with the right inputs", async () => {
    const f = fakeCall({
      ListApplications: [JSON.stringify([{ applicationId: "a", applicationUri: "urn:a", applicationType: 1 }])],
      GetApplication: [JSON.stringify({ applicationId: "a", applicationUri: "urn:a" })],
      ListUsers: [JSON.stringify([{ name: "admin", roles: ["SecurityAdmin"] }])],
    });
    const cmds: AdminCommand[] = [
      { kind: "apps list", admin },
      { kind: "apps list", admin: { ...admin, json: true } },
      { kind: "apps show", admin, applicationId: "a" },
      { kind: "apps remove", admin, applicationId: "a" },
      { kind: "users add", admin, name: "bob", roles: ["Observer"], password: "bob-pw-123" },
      { kind: "users list", admin },
      { kind: "users remove", admin, name: "bob" },
    ];
    const outs = [];
    for (const c of cmds) outs.push(await runAdminCommand(c, f.call));
    expect(f.calls).toEqual([
      ["ListApplications", []],
      ["ListApplications", []],
      ["GetApplication", ["a"]],
      ["RemoveApplication", ["a"]],
      ["AddUser", ["bob", ["Observer"], "bob-pw-123"]],
      ["ListUsers", []],
      ["RemoveUser", ["bob"]],
    ]);
    expect(outs[0]).toMatch(/^APPLICATION ID\s+APPLICATION URI\s+TYPE\s+NAME\na\s+urn:a\s+Client\n$/);
    expect(JSON.parse(outs[1])).toEqual([{ applicationId: "a", applicationUri: "urn:a", applicationType: 1 }]);
    expect(outs[3]).toBe("removed application a\n");
    expect(outs[4]).toBe("added user bob with roles Observer\n");
    expect(outs[6]).toBe("removed user bob\n");
  });

  it("calls ListRequests, ApproveRequest and RejectRequest", async () => {
    const record = { requestId: "r1", applicationId: "ns=3;g=a", kind: "signing", state: "pending", createdAt: "2026-11-25", requestedBy: "admin" };
    const f = fakeCall({
      ListRequests: [JSON.stringify([record])],
      ApproveRequest: [JSON.stringify({ ...record, state: "approved" })],
      RejectRequest: [JSON.stringify({ ...record, state: "rejected", reason: "no" })],
    });
    const cmds: AdminCommand[] = [
      { kind: "requests list", admin },
      { kind: "requests list", admin: { ...admin, json: true }, state: "pending" },
      { kind: "requests approve", admin, requestId: "r1" },
      { kind: "requests reject", admin, requestId: "r1", reason: "no" },
      { kind: "requests reject", admin: { ...admin, json: true }, requestId: "r1", reason: "" },
    ];
    const outs = [];
    for (const c of cmds) outs.push(await runAdminCommand(c, f.call));
    expect(f.calls).toEqual([
      ["ListRequests", [""]],
      ["ListRequests", ["pending"]],
      ["ApproveRequest", ["r1"]],
      ["RejectRequest", ["r1", "no"]],
      ["RejectRequest", ["r1", ""]],
    ]);
    expect(outs[0]).toMatch(/^request r1  pending  signing\n  application +ns=3;g=a\n[\s\S]*  requested +2026-11-25 by admin\n$/);
    expect(JSON.parse(outs[1])).toEqual([record]);
    expect(outs[2]).toBe("approved request r1 of application ns=3;g=a (state approved)\n");
    expect(outs[3]).toBe("rejected request r1 of application ns=3;g=a: no\n");
    expect(JSON.parse(outs[4])).toMatchObject({ requestId: "r1", state: "rejected" });

    const broken = fakeCall({ ApproveRequest: ["[1,2]"] });
    await expect(runAdminCommand({ kind: "requests approve", admin, requestId: "r1" }, broken.call)).rejects.toMatchObject({ exitCode: 1 });
  });
});

describe("runCli", () => {
  function io(env: Env = ENV) {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t), env }, out, err };
  }
  const failingDeps = (error: Error): CliDeps => ({
    withAdminSession: async () => {
      throw error;
    },
    startCommand: async () => 0,
    caImport: async () => {
      throw error;
    },
  });

  it("prints help on stdout with exit 0 and usage errors on stderr with exit 2", async () => {
    const h = io({});
    expect(await runCli(["--help"], h.io, failingDeps(new Error("unused")))).toBe(0);
    expect(h.out.join("")).toBe(MAIN_USAGE);
    expect(h.err).toEqual([]);

    const u = io();
    expect(await runCli(["apps", "list", "--nope"], u.io, failingDeps(new Error("unused")))).toBe(2);
    expect(u.out).toEqual([]);
    expect(u.err.join("")).toMatch(/^gds: Unknown option '--nope'\n\nUsage: gds apps list/);
  });

  it("dispatches start with its arguments and returns its exit code", async () => {
    let seen: string[] | undefined;
    const deps: CliDeps = {
      withAdminSession: async () => Promise.reject(new Error("unused")),
      startCommand: async (args) => ((seen = args), 7),
      caImport: async () => Promise.reject(new Error("unused")),
    };
    expect(await runCli(["start", "--port", "1"], io().io, deps)).toBe(7);
    expect(seen).toEqual(["--port", "1"]);
  });

  it("connects with the endpoint, user, password and CLI PKI dir and prints the result", async () => {
    let opts: AdminSessionOptions | undefined;
    const deps: CliDeps = {
      withAdminSession: async (o, fn) => ((opts = o), fn(async () => [JSON.stringify([])])),
      startCommand: async () => 0,
      caImport: async () => Promise.reject(new Error("unused")),
    };
    const t = io({ ...ENV, GDS_CLI_PKI_DIR: "/tmp/x", GDS_ADMIN_USER: "ops" });
    expect(await runCli(["users", "list", "--json", "--endpoint", "opc.tcp://h:1"], t.io, deps)).toBe(0);
    expect(opts).toEqual({ endpoint: "opc.tcp://h:1", user: "ops", password: "pw-admin-123", pkiDir: "/tmp/x" });
    expect(t.out.join("")).toBe("[]\n");
  });

  it("runs ca import offline (no session) and prints its result; its refusals keep their exit codes", async () => {
    let seen: CaImportCommand | undefined;
    let sessions = 0;
    const deps: CliDeps = {
      withAdminSession: async () => (sessions++, Promise.reject(new Error("unused"))),
      startCommand: async () => 0,
      caImport: async (cmd) => ((seen = cmd), "imported\n"),
    };
    const t = io({});
    expect(await runCli(["ca", "import", "--cert", "/c.pem", "--key", "/k.pem", "--data-dir", "/d"], t.io, deps)).toBe(0);
    expect(seen).toMatchObject({ kind: "ca import", certFile: "/c.pem", keyFile: "/k.pem", dataDir: "/d", group: "DefaultApplicationGroup" });
    expect(sessions).toBe(0);
    expect(t.out.join("")).toBe("imported\n");

    const busy = io({});
    const refused = { ...deps, caImport: async () => Promise.reject(new CliError("the server (pid 42) holds /d; stop it first", ExitCode.Usage)) };
    expect(await runCli(["ca", "import", "--cert", "/c", "--key", "/k", "--data-dir", "/d"], busy.io, refused)).toBe(2);
    expect(busy.err.join("")).toBe("gds: the server (pid 42) holds /d; stop it first\n");
  });

  it("reports CliErrors as one line with their exit code, and anything else with exit 1", async () => {
    const c = io();
    expect(await runCli(["apps", "list"], c.io, failingDeps(new CliError("cannot connect to opc.tcp://x:1: refused", 3)))).toBe(3);
    expect(c.err.join("")).toBe("gds: cannot connect to opc.tcp://x:1: refused\n");

    const u = io();
    expect(await runCli(["apps", "list"], u.io, failingDeps(new Error("boom")))).toBe(1);
    expect(u.err.join("")).toMatch(/^gds: unexpected error: Error: boom/);
  });
});

describe("gds trustlist export", () => {
  const admin = { endpoint: "opc.tcp://localhost:4840", user: "admin", password: "pw-admin-123", json: false };

  it("parses --group and --out; the group defaults to DefaultApplicationGroup and is matched case-insensitively", () => {
    expect(parseCli(["trustlist", "export", "--out", "/tmp/x"], ENV)).toEqual({
      kind: "trustlist export",
      admin: { ...admin, endpoint: defaultEndpoint(ENV) },
      group: "DefaultApplicationGroup",
      outDir: "/tmp/x",
    });
    expect(parseCli(["trustlist", "export", "--group", "defaulthttpsgroup", "--out", "rel", "--json", "--endpoint", "opc.tcp://h:1"], ENV)).toMatchObject({
      group: "DefaultHttpsGroup",
      outDir: path.resolve("rel"),
      admin: { endpoint: "opc.tcp://h:1", json: true },
    });
    expect(parseCli(["trustlist", "export", "--help"], {})).toEqual({ kind: "help", text: LEAF_USAGE["trustlist export"] });
    expect(parseCli(["trustlist", "--help"], {})).toMatchObject({ kind: "help", text: expect.stringContaining("gds trustlist export") });
    expect(MAIN_USAGE).toContain("trustlist export --group NAME --out DIR");
  });

  it("refuses a missing --out, an unknown group, extra arguments and a missing password", () => {
    expect(parseError(["trustlist", "export"]).message).toMatch(/missing --out DIR/);
    expect(parseError(["trustlist", "export", "--out", "  "]).message).toMatch(/missing --out DIR/);
    const bad = parseError(["trustlist", "export", "--group", "Nope", "--out", "d"]);
    expect(bad.exitCode).toBe(ExitCode.Usage);
    expect(bad.message).toMatch(/invalid --group "Nope": expected one of DefaultApplicationGroup, DefaultHttpsGroup, DefaultUserTokenGroup/);
    expect(parseError(["trustlist", "export", "extra", "--out", "d"]).message).toMatch(/unexpected argument "extra"/);
    expect(parseError(["trustlist", "export", "--out", "d", "--cert", "c"]).message).toMatch(/--cert/);
    expect(parseError(["trustlist", "import"]).message).toMatch(/unknown command "trustlist import"/);
    expect(parseError(["trustlist", "export", "--out", "d"], {}).message).toMatch(/GDS_ADMIN_PASSWORD/);
  });

  it("calls ExportTrustList with the group and writes each file as DER into the folder (created), printing what it wrote", async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cli-tl-export-")), "sub", "out");
    const files = [
      { name: "DefaultApplicationGroup-ca-0a1b2c3d.der", kind: "caCertificate", derBase64: Buffer.from([0x30, 1, 2]).toString("base64") },
      { name: "DefaultApplicationGroup-crl-1.crl", kind: "crl", derBase64: Buffer.from([0x30, 3]).toString("base64") },
      { name: "gds-server.der", kind: "gdsCertificate", derBase64: Buffer.from([0x30, 4, 5, 6]).toString("base64") },
    ];
    const calls: [string, unknown[]][] = [];
    const call: AdminCall = async (method, inputs) => {
      calls.push([method, inputs]);
      return [JSON.stringify({ group: "DefaultApplicationGroup", files })];
    };
    const text = await runAdminCommand({ kind: "trustlist export", admin, group: "DefaultApplicationGroup", outDir: dir }, call);
    expect(calls).toEqual([["ExportTrustList", ["DefaultApplicationGroup"]]]);
    expect(fs.readFileSync(path.join(dir, "DefaultApplicationGroup-ca-0a1b2c3d.der"))).toEqual(Buffer.from([0x30, 1, 2]));
    expect(fs.readFileSync(path.join(dir, "DefaultApplicationGroup-crl-1.crl"))).toEqual(Buffer.from([0x30, 3]));
    expect(fs.readFileSync(path.join(dir, "gds-server.der"))).toEqual(Buffer.from([0x30, 4, 5, 6]));
    expect(text.split("\n")[0]).toBe(`DefaultApplicationGroup: wrote 3 file(s) to ${dir}`);
    expect(text).toMatch(/gds-server\.der\s+GDS certificate \(4 bytes\)/);
    expect(text).toMatch(/-crl-1\.crl\s+CRL \(2 bytes\)/);

    const json = JSON.parse(await runAdminCommand({ kind: "trustlist export", admin: { ...admin, json: true }, group: "DefaultApplicationGroup", outDir: dir }, call));
    expect(json).toEqual({
      group: "DefaultApplicationGroup",
      out: dir,
      files: [
        { name: "DefaultApplicationGroup-ca-0a1b2c3d.der", kind: "caCertificate", path: path.join(dir, "DefaultApplicationGroup-ca-0a1b2c3d.der"), bytes: 3 },
        { name: "DefaultApplicationGroup-crl-1.crl", kind: "crl", path: path.join(dir, "DefaultApplicationGroup-crl-1.crl"), bytes: 2 },
        { name: "gds-server.der", kind: "gdsCertificate", path: path.join(dir, "gds-server.der"), bytes: 4 },
      ],
    });
  });

  it("refuses file names that would leave the folder, unknown kinds and answers that are not an export (exit 1, nothing written)", async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cli-tl-export-")), "out");
    const answer = (files: unknown) => async () => [JSON.stringify({ group: "DefaultApplicationGroup", files })];
    const cmd = { kind: "trustlist export" as const, admin, group: "DefaultApplicationGroup" as const, outDir: dir };
    for (const name of ["../evil.der", "/etc/passwd", ".hidden", "a/b.der", ""]) {
      await expect(runAdminCommand(cmd, answer([{ name, kind: "crl", derBase64: "MAA=" }]))).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(/unusable file name/) });
    }
    await expect(runAdminCommand(cmd, answer([{ name: "x.der", kind: "key", derBase64: "MAA=" }]))).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(/unknown file kind "key"/) });
    await expect(runAdminCommand(cmd, answer([{ name: "x.der", kind: "crl", derBase64: "" }]))).rejects.toMatchObject({ exitCode: 1 });
    await expect(runAdminCommand(cmd, answer("nope"))).rejects.toMatchObject({ exitCode: 1 });
    await expect(runAdminCommand(cmd, async () => ["not json"])).rejects.toMatchObject({ exitCode: 1 });
    expect(fs.existsSync(dir)).toBe(false);
  });
});
