// One simulated device for the pull-onboarding benchmark, and the bare-server churn it is compared
// with. Each run is a fresh OPCUAClient: connect (GetEndpoints, then a Basic256Sha256
// SignAndEncrypt channel), createSession with a UserName token, the work, close the session,
// disconnect. Phase boundaries are taken with performance.now() on the client.
import {
  DataType,
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  Variant,
  type ClientSession,
} from "node-opcua";
import { CERTIFICATE_MANAGER_METHODS } from "../../src/opcua/install-certificate-manager.js";
import { DIRECTORY_NODE } from "../../src/opcua/install-directory.js";
import { readTrustListViaSession } from "../../src/opcua/trust-list-client.js";
import { GDS_NAMESPACE_URI } from "../../src/users/roles.js";

const DIRECTORY = DIRECTORY_NODE;
const { StartSigningRequest: START_SIGNING_REQUEST, FinishRequest: FINISH_REQUEST, GetTrustList: GET_TRUST_LIST } = CERTIFICATE_MANAGER_METHODS;

/**
 * One certificate manager (one client PKI folder, one client application certificate) for every
 * simulated device. node-opcua's client disposes its certificate manager on disconnect; this one
 * ignores that, so the devices share it and the server certificate is verified against a warm,
 * in-memory store (no per-device folder scan and file watchers on the client side).
 */
export class SharedClientPki extends OPCUACertificateManager {
  override async dispose(): Promise<void> {
    // kept alive for the next device; see close()
  }
  async close(): Promise<void> {
    await super.dispose();
  }
}

export interface User {
  userName: string;
  password: string;
}

function newClient(pki: SharedClientPki): OPCUAClient {
  return OPCUAClient.create({
    applicationName: "opcua-gds-bench-device",
    applicationUri: "urn:opcua-gds-bench-device",
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    keepSessionAlive: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager: pki,
    requestedSessionTimeout: 60_000,
  });
}

/** Phase names and their end times (ms since the device's start), in order. */
export type Phases = [string, number][];

async function session<T>(endpointUrl: string, pki: SharedClientPki, user: User, work: (s: ClientSession, mark: (phase: string) => void) => Promise<T>): Promise<{ phases: Phases; totalMs: number; result: T }> {
  const phases: Phases = [];
  const t0 = performance.now();
  const mark = (phase: string) => phases.push([phase, performance.now() - t0]);
  const client = newClient(pki);
  let s: ClientSession | undefined;
  try {
    await client.connect(endpointUrl);
    mark("connect");
    s = await client.createSession({ type: UserTokenType.UserName, userName: user.userName, password: user.password });
    mark("session");
    const result = await work(s, mark);
    await s.close();
    s = undefined;
    await client.disconnect();
    mark("close");
    return { phases, totalMs: performance.now() - t0, result };
  } finally {
    if (s) await s.close().catch(() => undefined);
    await client.disconnect().catch(() => undefined);
  }
}

async function callGood(s: ClientSession, objectId: NodeId, methodId: NodeId, inputArguments: Variant[], what: string): Promise<Variant[]> {
  const r = await s.call({ objectId, methodId, inputArguments });
  if (!r.statusCode.isGood()) throw new Error(`${what}: ${r.statusCode.toString()}`);
  return r.outputArguments ?? [];
}

export interface OnboardingResult {
  phases: Phases;
  totalMs: number;
  certificate: Buffer;
  trustedCertificates: number;
}

/**
 * A device onboarding by pull: read the namespace array (for the GDS namespace index),
 * StartSigningRequest(its ApplicationId, default group and type, its CSR), FinishRequest (the GDS
 * approves at once: GDS_AUTO_APPROVE), GetTrustList, then Open/Read/Close of that TrustList.
 */
export async function onboardDevice(endpointUrl: string, pki: SharedClientPki, user: User, applicationId: NodeId, csrDer: Buffer): Promise<OnboardingResult> {
  const r = await session(endpointUrl, pki, user, async (s, mark) => {
    const ns = ((await s.readNamespaceArray()) as string[]).indexOf(GDS_NAMESPACE_URI);
    if (ns < 0) throw new Error(`no ${GDS_NAMESPACE_URI} namespace on ${endpointUrl}`);
    const gds = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, ns);
    // The ApplicationId came from another session of the same server: same namespace index.
    const appId = new Variant({ dataType: DataType.NodeId, value: applicationId });
    const nullId = new Variant({ dataType: DataType.NodeId, value: NodeId.nullNodeId });
    mark("namespaces");
    const started = await callGood(s, gds(DIRECTORY), gds(START_SIGNING_REQUEST), [appId, nullId, nullId, new Variant({ dataType: DataType.ByteString, value: csrDer })], "StartSigningRequest");
    const requestId = started[0]!.value as NodeId;
    mark("StartSigningRequest");
    const finished = await callGood(s, gds(DIRECTORY), gds(FINISH_REQUEST), [appId, new Variant({ dataType: DataType.NodeId, value: requestId })], "FinishRequest");
    const certificate = finished[0]?.value as Buffer | null;
    if (!certificate || certificate.length === 0) throw new Error("FinishRequest returned no certificate");
    mark("FinishRequest");
    const tl = await callGood(s, gds(DIRECTORY), gds(GET_TRUST_LIST), [appId, nullId], "GetTrustList");
    const trustListId = tl[0]!.value as NodeId;
    mark("GetTrustList");
    const list = await readTrustListViaSession(s, trustListId);
    mark("trust list read");
    return { certificate: Buffer.from(certificate), trustedCertificates: list.content.trustedCertificates.length };
  });
  return { phases: r.phases, totalMs: r.totalMs, ...r.result };
}

/** The stack's own churn on the bare server: the same session life cycle around one trivial method. */
export async function bareChurn(endpointUrl: string, pki: SharedClientPki, user: User): Promise<{ phases: Phases; totalMs: number }> {
  const ping = { objectId: NodeId.resolveNodeId("ns=1;s=Bench"), methodId: NodeId.resolveNodeId("ns=1;s=Bench.Ping") };
  const r = await session(endpointUrl, pki, user, async (s, mark) => {
    await callGood(s, ping.objectId, ping.methodId, [], "Ping");
    mark("Ping");
  });
  return { phases: r.phases, totalMs: r.totalMs };
}
