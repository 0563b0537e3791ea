import { DataType, LocalizedText, NodeId, Variant, VariantArrayType, type ExtensionObject } from "node-opcua";
import { DIRECTORY_METHODS as M, DIRECTORY_NODE } from "../../../src/opcua/install-directory.js";
import { callMethod, gdsNode, type CallOutcome, type TestSession } from "./gds-harness.js";

export interface AppFields {
  applicationId?: NodeId;
  applicationUri: string;
  applicationType: number;
  applicationNames: { text: string; locale?: string }[];
  productUri: string;
  discoveryUrls: string[];
  serverCapabilities: string[];
}

let counter = 0;
export function sampleServer(overrides: Partial<AppFields> = {}): AppFields {
  counter++;
  return {
    applicationUri: `urn:test:server:${process.pid}:${counter}`,
    applicationType: 0,
    applicationNames: [{ text: `Test Server ${counter}`, locale: "en" }],
    productUri: "urn:test:product",
    discoveryUrls: [`opc.tcp://device${counter}.local:4840`],
    serverCapabilities: ["DA"],
    ...overrides,
  };
}

/** Builds an ApplicationRecordDataType from the server's own DataTypeDefinition, as a generic client does. */
export async function record(s: TestSession, f: AppFields): Promise<ExtensionObject> {
  return s.session.constructExtensionObject(gdsNode(s, 1), {
    applicationId: f.applicationId ?? NodeId.nullNodeId,
    applicationUri: f.applicationUri,
    applicationType: f.applicationType,
    applicationNames: f.applicationNames.map((n) => new LocalizedText({ text: n.text, locale: n.locale ?? null })),
    productUri: f.productUri,
    discoveryUrls: f.discoveryUrls,
    serverCapabilities: f.serverCapabilities,
  });
}

const dir = (s: TestSession) => gdsNode(s, DIRECTORY_NODE);
const str = (value: string | null) => new Variant({ dataType: DataType.String, value });
const u32 = (value: number) => new Variant({ dataType: DataType.UInt32, value });
const strArr = (value: string[] | null) => new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value });
const nid = (value: NodeId) => new Variant({ dataType: DataType.NodeId, value });

export async function register(s: TestSession, f: AppFields): Promise<CallOutcome> {
  return callMethod(s, dir(s), gdsNode(s, M.RegisterApplication), [new Variant({ dataType: DataType.ExtensionObject, value: await record(s, f) })]);
}
export async function registerOk(s: TestSession, f: AppFields): Promise<NodeId> {
  const r = await register(s, f);
  if (r.statusCode.isNotGood()) throw new Error(`register failed: ${r.statusCode.name} ${r.text}`);
  return r.outputs[0].value as NodeId;
}
export async function update(s: TestSession, f: AppFields): Promise<CallOutcome> {
  return callMethod(s, dir(s), gdsNode(s, M.UpdateApplication), [new Variant({ dataType: DataType.ExtensionObject, value: await record(s, f) })]);
}
export function unregister(s: TestSession, id: NodeId): Promise<CallOutcome> {
  return callMethod(s, dir(s), gdsNode(s, M.UnregisterApplication), [nid(id)]);
}
export function getApplication(s: TestSession, id: NodeId): Promise<CallOutcome> {
  return callMethod(s, dir(s), gdsNode(s, M.GetApplication), [nid(id)]);
}
export function findApplications(s: TestSession, uri: string | null): Promise<CallOutcome> {
  return callMethod(s, dir(s), gdsNode(s, M.FindApplications), [str(uri)]);
}
export interface QueryArgs {
  start?: number;
  max?: number;
  name?: string | null;
  uri?: string | null;
  type?: number;
  product?: string | null;
  caps?: string[] | null;
}
export function queryApplications(s: TestSession, q: QueryArgs = {}): Promise<CallOutcome> {
  return callMethod(s, dir(s), gdsNode(s, M.QueryApplications), [
    u32(q.start ?? 0),
    u32(q.max ?? 0),
    str(q.name ?? null),
    str(q.uri ?? null),
    u32(q.type ?? 0),
    str(q.product ?? null),
    strArr(q.caps ?? null),
  ]);
}
export function queryServers(s: TestSession, q: QueryArgs = {}): Promise<CallOutcome> {
  return callMethod(s, dir(s), gdsNode(s, M.QueryServers), [u32(q.start ?? 0), u32(q.max ?? 0), str(q.name ?? null), str(q.uri ?? null), str(q.product ?? null), strArr(q.caps ?? null)]);
}
