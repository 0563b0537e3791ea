import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { NodeId, StatusCodes } from "node-opcua";
import { finishRequest, startNewKeyPairRequest } from "./helpers/certificate-client.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";
import { connect, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";

interface RequestJson {
  requestId: string;
  applicationId: string;
  kind: string;
  group: string;
  type: string;
  state: string;
  createdAt: string;
  requestedBy: string;
  reason?: string;
}

/**
 * Approval from the CLI against a running server with GDS_AUTO_APPROVE=false (issue 3): requests
 * wait as pending; `gds requests approve` lets FinishRequest deliver, `gds requests reject` makes
 * it answer BadRequestNotAllowed.
 */
describe("gds requests against a server without auto-approval", () => {
  let t: TestGds;
  let admin: TestSession;
  let endpoint: string;
  let cliPki: string;
  const gds = gdsCli(() => cliPki);
  const at = () => ["--endpoint", endpoint];

  /** StartNewKeyPairRequest (default group and type, subject and host names from the record, PEM). */
  async function startPendingRequest(applicationId: NodeId): Promise<NodeId> {
    const r = await startNewKeyPairRequest(admin, applicationId, { subjectName: "", domainNames: [], privateKeyFormat: "PEM", privateKeyPassword: "" });
    if (r.statusCode.isNotGood()) throw new Error(`StartNewKeyPairRequest: ${r.statusCode.name} ${r.text}`);
    return r.outputs[0].value as NodeId;
  }

  async function listRequests(...args: string[]): Promise<RequestJson[]> {
    const r = await gds(["requests", "list", "--json", ...args, ...at()]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    return JSON.parse(r.stdout) as RequestJson[];
  }

  /** An ApplicationId or RequestId as every admin output shows it: the lower-case GUID. */
  const guid = (id: NodeId): string => String(id.value).toLowerCase();

  /** The listed request whose id is this RequestId. */
  function listed(requests: RequestJson[], requestId: NodeId): RequestJson | undefined {
    return requests.find((r) => r.requestId === guid(requestId));
  }

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = tempDir("gds-cli-req-pki-");
    t = await startTestGds({ autoApprove: false });
    endpoint = t.endpointUrl;
    admin = await connect(endpoint);
    // the first CLI call pins the server certificate (a line on stderr); later calls are quiet
    expect((await gds(["users", "list", ...at()])).code).toBe(0);
  });
  afterAll(async () => {
    await admin?.close();
    await t?.stop();
    for (const dir of [cliPki, t?.config.dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("lists a pending request; approve lets FinishRequest deliver the certificate", async () => {
    const app = sampleServer();
    const applicationId = await registerOk(admin, app);
    const requestId = await startPendingRequest(applicationId);

    const pending = listed(await listRequests(), requestId);
    expect(pending).toMatchObject({
      applicationId: guid(applicationId),
      kind: "newKeyPair",
      group: "DefaultApplicationGroup",
      state: "pending",
      requestedBy: "admin",
    });
    expect(listed(await listRequests("--state", "pending"), requestId)).toBeDefined();
    expect(listed(await listRequests("--state", "delivered"), requestId)).toBeUndefined();
    const table = await gds(["requests", "list", "--state", "pending", ...at()]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`request ${pending!.requestId}  pending  newKeyPair\n  application   ${guid(applicationId)}  ${app.applicationUri}  "${app.applicationNames[0].text}"\n`);

    // not approved yet: the application has to keep polling
    const early = await finishRequest(admin, applicationId, requestId);
    expect(early.statusCode.name).toBe("BadNothingToDo");

    const approve = await gds(["requests", "approve", pending!.requestId, ...at()]);
    expect(approve).toMatchObject({ code: 0, stderr: "" });
    expect(approve.stdout).toBe(`approved request ${pending!.requestId} of application ${guid(applicationId)} (state approved)\n`);

    const done = await finishRequest(admin, applicationId, requestId);
    expect(done.statusCode.name).toBe(StatusCodes.Good.name);
    const [certificate, privateKey, issuers] = done.outputs.map((v) => v.value as unknown);
    const cert = new X509Certificate(certificate as Buffer);
    expect(cert.subjectAltName).toContain(app.applicationUri);
    expect(Buffer.from(privateKey as Buffer).toString("utf8")).toMatch(/^-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/);
    expect(cert.checkIssued(new X509Certificate((issuers as Buffer[])[0]))).toBe(true);

    expect(listed(await listRequests(), requestId)?.state).toBe("delivered");
    // decided requests cannot be approved again
    const again = await gds(["requests", "approve", pending!.requestId, ...at()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^gds: BadInvalidState: .+\n$/);
  });

  it("reject (by RequestId NodeId string) makes FinishRequest answer BadRequestNotAllowed", async () => {
    const applicationId = await registerOk(admin, sampleServer());
    const requestId = await startPendingRequest(applicationId);

    const reject = await gds(["requests", "reject", requestId.toString(), "--reason", "unknown device", "--json", ...at()]);
    expect(reject).toMatchObject({ code: 0, stderr: "" });
    const rejected = JSON.parse(reject.stdout) as RequestJson;
    expect(rejected).toMatchObject({ applicationId: guid(applicationId), state: "rejected", reason: "unknown device" });
    expect(listed([rejected], requestId)).toBeDefined();

    const finish = await finishRequest(admin, applicationId, requestId);
    expect(finish.statusCode.name).toBe("BadRequestNotAllowed");
    expect(listed(await listRequests("--state", "rejected"), requestId)).toMatchObject({ state: "rejected" });

    const approveRejected = await gds(["requests", "approve", rejected.requestId, ...at()]);
    expect(approveRejected.code).toBe(1);
    expect(approveRejected.stderr).toMatch(/^gds: BadInvalidState: /);
  });

  it("answers an unknown request id with not found (exit 5)", async () => {
    const unknown = "6f1c0a52-1d7e-4c1b-9a3e-0c0ffee00001";
    const [approve, reject] = await Promise.all([
      gds(["requests", "approve", unknown, ...at()]),
      gds(["requests", "reject", `ns=1;g=${unknown}`, ...at()]),
    ]);
    for (const r of [approve, reject]) {
      expect(r).toMatchObject({ code: 5, stdout: "" });
      expect(r.stderr).toMatch(/^gds: not found: .+\n$/);
    }
  });

  it("lets only a RegistrationAuthorityAdmin approve or reject (exit 4 otherwise)", async () => {
    const pw = { CA_PW: "ca-admin-password-1", OBS_PW: "observer-password-1" };
    const env = { ...pw };
    expect((await gds(["users", "add", "caadmin", "--role", "CertificateAuthorityAdmin", "--password-env", "CA_PW", ...at()], env)).code).toBe(0);
    expect((await gds(["users", "add", "watcher", "--role", "Observer", "--password-env", "OBS_PW", ...at()], env)).code).toBe(0);

    const applicationId = await registerOk(admin, sampleServer());
    const requestId = await startPendingRequest(applicationId);
    const id = listed(await listRequests("--state", "pending"), requestId)!.requestId;

    const asCa = { GDS_ADMIN_USER: "caadmin", GDS_ADMIN_PASSWORD: pw.CA_PW };
    const asObserver = { GDS_ADMIN_USER: "watcher", GDS_ADMIN_PASSWORD: pw.OBS_PW };
    // any admin role may look …
    expect((await gds(["requests", "list", ...at()], asCa)).code).toBe(0);
    // … but approving and rejecting belong to the RegistrationAuthorityAdmin
    const [approve, reject, observerList] = await Promise.all([
      gds(["requests", "approve", id, ...at()], asCa),
      gds(["requests", "reject", id, ...at()], asCa),
      gds(["requests", "list", ...at()], asObserver),
    ]);
    for (const r of [approve, reject, observerList]) {
      expect(r).toMatchObject({ code: 4, stdout: "" });
      expect(r.stderr).toMatch(/^gds: access denied: /);
    }
    expect(approve.stderr).toMatch(/RegistrationAuthorityAdmin/);
    expect(listed(await listRequests(), requestId)?.state).toBe("pending");
  });
});
