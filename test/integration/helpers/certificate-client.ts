/**
 * Typed wrappers of the CertificateManager methods on the Directory object (ns=GDS;i=141), each
 * answering {statusCode, text, outputs} like callMethod, plus a few conveniences that throw on a
 * bad status (issue a certificate, read a trust list, read LastUpdateTime).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect } from "@jest/globals";
import {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  Variant,
  VariantArrayType,
  type ClientSession,
  type StatusCode,
  type UserIdentityInfo,
} from "node-opcua";
import { CERTIFICATE_MANAGER_METHODS } from "../../../src/opcua/install-certificate-manager.js";
import { DIRECTORY_NODE } from "../../../src/opcua/install-directory.js";
import { readTrustListViaSession } from "../../../src/opcua/trust-list-client.js";
import type { DecodedTrustList } from "../../../src/opcua/trust-list-codec.js";
import { derToPem } from "./csr.js";
import { GDS_NAMESPACE_URI, callMethod, gdsNode, tempDir, type CallOutcome, type TestSession } from "./gds-harness.js";

/** CertificateGroup objects of the GDS (ns=GDS) and their TrustList objects. */
export const GROUP = { DefaultApplicationGroup: 615, DefaultHttpsGroup: 649, DefaultUserTokenGroup: 683 } as const;
export const TRUST_LIST = { DefaultApplicationGroup: 616, DefaultHttpsGroup: 650, DefaultUserTokenGroup: 684 } as const;
/** Certificate types (ns0). */
export const CERT_TYPE = { RsaMin: 12559, RsaSha256: 12560, EccNistP256: 23538, EccNistP384: 23539, Https: 12558 } as const;

export const ns0 = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, 0);
const nid = (value: NodeId | null | undefined) => new Variant({ dataType: DataType.NodeId, value: value ?? NodeId.nullNodeId });
const str = (value: string | null) => new Variant({ dataType: DataType.String, value });
const strArr = (value: string[] | null) => new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value });
const bytes = (value: Buffer | null) => new Variant({ dataType: DataType.ByteString, value });

function call(s: TestSession, method: keyof typeof CERTIFICATE_MANAGER_METHODS, args: Variant[]): Promise<CallOutcome> {
  return callMethod(s, gdsNode(s, DIRECTORY_NODE), gdsNode(s, CERTIFICATE_MANAGER_METHODS[method]), args);
}

/** A group: a GROUP name (→ ns=GDS NodeId), a NodeId, or null (the server's default). */
export type GroupArg = keyof typeof GROUP | NodeId | null | undefined;
/** A type: a CERT_TYPE name (→ ns0 NodeId), a NodeId, or null. */
export type TypeArg = keyof typeof CERT_TYPE | NodeId | null | undefined;

function groupId(s: TestSession, g: GroupArg): NodeId | null {
  if (g === null || g === undefined) return null;
  return typeof g === "string" ? gdsNode(s, GROUP[g]) : g;
}
function typeId(t: TypeArg): NodeId | null {
  if (t === null || t === undefined) return null;
  return typeof t === "string" ? ns0(CERT_TYPE[t]) : t;
}

export function startSigningRequest(s: TestSession, applicationId: NodeId, csrDer: Buffer | null, group?: GroupArg, type?: TypeArg): Promise<CallOutcome> {
  return call(s, "StartSigningRequest", [nid(applicationId), nid(groupId(s, group)), nid(typeId(type)), bytes(csrDer)]);
}

export interface NewKeyPairArgs {
  group?: GroupArg;
  type?: TypeArg;
  subjectName?: string | null;
  domainNames?: string[] | null;
  /** Default "PEM". */
  privateKeyFormat?: string;
  privateKeyPassword?: string | null;
}
export function startNewKeyPairRequest(s: TestSession, applicationId: NodeId, a: NewKeyPairArgs = {}): Promise<CallOutcome> {
  return call(s, "StartNewKeyPairRequest", [
    nid(applicationId),
    nid(groupId(s, a.group)),
    nid(typeId(a.type)),
    str(a.subjectName ?? null),
    strArr(a.domainNames ?? null),
    str(a.privateKeyFormat ?? "PEM"),
    str(a.privateKeyPassword ?? null),
  ]);
}
export function finishRequest(s: TestSession, applicationId: NodeId, requestId: NodeId): Promise<CallOutcome> {
  return call(s, "FinishRequest", [nid(applicationId), nid(requestId)]);
}
export function getCertificateGroups(s: TestSession, applicationId: NodeId): Promise<CallOutcome> {
  return call(s, "GetCertificateGroups", [nid(applicationId)]);
}
export function getTrustList(s: TestSession, applicationId: NodeId, group?: GroupArg): Promise<CallOutcome> {
  return call(s, "GetTrustList", [nid(applicationId), nid(groupId(s, group))]);
}
export function getCertificateStatus(s: TestSession, applicationId: NodeId, group?: GroupArg, type?: TypeArg): Promise<CallOutcome> {
  return call(s, "GetCertificateStatus", [nid(applicationId), nid(groupId(s, group)), nid(typeId(type))]);
}
export function revokeCertificate(s: TestSession, applicationId: NodeId, certificateDer: Buffer | null): Promise<CallOutcome> {
  return call(s, "RevokeCertificate", [nid(applicationId), bytes(certificateDer)]);
}
export function getCertificates(s: TestSession, applicationId: NodeId, group?: GroupArg): Promise<CallOutcome> {
  return call(s, "GetCertificates", [nid(applicationId), nid(groupId(s, group))]);
}
export function checkRevocationStatus(s: TestSession, certificateDer: Buffer | null): Promise<CallOutcome> {
  return call(s, "CheckRevocationStatus", [bytes(certificateDer)]);
}

// --- assertions and conveniences -------------------------------------------------------------

export function statusName(r: CallOutcome): string {
  return (r.statusCode as StatusCode).name;
}

/** Asserts the status by name; on a mismatch the message shows the server's diagnostic text. */
export function expectStatus(r: CallOutcome, name: string): void {
  expect(`${statusName(r)}: ${r.text ?? ""}`).toMatch(new RegExp(`^${name}\\b`));
}

function mustBeGood(r: CallOutcome, what: string): CallOutcome {
  if (!r.statusCode.isGood()) throw new Error(`${what} failed: ${statusName(r)} ${r.text ?? ""}`);
  return r;
}

export interface IssuedCertificate {
  /** DER. */
  certificate: Buffer;
  /** PKCS#8 PEM, when the GDS made the key (PEM format). */
  privateKeyPem?: string;
  /** The CA chain, immediate issuer first (DER). */
  issuers: Buffer[];
  requestId: NodeId;
}

function finishOutputs(r: CallOutcome, requestId: NodeId): IssuedCertificate {
  const certificate = r.outputs[0]?.value as Buffer;
  const key = r.outputs[1]?.value as Buffer | null;
  const issuers = ((r.outputs[2]?.value as Buffer[] | null) ?? []).map((b) => Buffer.from(b));
  let privateKeyPem: string | undefined;
  if (key && key.length > 0) {
    // The spec allows PEM text or base64 DER here; keep whichever it is as PEM text.
    const text = key.toString("utf8");
    privateKeyPem = text.startsWith("-----BEGIN") ? text : derToPem(Buffer.from(key), "PRIVATE KEY");
  }
  return { certificate: Buffer.from(certificate), privateKeyPem, issuers, requestId };
}

/** StartNewKeyPairRequest + FinishRequest (auto-approve); throws unless both are Good. */
export async function issueNewKeyPair(s: TestSession, applicationId: NodeId, a: NewKeyPairArgs = {}): Promise<IssuedCertificate> {
  const start = mustBeGood(await startNewKeyPairRequest(s, applicationId, a), "StartNewKeyPairRequest");
  const requestId = start.outputs[0].value as NodeId;
  const finish = mustBeGood(await finishRequest(s, applicationId, requestId), "FinishRequest");
  return finishOutputs(finish, requestId);
}

/** StartSigningRequest + FinishRequest (auto-approve); throws unless both are Good. */
export async function issueFromCsr(s: TestSession, applicationId: NodeId, csrDer: Buffer, group?: GroupArg, type?: TypeArg): Promise<IssuedCertificate> {
  const start = mustBeGood(await startSigningRequest(s, applicationId, csrDer, group, type), "StartSigningRequest");
  const requestId = start.outputs[0].value as NodeId;
  const finish = mustBeGood(await finishRequest(s, applicationId, requestId), "FinishRequest");
  return finishOutputs(finish, requestId);
}

/** GetTrustList + Open/Read/Close of the list it names. */
export async function fetchTrustList(s: TestSession, applicationId: NodeId, group?: GroupArg): Promise<{ trustListId: NodeId; list: DecodedTrustList }> {
  const r = mustBeGood(await getTrustList(s, applicationId, group), "GetTrustList");
  const trustListId = r.outputs[0].value as NodeId;
  return { trustListId, list: await readTrustListViaSession(s.session, trustListId) };
}

/** The LastUpdateTime property of a TrustList object. */
export async function readLastUpdateTime(s: TestSession, trustListId: NodeId): Promise<Date> {
  const r = await s.session.translateBrowsePath({ startingNode: trustListId, relativePath: { elements: [{ targetName: { name: "LastUpdateTime", namespaceIndex: 0 } }] } });
  const target = r.targets?.[0]?.targetId as NodeId | undefined;
  if (!target) throw new Error(`${trustListId.toString()} has no LastUpdateTime: ${r.statusCode.name}`);
  const dv = await s.session.read({ nodeId: target, attributeId: AttributeIds.Value });
  if (!dv.statusCode.isGood()) throw new Error(`reading LastUpdateTime: ${dv.statusCode.name}`);
  return dv.value.value as Date;
}

/** Serial number of a certificate, lower-case hex without leading zero bytes. */
export function serialOf(der: Buffer): string {
  let s = new crypto.X509Certificate(der).serialNumber.toLowerCase();
  while (s.length > 2 && s.startsWith("00")) s = s.slice(2);
  return s;
}

export function certificatePem(der: Buffer): string {
  return derToPem(der, "CERTIFICATE");
}

// --- clients that present a given application certificate -----------------------------------

export interface CertificateIdentity {
  /** The application certificate, DER. */
  certificate: Buffer;
  /** Sent after the certificate on the channel (the CA chain), DER. */
  chain?: Buffer[];
  privateKeyPem: string;
  /** Must match the certificate's SAN URI (servers compare them at CreateSession). */
  applicationUri: string;
}

export interface CertificateConnectOptions {
  /** undefined/null → anonymous. */
  user?: { userName: string; password: string } | null;
  securityMode?: MessageSecurityMode;
  securityPolicy?: SecurityPolicy;
}

/**
 * A node-opcua client whose channel is secured with `id` (certificate + key written to files in a
 * fresh client PKI, as `certificateFile`/`privateKeyFile`), then a session (anonymous by default).
 * Rejects when the channel or the session is refused.
 */
export async function connectWithCertificate(endpointUrl: string, id: CertificateIdentity, opts: CertificateConnectOptions = {}): Promise<TestSession> {
  const dir = tempDir("gds-it-certclient-");
  const certificateFile = path.join(dir, "client_certificate.pem");
  const privateKeyFile = path.join(dir, "client_private_key.pem");
  fs.writeFileSync(certificateFile, [id.certificate, ...(id.chain ?? [])].map((d) => certificatePem(d)).join(""));
  fs.writeFileSync(privateKeyFile, id.privateKeyPem, { mode: 0o600 });
  const clientCertificateManager = new OPCUACertificateManager({ rootFolder: path.join(dir, "pki"), automaticallyAcceptUnknownCertificate: true });
  const client = OPCUAClient.create({
    applicationName: "opcua-gds-test-certificate-client",
    applicationUri: id.applicationUri,
    securityMode: opts.securityMode ?? MessageSecurityMode.SignAndEncrypt,
    securityPolicy: opts.securityPolicy ?? SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager,
    certificateFile,
    privateKeyFile,
  });
  let session: ClientSession;
  try {
    await client.connect(endpointUrl);
    const identity: UserIdentityInfo = opts.user ? { type: UserTokenType.UserName, userName: opts.user.userName, password: opts.user.password } : { type: UserTokenType.Anonymous };
    session = await client.createSession(identity);
  } catch (err) {
    await client.disconnect().catch(() => undefined);
    await clientCertificateManager.dispose();
    throw err;
  }
  const nsArray = (await session.readNamespaceArray()) as string[];
  return {
    client,
    session,
    gdsNs: nsArray.indexOf(GDS_NAMESPACE_URI),
    async close() {
      await session.close().catch(() => undefined);
      await client.disconnect();
      await clientCertificateManager.dispose();
    },
  };
}
