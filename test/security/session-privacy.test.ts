import fs from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  ActivateSessionRequest,
  AttributeIds,
  MessageSecurityMode,
  NodeId,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  UserNameIdentityToken,
  UserTokenType,
  makeBrowsePath,
  type BinaryStream,
  type ClientSession,
} from "node-opcua";
import { connect, startTestGds, type TestGds, type TestSession } from "../integration/helpers/gds-harness.js";

/**
 * What one client may learn about the others: session diagnostics (names, certificates, users)
 * are for admins; the log never carries a session's authentication token or a password, even
 * when a request cannot be decoded; and GDS_BIND_ADDRESS keeps the listener off other addresses.
 */

const SESSION_DIAGNOSTICS_ARRAY = new NodeId(NodeId.NodeIdType.NUMERIC, 3707, 0);
const SESSION_SECURITY_DIAGNOSTICS_ARRAY = new NodeId(NodeId.NodeIdType.NUMERIC, 3708, 0);

function anonymousClient(): OPCUAClient {
  return OPCUAClient.create({
    applicationName: "curious",
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    endpointMustExist: false,
    keepSessionAlive: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 100 },
  });
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("session privacy", () => {
  let t: TestGds;
  let admin: TestSession;
  /** Anonymous over Basic256Sha256 SignAndEncrypt, as an application managing itself connects. */
  let secureAnonymous: TestSession;
  let anonymous: ClientSession;
  /** Anonymous over SecurityPolicy None. */
  let client: OPCUAClient;
  let plainAnonymous: ClientSession;

  beforeAll(async () => {
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
    secureAnonymous = await connect(t.endpointUrl, { user: null });
    anonymous = secureAnonymous.session;
    client = anonymousClient();
    await client.connect(t.endpointUrl);
    plainAnonymous = await client.createSession({ type: UserTokenType.Anonymous });
  }, 120_000);

  afterAll(async () => {
    await secureAnonymous?.close();
    await plainAnonymous?.close().catch(() => undefined);
    await client?.disconnect();
    await admin?.close();
    await t?.stop();
  });

  it("refuses the session diagnostics arrays to an anonymous session and shows them to the admin", async () => {
    for (const nodeId of [SESSION_DIAGNOSTICS_ARRAY, SESSION_SECURITY_DIAGNOSTICS_ARRAY]) {
      const dv = await anonymous.read({ nodeId, attributeId: AttributeIds.Value });
      expect(dv.statusCode.name).toBe(StatusCodes.BadUserAccessDenied.name);
      // Over SecurityPolicy None node-opcua refuses them already (BadSecurityModeInsufficient).
      const plain = await plainAnonymous.read({ nodeId, attributeId: AttributeIds.Value });
      expect(plain.statusCode.isGood()).toBe(false);
    }
    const dv = await admin.session.read({ nodeId: SESSION_DIAGNOSTICS_ARRAY, attributeId: AttributeIds.Value });
    expect(dv.statusCode.name).toBe("Good");
    const sessionIds = (dv.value.value as { sessionId: NodeId }[]).map((d) => d.sessionId.toString());
    expect(sessionIds).toContain(admin.session.sessionId.toString());
  });

  it("refuses another client's SessionDiagnostics and SessionSecurityDiagnostics to an anonymous session", async () => {
    const adminSessionNode = admin.session.sessionId;
    for (const name of ["SessionDiagnostics", "SessionSecurityDiagnostics"]) {
      const [path] = await admin.session.translateBrowsePath([makeBrowsePath(adminSessionNode, `.${name}`)]);
      expect(path.statusCode.name).toBe("Good");
      const target = path.targets![0].targetId;
      const child = await admin.session.translateBrowsePath([makeBrowsePath(adminSessionNode, `.${name}.ClientDescription`)]).catch(() => undefined);
      const dv = await anonymous.read({ nodeId: target, attributeId: AttributeIds.Value });
      expect(dv.statusCode.name).toBe(StatusCodes.BadUserAccessDenied.name);
      const childId = child?.[0].targets?.[0]?.targetId;
      if (childId) {
        const c = await anonymous.read({ nodeId: childId, attributeId: AttributeIds.Value });
        expect(c.statusCode.name).toBe(StatusCodes.BadUserAccessDenied.name);
      }
    }
    // Nor does browsing the summary show the admin's session object to it.
    const browsed = await anonymous.browse("ns=0;i=3706");
    const ids = (browsed.references ?? []).map((r) => r.nodeId.toString());
    expect(ids).not.toContain(adminSessionNode.toString());
  });

  it("logs an undecodable request without its authentication token or password", async () => {
    const password = "hunter2-Secret-Passw0rd";
    const request = new ActivateSessionRequest({
      userIdentityToken: new UserNameIdentityToken({ userName: "admin", password: Buffer.from(password), policyId: "username_basic256Sha256" }),
    });
    // Encoded whole, then cut short inside the last field: the server decodes the header and the
    // identity token, then fails on the signature.
    const encode = request.encode.bind(request);
    request.encode = (stream: BinaryStream) => {
      encode(stream);
      stream.length -= 4;
    };
    const token = (plainAnonymous as unknown as { authenticationToken: NodeId }).authenticationToken;
    const tokenValue = (token.value as Buffer).toString("base64");
    const before = fs.readFileSync(t.logFile, "utf8").length;
    const transaction = new Promise<void>((resolve) => {
      (plainAnonymous as unknown as { performMessageTransaction(r: unknown, cb: () => void): void }).performMessageTransaction(request, () => resolve());
    });
    transaction.catch(() => undefined);
    await waitFor("the server logging the undecodable request", () => /decode/i.test(fs.readFileSync(t.logFile, "utf8").slice(before)));
    // Everything node-opcua wrote about it is in by now (one synchronous burst).
    await new Promise((r) => setTimeout(r, 500));
    const log = fs.readFileSync(t.logFile, "utf8").slice(before);
    expect(log).not.toContain(tokenValue);
    expect(log).not.toContain(Buffer.from(tokenValue).toString("hex"));
    expect(log).not.toContain(password);
    expect(log).not.toContain(Buffer.from(password).toString("hex"));
    expect(log).toMatch(/ActivateSessionRequest/);
  }, 60_000);
});

describe("GDS_BIND_ADDRESS", () => {
  let t: TestGds;

  beforeAll(async () => {
    t = await startTestGds({ bindAddress: "127.0.0.1" } as never);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it("listens only on the address it is given", async () => {
    const s = await connect(t.endpointUrl);
    await s.close();
    const other = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: "127.0.0.2", port: t.config.port });
      socket.once("connect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(other).toBe("ECONNREFUSED");
  }, 60_000);
});
