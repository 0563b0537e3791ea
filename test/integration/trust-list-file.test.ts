/**
 * The TrustList file protocol of src/opcua/trust-list-file.ts over opc.tcp, on a bare node-opcua
 * server with the GDS nodeset and an in-memory TrustListSource (no CA, no store): handles,
 * positions, modes, sessions, limits and the client helpers of trust-list-client.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  Variant,
  VariantArrayType,
  nodesets,
  type StatusCode,
} from "node-opcua";
import type { CertificateGroupName } from "../../src/ca/certificate-types.js";
import { GdsError } from "../../src/errors.js";
import type { TrustListContent, TrustListSnapshot } from "../../src/requests/certificate-manager.types.js";
import type { CallContext } from "../../src/opcua/method-handler.js";
import { encodeTrustList, encodedTrustListSize } from "../../src/opcua/trust-list-codec.js";
import { readTrustListViaSession, writeTrustListViaSession, TrustListCallError } from "../../src/opcua/trust-list-client.js";
import { installTrustListFile, type TrustListFileBinding, type TrustListSource } from "../../src/opcua/trust-list-file.js";
import { GDS_NAMESPACE_URI, connect as connectTo, freePort, gdsNode, type TestSession } from "./helpers/gds-harness.js";

const ADMIN = { userName: "admin", password: "trust-list-admin-pw" };
const READER = { userName: "reader", password: "trust-list-reader-pw" };

/** TrustList objects and method ids of DefaultApplicationGroup (ns=GDS). */
const TL = 616;
const M = { Open: 622, Close: 625, Read: 627, Write: 630, GetPosition: 632, SetPosition: 635, OpenWithMasks: 638, CloseAndUpdate: 641, AddCertificate: 644, RemoveCertificate: 646 };
const TL_HTTPS = 650;
const TL_USER = 684;

class MemorySource implements TrustListSource {
  private readonly lists = new Map<CertificateGroupName, TrustListSnapshot>();
  private readonly listeners = new Set<(g: CertificateGroupName) => void>();
  readonly calls: string[] = [];

  constructor() {
    for (const group of ["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"] as CertificateGroupName[]) {
      this.lists.set(group, { group, lastUpdateTime: new Date(Date.UTC(2026, 0, 1)), trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] });
    }
  }
  set(group: CertificateGroupName, content: TrustListContent): void {
    this.lists.set(group, { group, ...content, lastUpdateTime: new Date() });
    for (const l of this.listeners) l(group);
  }
  trustList(group: CertificateGroupName): TrustListSnapshot {
    return this.lists.get(group)!;
  }
  async replaceTrustList(group: CertificateGroupName, content: TrustListContent, mask: number, actor: string): Promise<void> {
    this.calls.push(`replace ${group} ${mask} ${actor}`);
    for (const list of Object.values(content) as Buffer[][]) {
      for (const item of list) if (item[0] !== 0x30) throw new GdsError("BadCertificateInvalid", "not DER");
    }
    const next = { ...this.trustList(group) };
    if (mask & 1) next.trustedCertificates = content.trustedCertificates;
    if (mask & 2) next.trustedCrls = content.trustedCrls;
    if (mask & 4) next.issuerCertificates = content.issuerCertificates;
    if (mask & 8) next.issuerCrls = content.issuerCrls;
    this.set(group, next);
  }
  async addTrustListCertificate(group: CertificateGroupName, der: Buffer, isTrusted: boolean, actor: string): Promise<void> {
    this.calls.push(`add ${group} ${isTrusted} ${actor}`);
    const cur = this.trustList(group);
    this.set(group, isTrusted ? { ...cur, trustedCertificates: [...cur.trustedCertificates, der] } : { ...cur, issuerCertificates: [...cur.issuerCertificates, der] });
  }
  async removeTrustListCertificate(group: CertificateGroupName, thumbprint: string, isTrusted: boolean, actor: string): Promise<void> {
    this.calls.push(`remove ${group} ${thumbprint} ${isTrusted} ${actor}`);
    const cur = this.trustList(group);
    const keep = (l: Buffer[]) => l.filter((c) => crypto.createHash("sha1").update(c).digest("hex") !== thumbprint);
    const next = isTrusted ? { ...cur, trustedCertificates: keep(cur.trustedCertificates) } : { ...cur, issuerCertificates: keep(cur.issuerCertificates) };
    if (next.trustedCertificates.length + next.issuerCertificates.length === cur.trustedCertificates.length + cur.issuerCertificates.length) {
      throw new GdsError("BadInvalidArgument", "no such certificate");
    }
    this.set(group, next);
  }
  onTrustListChanged(listener: (group: CertificateGroupName) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const fakeDer = (n: number, len = 40) => Buffer.concat([Buffer.from([0x30, 0x82]), crypto.createHash("sha256").update(String(n)).digest(), Buffer.alloc(len)]);

describe("TrustList file objects (bare server, in-memory source)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gds-trustlist-"));
  let server: OPCUAServer;
  let serverPki: OPCUACertificateManager;
  let endpointUrl: string;
  const source = new MemorySource();
  let clock = Date.now();
  const bindings: TrustListFileBinding[] = [];
  const conns: TestSession[] = [];

  /** A session over Sign as `user`, closed after all tests. */
  async function connect(user: { userName: string; password: string }): Promise<TestSession> {
    const conn = await connectTo(endpointUrl, { securityMode: MessageSecurityMode.Sign, user, pkiName: "trustlist" });
    conns.push(conn);
    return conn;
  }

  const id = gdsNode;
  async function call(c: TestSession, method: number, inputs: Variant[], object = TL): Promise<{ statusCode: StatusCode; outputs: Variant[] }> {
    const r = await c.session.call({ objectId: id(c, object), methodId: id(c, method), inputArguments: inputs });
    return { statusCode: r.statusCode, outputs: r.outputArguments ?? [] };
  }
  const u32 = (value: number) => new Variant({ dataType: DataType.UInt32, value });
  const byte = (value: number) => new Variant({ dataType: DataType.Byte, value });
  const i32 = (value: number) => new Variant({ dataType: DataType.Int32, value });
  const bytes = (value: Buffer) => new Variant({ dataType: DataType.ByteString, value });
  const bool = (value: boolean) => new Variant({ dataType: DataType.Boolean, value });
  async function openOk(c: TestSession, mode: number): Promise<number> {
    const r = await call(c, M.Open, [byte(mode)]);
    expect(r.statusCode.name).toBe("Good");
    return r.outputs[0].value as number;
  }
  async function readProp(c: TestSession, object: number, name: string): Promise<unknown> {
    const r = await c.session.translateBrowsePath({ startingNode: id(c, object), relativePath: { elements: [{ targetName: { name, namespaceIndex: 0 } }] } });
    const target = r.targets?.[0]?.targetId as NodeId;
    const dv = await c.session.read({ nodeId: target, attributeId: AttributeIds.Value });
    expect(`${name}:${dv.statusCode.name}`).toBe(`${name}:Good`);
    return dv.value.value;
  }

  beforeAll(async () => {
    serverPki = new OPCUACertificateManager({ rootFolder: path.join(dir, "pki"), automaticallyAcceptUnknownCertificate: true });
    server = new OPCUAServer({
      port: await freePort(),
      hostname: "127.0.0.1",
      alternateHostname: ["127.0.0.1"],
      nodeset_filename: [nodesets.standard, nodesets.gds],
      nodesetLoaderOptions: { permissions: "ignore" },
      serverCertificateManager: serverPki,
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign],
      maxConnectionsPerEndpoint: 100,
      serverCapabilities: { maxSessions: 100 },
      userManager: {
        isValidUser: (u: string, p: string) => (u === ADMIN.userName && p === ADMIN.password) || (u === READER.userName && p === READER.password),
      },
    });
    await server.initialize();
    const addressSpace = server.engine.addressSpace!;
    const gdsNs = addressSpace.getNamespaceIndex(GDS_NAMESPACE_URI);
    const log = pino({ level: process.env.TL_TEST_LOG ?? "silent" }, pino.destination(2));
    const canRead = () => undefined;
    const canWrite = (call: CallContext) => {
      if (call.userName !== ADMIN.userName) throw new GdsError("BadUserAccessDenied", `${call.method}: ${call.userName} may not change trust lists`);
    };
    const onSessionClosed = (l: (sessionId: NodeId) => void) => {
      const h = (s: { nodeId: NodeId }) => l(s.nodeId);
      server.on("session_closed", h);
      return () => server.off("session_closed", h);
    };
    const groups: [CertificateGroupName, number][] = [
      ["DefaultApplicationGroup", TL],
      ["DefaultHttpsGroup", TL_HTTPS],
      ["DefaultUserTokenGroup", TL_USER],
    ];
    for (const [group, n] of groups) {
      bindings.push(
        installTrustListFile({
          addressSpace,
          trustListNode: new NodeId(NodeId.NodeIdType.NUMERIC, n, gdsNs),
          group,
          source,
          canRead,
          canWrite,
          log,
          // the https list: a tiny size limit; the user-token list: a movable clock
          maxTrustListSize: group === "DefaultHttpsGroup" ? 4096 : undefined,
          now: group === "DefaultUserTokenGroup" ? () => clock : undefined,
          activityTimeoutMs: group === "DefaultUserTokenGroup" ? 10_000 : undefined,
          onSessionClosed,
        }),
      );
    }
    await server.start();
    endpointUrl = server.getEndpointUrl();
    source.set("DefaultApplicationGroup", { trustedCertificates: [fakeDer(1), fakeDer(2)], trustedCrls: [fakeDer(3)], issuerCertificates: [fakeDer(4)], issuerCrls: [] });
  });

  afterAll(async () => {
    for (const c of conns) await c.close().catch(() => undefined);
    for (const b of bindings) b.dispose();
    await server?.shutdown(0);
    await serverPki?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reads the whole list with Open(1) and in chunks; Size and OpenCount match", async () => {
    const c = await connect(ADMIN);
    const whole = await readTrustListViaSession(c.session, id(c, TL));
    const snap = source.trustList("DefaultApplicationGroup");
    expect(whole.specifiedLists).toBe(15);
    expect(whole.content).toEqual({ trustedCertificates: snap.trustedCertificates, trustedCrls: snap.trustedCrls, issuerCertificates: snap.issuerCertificates, issuerCrls: [] });
    const size = (await readProp(c, TL, "Size")) as [number, number];
    expect(size[1]).toBe(encodedTrustListSize(snap));
    expect(await readProp(c, TL, "Writable")).toBe(true);
    expect(await readProp(c, TL, "OpenCount")).toBe(0);

    const h = await openOk(c, 1);
    expect(await readProp(c, TL, "OpenCount")).toBe(1);
    const parts: Buffer[] = [];
    for (;;) {
      const r = await call(c, M.Read, [u32(h), i32(17)]);
      expect(r.statusCode.name).toBe("Good");
      const d = r.outputs[0].value as Buffer;
      parts.push(d);
      if (d.length < 17) break;
    }
    expect(Buffer.concat(parts)).toEqual(encodeTrustList(snap, 15));
    // at the end: an empty ByteString, again and again
    const atEnd = await call(c, M.Read, [u32(h), i32(100)]);
    expect(atEnd.statusCode.name).toBe("Good");
    expect((atEnd.outputs[0].value as Buffer | null)?.length ?? 0).toBe(0);
    expect((await call(c, M.Close, [u32(h)])).statusCode.name).toBe("Good");
    expect((await call(c, M.Close, [u32(h)])).statusCode.name).toBe("BadInvalidArgument");
  });

  it("OpenWithMasks returns only the masked lists; Masks > 15 is BadInvalidArgument", async () => {
    const c = await connect(READER);
    const issuers = await readTrustListViaSession(c.session, id(c, TL), 4);
    expect(issuers.specifiedLists).toBe(4);
    expect(issuers.content).toEqual({ trustedCertificates: [], trustedCrls: [], issuerCertificates: [fakeDer(4)], issuerCrls: [] });
    expect((await call(c, M.OpenWithMasks, [u32(16)])).statusCode.name).toBe("BadInvalidArgument");
  });

  it("a reader keeps the snapshot of its Open while the list changes", async () => {
    const c = await connect(ADMIN);
    const h = await openOk(c, 1);
    const before = encodeTrustList(source.trustList("DefaultApplicationGroup"), 15);
    const cur = source.trustList("DefaultApplicationGroup");
    source.set("DefaultApplicationGroup", { ...cur, trustedCrls: [] });
    const r = await call(c, M.Read, [u32(h), i32(65536)]);
    expect(r.outputs[0].value).toEqual(before);
    await call(c, M.Close, [u32(h)]);
    source.set("DefaultApplicationGroup", cur);
  });

  it("refuses other open modes with BadNotSupported, and bad Read lengths", async () => {
    const c = await connect(ADMIN);
    for (const mode of [0, 2, 3, 4, 5, 7, 8, 0x0a, 0x0e]) {
      expect(`${mode}:${(await call(c, M.Open, [byte(mode)])).statusCode.name}`).toBe(`${mode}:BadNotSupported`);
    }
    const h = await openOk(c, 1);
    expect((await call(c, M.Read, [u32(h), i32(0)])).statusCode.name).toBe("BadInvalidArgument");
    expect((await call(c, M.Read, [u32(h), i32(-5)])).statusCode.name).toBe("BadInvalidArgument");
    expect((await call(c, M.Read, [u32(h + 1000), i32(5)])).statusCode.name).toBe("BadInvalidArgument");
    expect((await call(c, M.Write, [u32(h), bytes(Buffer.from("x"))])).statusCode.name).toBe("BadInvalidState");
    expect((await call(c, M.CloseAndUpdate, [u32(h)])).statusCode.name).toBe("BadInvalidState");
    await call(c, M.Close, [u32(h)]);
  });

  it("GetPosition/SetPosition move a read handle; beyond the end clamps to the end", async () => {
    const c = await connect(ADMIN);
    const full = encodeTrustList(source.trustList("DefaultApplicationGroup"), 15);
    const h = await openOk(c, 1);
    await call(c, M.Read, [u32(h), i32(10)]);
    const gp = await call(c, M.GetPosition, [u32(h)]);
    expect(gp.statusCode.name).toBe("Good");
    expect(gp.outputs[0].value).toEqual([0, 10]);
    expect((await call(c, M.SetPosition, [u32(h), new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0, 4] })])).statusCode.name).toBe("Good");
    expect((await call(c, M.Read, [u32(h), i32(6)])).outputs[0].value).toEqual(full.subarray(4, 10));
    expect((await call(c, M.SetPosition, [u32(h), new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [1, 0] })])).statusCode.name).toBe("Good");
    expect((await call(c, M.GetPosition, [u32(h)])).outputs[0].value).toEqual([0, full.length]);
    await call(c, M.Close, [u32(h)]);
  });

  it("writes with Open(6)/Write/CloseAndUpdate; ApplyChangesRequired is false; LastUpdateTime moves", async () => {
    const c = await connect(ADMIN);
    const before = (await readProp(c, TL, "LastUpdateTime")) as Date;
    await new Promise((r) => setTimeout(r, 5));
    const next: TrustListContent = { trustedCertificates: [fakeDer(10)], trustedCrls: [], issuerCertificates: [fakeDer(11), fakeDer(12)], issuerCrls: [fakeDer(13)] };
    const { applyChangesRequired } = await writeTrustListViaSession(c.session, id(c, TL), next, 1 | 4, { chunkSize: 4096 });
    expect(applyChangesRequired).toBe(false);
    expect(source.calls.at(-1)).toBe("replace DefaultApplicationGroup 5 admin");
    const snap = source.trustList("DefaultApplicationGroup");
    expect(snap.trustedCertificates).toEqual([fakeDer(10)]);
    expect(snap.issuerCertificates).toEqual([fakeDer(11), fakeDer(12)]);
    expect(snap.trustedCrls).toEqual([fakeDer(3)]); // not in SpecifiedLists: untouched
    const after = (await readProp(c, TL, "LastUpdateTime")) as Date;
    expect(after.getTime()).toBeGreaterThan(before.getTime());
    expect((await readTrustListViaSession(c.session, id(c, TL))).content.issuerCertificates).toEqual([fakeDer(11), fakeDer(12)]);
  });

  it("one writer at a time: another session gets BadTransactionPending, the same BadInvalidState; Add/Remove wait; Close discards", async () => {
    const a = await connect(ADMIN);
    const b = await connect(ADMIN);
    const h = await openOk(a, 6);
    expect((await call(a, M.Open, [byte(6)])).statusCode.name).toBe("BadInvalidState");
    expect((await call(b, M.Open, [byte(6)])).statusCode.name).toBe("BadTransactionPending");
    expect((await call(b, M.AddCertificate, [bytes(fakeDer(20)), bool(true)])).statusCode.name).toBe("BadInvalidState");
    expect((await call(a, M.RemoveCertificate, [new Variant({ dataType: DataType.String, value: "00".repeat(20) }), bool(true)])).statusCode.name).toBe("BadInvalidState");
    // readers are not blocked
    const rh = await openOk(b, 1);
    await call(b, M.Close, [u32(rh)]);
    // the handle belongs to session a
    expect((await call(b, M.Write, [u32(h), bytes(Buffer.from("x"))])).statusCode.name).toBe("BadInvalidArgument");
    expect((await call(b, M.Close, [u32(h)])).statusCode.name).toBe("BadInvalidArgument");
    expect((await call(a, M.Read, [u32(h), i32(10)])).statusCode.name).toBe("BadInvalidState");
    const before = source.trustList("DefaultApplicationGroup");
    await call(a, M.Write, [u32(h), bytes(encodeTrustList({ trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 15))]);
    expect((await call(a, M.Close, [u32(h)])).statusCode.name).toBe("Good");
    expect(source.trustList("DefaultApplicationGroup")).toBe(before);
    const h2 = await openOk(b, 6);
    await call(b, M.Close, [u32(h2)]);
  });

  it("CloseAndUpdate: garbage and invalid certificates give BadCertificateInvalid, change nothing and close the handle", async () => {
    const c = await connect(ADMIN);
    const before = source.trustList("DefaultApplicationGroup");
    let h = await openOk(c, 6);
    await call(c, M.Write, [u32(h), bytes(Buffer.from("not a trust list"))]);
    expect((await call(c, M.CloseAndUpdate, [u32(h)])).statusCode.name).toBe("BadCertificateInvalid");
    expect((await call(c, M.Close, [u32(h)])).statusCode.name).toBe("BadInvalidArgument");
    h = await openOk(c, 6);
    await call(c, M.Write, [u32(h), bytes(encodeTrustList({ trustedCertificates: [Buffer.from("nope")], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 1))]);
    expect((await call(c, M.CloseAndUpdate, [u32(h)])).statusCode.name).toBe("BadCertificateInvalid");
    expect(source.trustList("DefaultApplicationGroup")).toBe(before);
    await expect(writeTrustListViaSession(c.session, id(c, TL), { trustedCertificates: [Buffer.from("x")], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 1)).rejects.toBeInstanceOf(
      TrustListCallError,
    );
    expect(bindings[0].openCount()).toBe(0);
  });

  it("Write beyond maxTrustListSize is BadEncodingLimitsExceeded", async () => {
    const c = await connect(ADMIN);
    const h = (await call(c, 656, [byte(6)], TL_HTTPS)).outputs[0].value as number;
    const w = async (n: number) => (await c.session.call({ objectId: id(c, TL_HTTPS), methodId: id(c, 664), inputArguments: [u32(h), bytes(Buffer.alloc(n))] })).statusCode.name;
    expect(await w(4000)).toBe("Good");
    expect(await w(97)).toBe("BadEncodingLimitsExceeded");
    expect(await w(96)).toBe("Good");
    await c.session.call({ objectId: id(c, TL_HTTPS), methodId: id(c, 659), inputArguments: [u32(h)] });
  });

  it("AddCertificate/RemoveCertificate forward to the source with the actor; bad input is BadInvalidArgument", async () => {
    const c = await connect(ADMIN);
    const der = fakeDer(30);
    expect((await call(c, M.AddCertificate, [bytes(der), bool(true)])).statusCode.name).toBe("Good");
    expect(source.calls.at(-1)).toBe("add DefaultApplicationGroup true admin");
    expect((await call(c, M.AddCertificate, [bytes(Buffer.alloc(0)), bool(true)])).statusCode.name).toBe("BadInvalidArgument");
    const thumb = crypto.createHash("sha1").update(der).digest("hex").toUpperCase();
    expect((await call(c, M.RemoveCertificate, [new Variant({ dataType: DataType.String, value: thumb }), bool(true)])).statusCode.name).toBe("Good");
    expect(source.calls.at(-1)).toBe(`remove DefaultApplicationGroup ${thumb.toLowerCase()} true admin`);
    expect((await call(c, M.RemoveCertificate, [new Variant({ dataType: DataType.String, value: thumb }), bool(true)])).statusCode.name).toBe("BadInvalidArgument");
    expect((await call(c, M.RemoveCertificate, [new Variant({ dataType: DataType.String, value: "xyz" }), bool(true)])).statusCode.name).toBe("BadInvalidArgument");
  });

  it("canWrite decides who may open for writing and add/remove", async () => {
    const c = await connect(READER);
    expect((await call(c, M.Open, [byte(6)])).statusCode.name).toBe("BadUserAccessDenied");
    expect((await call(c, M.AddCertificate, [bytes(fakeDer(40)), bool(true)])).statusCode.name).toBe("BadUserAccessDenied");
    const h = await openOk(c, 1);
    await call(c, M.Close, [u32(h)]);
  });

  it("closing the session closes its handles (a writer's lock is released)", async () => {
    const a = await connect(ADMIN);
    await openOk(a, 6);
    await openOk(a, 1);
    expect(bindings[0].openCount()).toBe(2);
    await a.close();
    expect(bindings[0].openCount()).toBe(0);
    const b = await connect(ADMIN);
    const h = await openOk(b, 6);
    await call(b, M.Close, [u32(h)]);
  });

  it("handles idle longer than ActivityTimeout are closed", async () => {
    const c = await connect(ADMIN);
    const open = await call(c, 690, [byte(1)], TL_USER);
    const h = open.outputs[0].value as number;
    const read = async () => (await c.session.call({ objectId: id(c, TL_USER), methodId: id(c, 695), inputArguments: [u32(h), i32(4)] })).statusCode.name;
    clock += 9_000;
    expect(await read()).toBe("Good");
    clock += 9_000;
    expect(await read()).toBe("Good");
    clock += 10_001;
    expect(await read()).toBe("BadInvalidArgument");
    expect(bindings[2].openCount()).toBe(0);
  });

  it("FileHandles are unique across trust lists", async () => {
    const c = await connect(ADMIN);
    const a = await openOk(c, 1);
    const b = (await call(c, 656, [byte(1)], TL_HTTPS)).outputs[0].value as number;
    expect(a).not.toBe(b);
    // a handle of list 616 is unknown on 650
    expect((await call(c, 661, [u32(a), i32(4)], TL_HTTPS)).statusCode.name).toBe("BadInvalidArgument");
  });
});
