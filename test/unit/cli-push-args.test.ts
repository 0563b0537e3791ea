import { describe, expect, it } from "@jest/globals";
import type { AdminCall } from "../../src/cli/admin-client.js";
import { runAdminCommand, type AdminCommand } from "../../src/cli/admin-commands.js";
import { parseCli, PUSH_NOW_DEFAULT_TIMEOUT_MS, type Env, type PushCommand } from "../../src/cli/args.js";
import { CliError, ExitCode } from "../../src/cli/cli-error.js";
import { formatPushStatus, formatPushStatusTable } from "../../src/cli/format.js";
import { runPushCommand } from "../../src/cli/push-commands.js";
import { LEAF_USAGE, MAIN_USAGE, PUSH_USAGE } from "../../src/cli/usage.js";

const ENV: Env = { GDS_ADMIN_PASSWORD: "pw-admin-123", DEVICE_PW: "device-secret" };
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

describe("gds push: parsing", () => {
  it("help for the group and each subcommand; listed in the main help", () => {
    expect(parseCli(["push", "--help"], {})).toEqual({ kind: "help", text: PUSH_USAGE });
    for (const leaf of ["set", "now", "status", "remove"]) {
      expect(parseCli(["push", leaf, "-h"], {})).toEqual({ kind: "help", text: LEAF_USAGE[`push ${leaf}`] });
    }
    expect(MAIN_USAGE).toContain("push set ID --endpoint URL --user U --password-env VAR [--security-policy P]");
    expect(MAIN_USAGE).toContain("push status [ID] [--json]");
    expect(LEAF_USAGE["push set"]).toContain("GDS_ENDPOINT");
  });

  it("push set ID --endpoint URL --user U --password-env VAR [--security-policy P]: --endpoint is the device", () => {
    const cmd = parseCli(["push", "set", ID, "--endpoint", "opc.tcp://plc7:4840", "--user", "secadmin", "--password-env", "DEVICE_PW", "--security-policy", "Aes256_Sha256_RsaPss"], ENV);
    expect(cmd).toEqual({
      kind: "push set",
      admin: { endpoint: "opc.tcp://localhost:4840", user: "admin", password: "pw-admin-123", json: false },
      applicationId: ID,
      endpointUrl: "opc.tcp://plc7:4840",
      securityPolicy: "Aes256_Sha256_RsaPss",
      securityMode: "",
      userName: "secadmin",
      password: "device-secret",
      useGdsCertificate: false,
      regeneratePrivateKey: true,
    });
  });

  it("push set: the GDS endpoint from --gds-endpoint, else GDS_ENDPOINT; extras", () => {
    const env = { ...ENV, GDS_ENDPOINT: "opc.tcp://gds.example:4850" };
    const a = parseCli(["push", "set", ID, "--endpoint", "opc.tcp://plc7:4840", "--use-gds-certificate", "--no-regenerate-key", "--security-mode", "Sign", "--json"], env) as PushCommand;
    expect(a).toMatchObject({ admin: { endpoint: "opc.tcp://gds.example:4850", json: true }, useGdsCertificate: true, regeneratePrivateKey: false, securityMode: "Sign", userName: "", password: "" });
    const b = parseCli(["push", "set", ID, "--endpoint", "opc.tcp://plc7:4840", "--user", "u", "--password-env", "DEVICE_PW", "--gds-endpoint", "opc.tcp://10.0.0.1:4840"], env) as PushCommand;
    expect(b.admin.endpoint).toBe("opc.tcp://10.0.0.1:4840");
  });

  it("push set: usage errors say what is missing or wrong (exit 2)", () => {
    const base = ["push", "set", ID];
    const cases: [string[], string][] = [
      [[...base, "--user", "u", "--password-env", "DEVICE_PW"], "missing --endpoint URL"],
      [[...base, "--endpoint", "opc.tcp://plc7", "--user", "u", "--password-env", "DEVICE_PW"], "invalid --endpoint"],
      [[...base, "--endpoint", "opc.tcp://plc7:4840", "--password-env", "DEVICE_PW"], "missing --user U"],
      [[...base, "--endpoint", "opc.tcp://plc7:4840", "--user", "u"], "missing --password-env VAR"],
      [[...base, "--endpoint", "opc.tcp://plc7:4840", "--user", "u", "--password-env", "NOPE"], "environment variable NOPE (--password-env) is not set"],
      [[...base, "--endpoint", "opc.tcp://plc7:4840", "--use-gds-certificate", "--user", "u"], "--use-gds-certificate goes without"],
      [[...base, "--endpoint", "opc.tcp://plc7:4840", "--user", "u", "--password-env", "DEVICE_PW", "--gds-endpoint", "http://x"], "invalid GDS endpoint"],
      [["push", "set", "--endpoint", "opc.tcp://plc7:4840"], "missing ID"],
      [["push", "set", ID, "--password", "x"], "Unknown option '--password'"],
    ];
    for (const [argv, message] of cases) {
      const err = parseError(argv);
      expect(err.exitCode).toBe(ExitCode.Usage);
      expect(err.message).toContain(message);
    }
  });

  it("push now, status [ID], remove", () => {
    expect(parseCli(["push", "now", ID], ENV)).toMatchObject({ kind: "push now", applicationId: ID, wait: true, timeoutMs: PUSH_NOW_DEFAULT_TIMEOUT_MS });
    expect(parseCli(["push", "now", ID, "--no-wait", "--timeout", "90s", "--endpoint", "opc.tcp://gds:1"], ENV)).toMatchObject({ wait: false, timeoutMs: 90_000, admin: { endpoint: "opc.tcp://gds:1" } });
    expect(parseCli(["push", "status"], ENV)).toEqual({ kind: "push status", admin: expect.objectContaining({ json: false }) });
    expect(parseCli(["push", "status", ID, "--json"], ENV)).toMatchObject({ kind: "push status", applicationId: ID, admin: { json: true } });
    expect(parseCli(["push", "remove", ID], ENV)).toMatchObject({ kind: "push remove", applicationId: ID });
    expect(parseError(["push", "status", ID, "extra"]).message).toContain('unexpected argument "extra"');
    expect(parseError(["push", "now"]).message).toContain("missing ID");
    expect(parseError(["push", "now", ID, "--timeout", "soon"]).message).toContain("invalid --timeout");
    expect(parseError(["push", "nope"]).message).toContain('unknown command "push nope"');
    expect(parseError(["push", "status"], {}).message).toContain("GDS_ADMIN_PASSWORD is not set");
  });

  it("GDS_ENDPOINT is the default GDS endpoint of every admin command; a flag wins over it", () => {
    const env = { ...ENV, GDS_ENDPOINT: "opc.tcp://gds.example:4850" };
    for (const argv of [["apps", "list"], ["status"], ["push", "status"], ["push", "now", ID]]) {
      expect((parseCli(argv, env) as { admin: { endpoint: string } }).admin.endpoint).toBe("opc.tcp://gds.example:4850");
      expect((parseCli([...argv, "--endpoint", "opc.tcp://other:4840"], env) as { admin: { endpoint: string } }).admin.endpoint).toBe("opc.tcp://other:4840");
    }
    expect((parseCli(["apps", "list"], ENV) as { admin: { endpoint: string } }).admin.endpoint).toBe("opc.tcp://localhost:4840");
  });
});

describe("gds push: admin calls and output", () => {
  const status = (over: Record<string, unknown> = {}) => ({
    applicationId: ID,
    applicationUri: "urn:plc7",
    endpointUrl: "opc.tcp://plc7:4840",
    securityPolicy: "Basic256Sha256",
    securityMode: "SignAndEncrypt",
    identity: { kind: "userName", userName: "secadmin" },
    status: { running: false, consecutiveFailures: 0, lastResult: "ok", lastAttempt: "2026-11-25T10:00:00.000Z", certificate: { serialHex: "1a2b", notAfter: "2027-11-25T10:00:00.000Z" }, ...over },
  });

  function fake(script: (method: string, inputs: unknown[]) => unknown[]): { call: AdminCall; calls: [string, unknown[]][] } {
    const calls: [string, unknown[]][] = [];
    return {
      calls,
      call: async (method, inputs) => {
        calls.push([method, inputs]);
        return script(method, inputs);
      },
    };
  }

  it("push set sends the table's eight inputs; the password only there", async () => {
    const f = fake(() => [JSON.stringify({ applicationId: ID, endpointUrl: "opc.tcp://plc7:4840", securityPolicy: "Basic256Sha256", securityMode: "SignAndEncrypt", identity: { kind: "userName", userName: "secadmin" }, regeneratePrivateKey: true, group: "DefaultApplicationGroup" })]);
    const cmd = parseCli(["push", "set", ID, "--endpoint", "opc.tcp://plc7:4840", "--user", "secadmin", "--password-env", "DEVICE_PW"], ENV) as AdminCommand;
    const out = await runAdminCommand(cmd, f.call);
    expect(f.calls).toEqual([["SetPushTarget", [ID, "opc.tcp://plc7:4840", "", "", "secadmin", "device-secret", false, true]]]);
    expect(out).toContain("push target set for");
    expect(out).toContain("user secadmin");
    expect(out).not.toContain("device-secret");
  });

  it("push now waits: polls GetPushStatus until the cycle ended; a failure is exit 1 with step and code", async () => {
    let polls = 0;
    const f = fake((method) => {
      if (method === "PushNow") return [JSON.stringify(status({ running: true }))];
      polls++;
      return [JSON.stringify([polls < 2 ? status({ running: true }) : status()])];
    });
    const ok = await runPushCommand(parseCli(["push", "now", ID], ENV) as PushCommand, f.call, { pollMs: 1 });
    expect(f.calls.map((c) => c[0])).toEqual(["PushNow", "GetPushStatus", "GetPushStatus"]);
    expect(f.calls[0][1]).toEqual([ID, true]);
    expect(ok).toContain("serial 1a2b");

    const failed = fake(() => [JSON.stringify(status({ lastResult: "failed", lastError: { step: "connect", statusCode: "BadUserAccessDenied", message: "wrong password" } }))]);
    await expect(runPushCommand(parseCli(["push", "now", ID], ENV) as PushCommand, failed.call, { pollMs: 1 })).rejects.toMatchObject({
      exitCode: ExitCode.Failure,
      message: expect.stringContaining("failed at step connect: BadUserAccessDenied: wrong password"),
    });

    const partly = fake(() => [
      JSON.stringify(status({ lastResult: "failed", certificate: { serialHex: "beef", notAfter: "2027-01-01T00:00:00.000Z", confirmedAt: "2026-11-25T10:00:03.000Z" }, lastError: { step: "verifyTrustList", statusCode: "BadNotSupported", message: "no CRLs" } })),
    ]);
    await expect(runPushCommand(parseCli(["push", "now", ID], ENV) as PushCommand, partly.call, { pollMs: 1 })).rejects.toMatchObject({
      exitCode: ExitCode.Failure,
      message: expect.stringContaining("partly failed: the device now serves certificate beef, but step verifyTrustList: BadNotSupported"),
    });

    const stuck = fake((method) => (method === "PushNow" ? [JSON.stringify(status({ pushRequestedAt: "2026-11-25T10:00:05.000Z" }))] : [JSON.stringify([status({ running: true })])]));
    let t = 0;
    await expect(runPushCommand({ ...(parseCli(["push", "now", ID, "--timeout", "2s"], ENV) as PushCommand) }, stuck.call, { pollMs: 1, now: () => (t += 500) })).rejects.toMatchObject({ message: expect.stringContaining("has not ended after 2 s") });

    const noWait = fake(() => [JSON.stringify(status({ pushRequestedAt: "x" }))]);
    expect(await runPushCommand(parseCli(["push", "now", ID, "--no-wait"], ENV) as PushCommand, noWait.call)).toBe(`push of ${ID} scheduled\n`);
    expect(noWait.calls).toEqual([["PushNow", [ID, false]]]);
  });

  it("push status: table for all, details for one, JSON as the server sent it", async () => {
    const f = fake((_m, inputs) => [JSON.stringify(inputs[0] === "" ? [status(), status({ lastResult: "failed", consecutiveFailures: 3, lastError: { step: "connect", statusCode: "BadTimeout", message: "no answer" } })] : [status()])]);
    const table = await runPushCommand(parseCli(["push", "status"], ENV) as PushCommand, f.call);
    expect(table.split("\n")[0]).toMatch(/^APPLICATION\s+ENDPOINT\s+RESULT/);
    expect(table).toContain("failed (connect: BadTimeout)");
    const one = await runPushCommand(parseCli(["push", "status", ID], ENV) as PushCommand, f.call);
    expect(one).toContain("certificate:");
    const json = JSON.parse(await runPushCommand(parseCli(["push", "status", ID, "--json"], ENV) as PushCommand, f.call));
    expect(json.status.certificate.serialHex).toBe("1a2b");
    expect(f.calls.map((c) => c[1])).toEqual([[""], [ID], [ID]]);
    expect(formatPushStatusTable([])).toBe("no push targets\n");
    expect(formatPushStatus({ applicationId: ID, status: { running: true } })).toContain("running");
  });

  it("waiting for approval (GDS_AUTO_APPROVE=false): status names the request and how to approve it; push now exits 1 saying so", async () => {
    const REQ = "5f0c2d1e-8a9b-4c3d-9e8f-0a1b2c3d4e5f";
    const waiting = status({ lastResult: "waitingForApproval", pendingRequestId: REQ, pendingRequestSince: "2026-11-25T10:00:00.000Z", certificate: undefined });
    const f = fake((method) => [JSON.stringify(method === "PushNow" ? waiting : [waiting])]);
    const table = await runPushCommand(parseCli(["push", "status"], ENV) as PushCommand, f.call);
    expect(table).toContain(`waiting for approval (request ${REQ})`);
    const one = await runPushCommand(parseCli(["push", "status", ID], ENV) as PushCommand, f.call);
    expect(one).toMatch(new RegExp(`result:\\s+waiting for approval \\(request ${REQ}\\)`));
    expect(one).toContain(`signing request ${REQ} since 2026-11-25T10:00:00.000Z: approve it (gds requests approve ${REQ})`);
    await expect(runPushCommand(parseCli(["push", "now", ID], ENV) as PushCommand, f.call, { pollMs: 1 })).rejects.toMatchObject({
      exitCode: ExitCode.Failure,
      message: expect.stringContaining(`is waiting for approval of signing request ${REQ}`),
    });
    // a trust-list push that went well while the certificate still waits
    expect(formatPushStatusTable([status({ lastResult: "ok", pendingRequestId: REQ })])).toContain(`ok, certificate waiting for approval (request ${REQ})`);
  });
});
