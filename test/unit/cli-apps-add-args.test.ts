import { describe, expect, it } from "@jest/globals";
import type { AdminCall } from "../../src/cli/admin-client.js";
import { runAdminCommand } from "../../src/cli/admin-commands.js";
import type { AppsAddCommand } from "../../src/cli/apps-add-args.js";
import { applicationJson, runAppsAdd, type AnnouncedApplication } from "../../src/cli/apps-add.js";
import { parseCli, type Env } from "../../src/cli/args.js";
import { CliError, ExitCode } from "../../src/cli/cli-error.js";
import { APPS_USAGE, LEAF_USAGE, MAIN_USAGE } from "../../src/cli/usage.js";
import { applicationInputFromJson } from "../../src/opcua/install-admin.js";
import { validateApplication } from "../../src/directory/validate-application.js";
import { GdsError } from "../../src/errors.js";

const ENV: Env = { GDS_ADMIN_PASSWORD: "pw-admin-123" };
const ADMIN = { endpoint: "opc.tcp://localhost:4840", user: "admin", password: "pw-admin-123", json: false };
const ID = "ns=3;g=5f0c7a8e-1b2c-4d3e-8f90-0a1b2c3d4e5f";

function parseError(argv: string[], env: Env = ENV): CliError {
  try {
    parseCli(argv, env);
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error(`parseCli(${argv.join(" ")}) did not fail`);
}

const DEVICE: AnnouncedApplication = {
  applicationUri: "urn:plc7:vendor:device",
  applicationName: { locale: "en", text: "PLC 7" },
  productUri: "urn:vendor:plc",
  applicationType: 0,
  discoveryUrls: ["opc.tcp://plc7.local:4840"],
};

describe("gds apps add: parsing", () => {
  it("help for the leaf; listed in the group and main help", () => {
    expect(parseCli(["apps", "add", "--help"], {})).toEqual({ kind: "help", text: LEAF_USAGE["apps add"] });
    expect(LEAF_USAGE["apps add"]).toContain("--from-endpoint");
    expect(APPS_USAGE).toContain("add --uri URN --name NAME");
    expect(MAIN_USAGE).toContain("apps add --from-endpoint opc.tcp://host:port");
  });

  it("flags: every field, repeatable --discovery-url and --capability, --type by name (any case) or number", () => {
    const cmd = parseCli(
      ["apps", "add", "--uri", "urn:plc7:vendor:device", "--name", " PLC 7 ", "--type", "clientandserver", "--product-uri", "urn:vendor:plc",
        "--discovery-url", "opc.tcp://plc7:4840", "--discovery-url", "rcp+opc.tcp://plc7:4841", "--capability", "DA", "--capability", "RCP", "--json", "--endpoint", "opc.tcp://gds:4850"],
      ENV,
    );
    expect(cmd).toEqual({
      kind: "apps add",
      admin: { ...ADMIN, endpoint: "opc.tcp://gds:4850", json: true },
      applicationUri: "urn:plc7:vendor:device",
      name: "PLC 7",
      applicationType: 2,
      productUri: "urn:vendor:plc",
      discoveryUrls: ["opc.tcp://plc7:4840", "rcp+opc.tcp://plc7:4841"],
      capabilities: ["DA", "RCP"],
    });
    expect((parseCli(["apps", "add", "--uri", "urn:a", "--name", "A", "--type", "3"], ENV) as AppsAddCommand).applicationType).toBe(3);
    expect(parseCli(["apps", "add", "--uri", "urn:a", "--name", "A"], ENV)).toEqual({ kind: "apps add", admin: ADMIN, applicationUri: "urn:a", name: "A" });
  });

  it("--from-endpoint alone, or with overrides", () => {
    expect(parseCli(["apps", "add", "--from-endpoint", "opc.tcp://127.0.0.1:4850"], ENV)).toEqual({ kind: "apps add", admin: ADMIN, fromEndpoint: "opc.tcp://127.0.0.1:4850" });
    expect(parseCli(["apps", "add", "--from-endpoint", "opc.tcp://plc7:4840/UA", "--name", "Line 3 PLC", "--discovery-url", "opc.tcp://10.0.0.7:4840"], ENV)).toEqual({
      kind: "apps add",
      admin: ADMIN,
      fromEndpoint: "opc.tcp://plc7:4840/UA",
      name: "Line 3 PLC",
      discoveryUrls: ["opc.tcp://10.0.0.7:4840"],
    });
  });

  it("usage errors say what is missing or wrong (exit 2)", () => {
    const cases: [string[], string][] = [
      [["apps", "add"], "missing --uri URN"],
      [["apps", "add", "--name", "A"], "missing --uri URN"],
      [["apps", "add", "--uri", "urn:a"], "missing --name NAME"],
      [["apps", "add", "--uri", "urn:a", "--name", "  "], "--name must not be empty"],
      [["apps", "add", "--uri", "not a uri", "--name", "A"], 'invalid --uri "not a uri"'],
      [["apps", "add", "--uri", "plc7", "--name", "A"], 'invalid --uri "plc7"'],
      [["apps", "add", "--uri", "urn:a", "--name", "A", "--type", "Gateway"], 'invalid --type "Gateway": expected one of Server, Client, ClientAndServer, DiscoveryServer'],
      [["apps", "add", "--uri", "urn:a", "--name", "A", "--discovery-url", "plc7:4840"], 'invalid --discovery-url "plc7:4840"'],
      [["apps", "add", "--uri", "urn:a", "--name", "A", "--discovery-url", ""], "--discovery-url must not be empty"],
      [["apps", "add", "--uri", "urn:a", "--name", "A", "--product-uri", "x y"], 'invalid --product-uri "x y"'],
      [["apps", "add", "--uri", "urn:a", "--name", "A", "--capability", ""], "--capability must not be empty"],
      [["apps", "add", "--from-endpoint", "http://plc7:4840"], 'invalid --from-endpoint "http://plc7:4840"'],
      [["apps", "add", "--from-endpoint", "opc.tcp://plc 7:4840"], "invalid --from-endpoint"],
      [["apps", "add", "--uri", "urn:a", "--name", "A", "--bogus"], "Unknown option '--bogus'"],
      [["apps", "add", "ID"], 'unexpected argument "ID"'],
    ];
    for (const [argv, message] of cases) {
      const err = parseError(argv);
      expect({ argv, code: err.exitCode }).toEqual({ argv, code: ExitCode.Usage });
      expect(err.message).toContain(message);
      expect(err.usage).toBe(LEAF_USAGE["apps add"]);
    }
    expect(parseError(["apps", "add", "--uri", "urn:a", "--name", "A"], {})).toMatchObject({ message: "GDS_ADMIN_PASSWORD is not set", exitCode: ExitCode.Usage });
  });
});

describe("gds apps add: the record sent", () => {
  const base: AppsAddCommand = { kind: "apps add", admin: ADMIN };

  it("from flags: type Server and productUri = applicationUri by default; the server's validation accepts it", () => {
    const app = applicationJson({ ...base, applicationUri: "urn:a", name: "A", discoveryUrls: ["opc.tcp://a:4840"] });
    expect(app).toEqual({ applicationUri: "urn:a", applicationType: 0, applicationNames: [{ locale: null, text: "A" }], productUri: "urn:a", discoveryUrls: ["opc.tcp://a:4840"], serverCapabilities: [] });
    expect(validateApplication(applicationInputFromJson(JSON.stringify(app)))).toEqual(app);
  });

  it("from the endpoint: what the device announces; flags override; no discoveryUrls announced → the endpoint URL", () => {
    const from = { ...base, fromEndpoint: "opc.tcp://127.0.0.1:4850" };
    expect(applicationJson(from, DEVICE)).toEqual({
      applicationUri: "urn:plc7:vendor:device",
      applicationType: 0,
      applicationNames: [{ locale: "en", text: "PLC 7" }],
      productUri: "urn:vendor:plc",
      discoveryUrls: ["opc.tcp://plc7.local:4840"],
      serverCapabilities: [],
    });
    expect(applicationJson(from, { ...DEVICE, discoveryUrls: [], productUri: "" })).toMatchObject({ discoveryUrls: ["opc.tcp://127.0.0.1:4850"], productUri: "urn:plc7:vendor:device" });
    expect(applicationJson({ ...from, applicationUri: "urn:other", name: "Other", applicationType: 2, productUri: "urn:p", discoveryUrls: ["opc.tcp://x:1"], capabilities: ["DA"] }, DEVICE)).toEqual({
      applicationUri: "urn:other",
      applicationType: 2,
      applicationNames: [{ locale: null, text: "Other" }],
      productUri: "urn:p",
      discoveryUrls: ["opc.tcp://x:1"],
      serverCapabilities: ["DA"],
    });
    expect(() => applicationJson(from, { ...DEVICE, applicationName: { locale: null, text: "" } })).toThrow("announces no ApplicationName: give --name");
  });

  it("runs AddApplication with the JSON and prints the ApplicationId alone (or JSON with --json)", async () => {
    const calls: [string, unknown[]][] = [];
    const call: AdminCall = async (method, inputs) => {
      calls.push([method, inputs]);
      return [ID];
    };
    const lookedUp: string[] = [];
    const lookup = async (url: string) => {
      lookedUp.push(url);
      return DEVICE;
    };
    expect(await runAppsAdd({ ...base, fromEndpoint: "opc.tcp://127.0.0.1:4850" }, call, lookup)).toBe(`${ID}\n`);
    expect(lookedUp).toEqual(["opc.tcp://127.0.0.1:4850"]);
    expect(calls[0][0]).toBe("AddApplication");
    expect(JSON.parse(calls[0][1][0] as string)).toMatchObject({ applicationUri: DEVICE.applicationUri, discoveryUrls: DEVICE.discoveryUrls });
    const json = JSON.parse(await runAdminCommand({ ...base, admin: { ...ADMIN, json: true }, applicationUri: "urn:a", name: "A" }, call));
    expect(json).toMatchObject({ applicationId: ID, applicationUri: "urn:a", applicationType: 0 });
  });
});

describe("AddApplication: ApplicationJson", () => {
  it("takes the fields apps show --json prints; ignores the rest; type names and plain-string names are accepted", () => {
    const shown = { applicationId: ID, applicationUri: "urn:a", applicationType: "ClientAndServer", applicationNames: ["A"], productUri: "urn:p", discoveryUrls: ["opc.tcp://a:1"], serverCapabilities: [], recordId: 9, createdAt: "x" };
    expect(applicationInputFromJson(JSON.stringify(shown))).toEqual({
      applicationUri: "urn:a",
      applicationType: 2,
      applicationNames: [{ locale: null, text: "A" }],
      productUri: "urn:p",
      discoveryUrls: ["opc.tcp://a:1"],
      serverCapabilities: [],
    });
  });

  it("not JSON, or not an object: BadInvalidArgument with a message", () => {
    for (const text of ["{", "[]", "null", "42"]) {
      let err: unknown;
      try {
        applicationInputFromJson(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GdsError);
      expect(err).toMatchObject({ statusName: "BadInvalidArgument" });
      expect((err as Error).message).toMatch(/^ApplicationJson: /);
    }
  });
});
