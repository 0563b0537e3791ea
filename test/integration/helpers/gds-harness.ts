import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import {
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  UserTokenType,
  type ClientSession,
  type StatusCode,
  type UserIdentityInfo,
  type Variant,
  type VariantLike,
} from "node-opcua";
import { ADMIN_METHODS, ADMIN_NAMESPACE_URI, ADMIN_OBJECT_ID } from "../../../src/admin/admin-model.js";
import { defaultSettings, type GdsConfig } from "../../../src/config.js";
import { startGds, type RunningGds } from "../../../src/server.js";
import type { Clock } from "../../../src/clock.js";

export const ADMIN_PASSWORD = "test-admin-password-1";
export const GDS_NAMESPACE_URI = "http://opcfoundation.org/UA/GDS/";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** One client PKI for the whole test run: generating a client key pair takes a while. */
export function sharedClientPkiDir(name = "default"): string {
  return path.join(os.tmpdir(), `opcua-gds-test-client-pki-${name}`);
}

export interface TestGds {
  gds: RunningGds;
  config: GdsConfig;
  endpointUrl: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts the real server on 127.0.0.1 with a temp data dir (or the given one); `clock` drives the GDS domain only. */
export async function startTestGds(overrides: Partial<GdsConfig> = {}, options: { clock?: Clock } = {}): Promise<TestGds> {
  const dataDir = overrides.dataDir ?? tempDir("gds-it-");
  const config: GdsConfig = {
    ...defaultSettings(),
    // 2048-bit CA keys: a 3072-bit key takes seconds to make, and every test starts a fresh CA.
    caKeySize: 2048,
    port: await freePort(),
    hostname: "127.0.0.1",
    dataDir,
    adminPassword: ADMIN_PASSWORD,
    logLevel: "info",
    acceptUnknownCertificates: true,
    // No /metrics listener unless a test asks for one (httpPort: await freePort()): the default
    // 4841 would collide between servers started in parallel.
    httpPort: 0,
    ...overrides,
  };
  const logFile = path.join(dataDir, "test-server.log");
  const logger = pino({ level: config.logLevel }, pino.destination({ dest: logFile, sync: true }));
  const gds = await startGds(config, { logger, clock: options.clock });
  return { gds, config, endpointUrl: gds.endpointUrl, logFile, stop: () => gds.stop() };
}

export interface ConnectOptions {
  securityMode?: MessageSecurityMode;
  securityPolicy?: SecurityPolicy;
  /** undefined → admin; null → anonymous. */
  user?: { userName: string; password: string } | null;
  /** Overrides `user` with any identity (e.g. an X509 user certificate). */
  identity?: UserIdentityInfo;
  pkiName?: string;
}

export interface TestSession {
  client: OPCUAClient;
  session: ClientSession;
  gdsNs: number;
  close(): Promise<void>;
}

export async function connect(endpointUrl: string, opts: ConnectOptions = {}): Promise<TestSession> {
  const clientCertificateManager = new OPCUACertificateManager({
    rootFolder: sharedClientPkiDir(opts.pkiName),
    automaticallyAcceptUnknownCertificate: true,
  });
  const client = OPCUAClient.create({
    applicationName: "opcua-gds-test-client",
    applicationUri: `urn:opcua-gds-test-client:${opts.pkiName ?? "default"}`,
    securityMode: opts.securityMode ?? MessageSecurityMode.SignAndEncrypt,
    securityPolicy: opts.securityPolicy ?? SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 1, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager,
  });
  await client.connect(endpointUrl);
  const user = opts.user === undefined ? { userName: "admin", password: ADMIN_PASSWORD } : opts.user;
  const identity: UserIdentityInfo =
    opts.identity ?? (user ? { type: UserTokenType.UserName, userName: user.userName, password: user.password } : { type: UserTokenType.Anonymous });
  let session: ClientSession;
  try {
    session = await client.createSession(identity);
  } catch (err) {
    await client.disconnect();
    await clientCertificateManager.dispose();
    throw err;
  }
  const nsArray = (await session.readNamespaceArray()) as string[];
  const gdsNs = nsArray.indexOf(GDS_NAMESPACE_URI);
  return {
    client,
    session,
    gdsNs,
    async close() {
      await session.close().catch(() => undefined);
      await client.disconnect();
      await clientCertificateManager.dispose();
    },
  };
}

export interface CallOutcome {
  statusCode: StatusCode;
  /** The server's explanation (operation-level LocalizedText diagnostics). */
  text: string | null;
  outputs: Variant[];
}

/** Calls a method and asks for the server's diagnostic text. */
export async function callMethod(s: TestSession, objectId: NodeId, methodId: NodeId, inputArguments: VariantLike[]): Promise<CallOutcome> {
  const r = await s.session.callWithDiagnostics([{ objectId, methodId, inputArguments }], 0x40 | 0x20);
  return { statusCode: r.results[0].statusCode, text: r.diagnosticStrings[0]?.localizedText ?? null, outputs: r.results[0].outputArguments ?? [] };
}

const adminNamespaces = new WeakMap<TestSession, number>();

/** Calls a method of our admin object by its name in ADMIN_METHODS (the admin namespace resolved once per session). */
export async function callAdmin(s: TestSession, name: string, inputArguments: VariantLike[]): Promise<CallOutcome> {
  const method = ADMIN_METHODS.find((m) => m.name === name);
  if (!method) throw new Error(`no admin method ${name} in ADMIN_METHODS`);
  let ns = adminNamespaces.get(s);
  if (ns === undefined) {
    ns = ((await s.session.readNamespaceArray()) as string[]).indexOf(ADMIN_NAMESPACE_URI);
    adminNamespaces.set(s, ns);
  }
  return callMethod(s, new NodeId(NodeId.NodeIdType.NUMERIC, ADMIN_OBJECT_ID, ns), new NodeId(NodeId.NodeIdType.NUMERIC, method.id, ns), inputArguments);
}

export function gdsNode(s: TestSession, id: number): NodeId {
  return new NodeId(NodeId.NodeIdType.NUMERIC, id, s.gdsNs);
}

export function isGood(o: CallOutcome): boolean {
  return o.statusCode.value === StatusCodes.Good.value;
}
