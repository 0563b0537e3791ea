import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { DataType, MessageSecurityMode, NodeId, StatusCodes, Variant } from "node-opcua";
import { connect, startTestGds, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import {
  findApplications,
  getApplication,
  queryApplications,
  queryServers,
  register,
  registerOk,
  sampleServer,
  unregister,
  update,
} from "./helpers/directory-client.js";

describe("Directory over Basic256Sha256 SignAndEncrypt", () => {
  let t: TestGds;
  let admin: TestSession;

  beforeAll(async () => {
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
  });
  afterAll(async () => {
    await admin?.close();
    await t?.stop();
  });

  it("registers, gets, finds, updates and unregisters an application", async () => {
    const app = sampleServer();
    const id = await registerOk(admin, app);
    expect(id.identifierType).toBe(NodeId.NodeIdType.GUID);

    const got = await getApplication(admin, id);
    expect(got.statusCode).toBe(StatusCodes.Good);
    const rec = got.outputs[0].value as Record<string, unknown>;
    expect(rec.applicationUri).toBe(app.applicationUri);
    expect((rec.applicationId as NodeId).toString()).toBe(id.toString());
    expect(rec.discoveryUrls).toEqual(app.discoveryUrls);

    const found = await findApplications(admin, app.applicationUri);
    expect(found.statusCode).toBe(StatusCodes.Good);
    expect((found.outputs[0].value as unknown[]).length).toBe(1);

    const upd = await update(admin, { ...app, applicationId: id, productUri: "urn:test:product:v2" });
    expect(upd.statusCode).toBe(StatusCodes.Good);
    const got2 = await getApplication(admin, id);
    expect((got2.outputs[0].value as Record<string, unknown>).productUri).toBe("urn:test:product:v2");

    expect((await unregister(admin, id)).statusCode).toBe(StatusCodes.Good);
    expect((await getApplication(admin, id)).statusCode).toBe(StatusCodes.BadNotFound);
    expect((await unregister(admin, id)).statusCode).toBe(StatusCodes.BadNotFound);
    const none = await findApplications(admin, app.applicationUri);
    expect((none.outputs[0].value as unknown[] | null)?.length ?? 0).toBe(0);
  });

  it("refuses a second registration of the same ApplicationUri with BadEntryExists", async () => {
    const app = sampleServer();
    await registerOk(admin, app);
    const again = await register(admin, { ...app, applicationNames: [{ text: "other" }] });
    expect(again.statusCode).toBe(StatusCodes.BadEntryExists);
    expect(again.text).toMatch(/ApplicationUri|already/i);
  });

  it("refuses a changed ApplicationUri in UpdateApplication with BadWriteNotSupported", async () => {
    const app = sampleServer();
    const id = await registerOk(admin, app);
    const r = await update(admin, { ...app, applicationId: id, applicationUri: app.applicationUri + "-changed" });
    expect(r.statusCode).toBe(StatusCodes.BadWriteNotSupported);
  });

  it("answers BadNotFound for unknown or ill-formed ApplicationIds", async () => {
    const unknownGuid = new NodeId(NodeId.NodeIdType.GUID, "72962B91-FA75-4AE6-8D28-B404DC7DAF63", (admin.session as unknown as { x?: number }).x ?? 0);
    expect((await getApplication(admin, unknownGuid)).statusCode).toBe(StatusCodes.BadNotFound);
    expect((await getApplication(admin, new NodeId(NodeId.NodeIdType.NUMERIC, 42, 0))).statusCode).toBe(StatusCodes.BadNotFound);
    expect((await getApplication(admin, new NodeId(NodeId.NodeIdType.STRING, "x", 1))).statusCode).toBe(StatusCodes.BadNotFound);
    expect((await getApplication(admin, NodeId.nullNodeId)).statusCode).toBe(StatusCodes.BadNotFound);
    const upd = await update(admin, { ...sampleServer(), applicationId: new NodeId(NodeId.NodeIdType.NUMERIC, 7, 0) });
    expect(upd.statusCode).toBe(StatusCodes.BadNotFound);
  });

  it("answers BadInvalidArgument with the field name for invalid records", async () => {
    const cases: [Partial<ReturnType<typeof sampleServer>>, RegExp][] = [
      [{ applicationUri: "not a uri" }, /ApplicationUri/],
      [{ applicationType: 9 }, /ApplicationType/],
      [{ applicationNames: [] }, /ApplicationNames/],
      [{ productUri: "" }, /ProductUri/],
      [{ discoveryUrls: [] }, /DiscoveryUrls/],
      [{ discoveryUrls: ["::::"] }, /DiscoveryUrls/],
      [{ serverCapabilities: ["NA", "DA"] }, /ServerCapabilities/],
      [{ applicationUri: "urn:" + "x".repeat(1_000_000) }, /ApplicationUri/],
      [{ discoveryUrls: Array.from({ length: 10_000 }, (_, i) => `opc.tcp://h${i}:4840`) }, /DiscoveryUrls/],
    ];
    for (const [patch, msg] of cases) {
      const r = await register(admin, sampleServer(patch));
      expect(r.statusCode).toBe(StatusCodes.BadInvalidArgument);
      expect(r.text).toMatch(msg);
    }
  });

  it("answers BadInvalidArgument for wrong or null arguments", async () => {
    const dir = new NodeId(NodeId.NodeIdType.NUMERIC, 141, admin.gdsNs);
    const reg = new NodeId(NodeId.NodeIdType.NUMERIC, 146, admin.gdsNs);
    const r1 = await admin.session.call({ objectId: dir, methodId: reg, inputArguments: [new Variant({ dataType: DataType.String, value: "x" })] });
    expect(r1.statusCode).toBe(StatusCodes.BadInvalidArgument);
    const r2 = await admin.session.call({ objectId: dir, methodId: reg, inputArguments: [new Variant({ dataType: DataType.Null })] });
    expect(r2.statusCode).toBe(StatusCodes.BadInvalidArgument);
    const r3 = await admin.session.call({ objectId: dir, methodId: reg, inputArguments: [] });
    expect([StatusCodes.BadInvalidArgument, StatusCodes.BadArgumentsMissing]).toContain(r3.statusCode);
    const q = await queryServers(admin, { name: "[abc" });
    expect(q.statusCode).toBe(StatusCodes.BadInvalidArgument);
    const q2 = await queryServers(admin, { name: "%".repeat(500) + "x" });
    expect(q2.statusCode).toBe(StatusCodes.Good);
    const q3 = await queryApplications(admin, { type: 4 });
    expect(q3.statusCode).toBe(StatusCodes.BadInvalidArgument);
  });

  it("queries servers and applications with LIKE filters and pages through them", async () => {
    const prefix = `urn:paging:${Date.now()}`;
    const ids: NodeId[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(await registerOk(admin, sampleServer({ applicationUri: `${prefix}:${i}`, applicationNames: [{ text: `Paging Server ${i}` }], serverCapabilities: i % 2 ? ["DA", "HD"] : ["DA"] })));
    }
    const all = await queryServers(admin, { uri: `${prefix}:%` });
    expect(all.statusCode).toBe(StatusCodes.Good);
    const servers = all.outputs[1].value as { recordId: number; serverName: string; discoveryUrl: string }[];
    expect(servers.length).toBe(7);
    const hd = await queryServers(admin, { uri: `${prefix}:%`, caps: ["HD"] });
    expect((hd.outputs[1].value as unknown[]).length).toBe(3);
    const byName = await queryServers(admin, { name: "Paging Server [0-2]" });
    expect((byName.outputs[1].value as unknown[]).length).toBe(3);

    // QueryApplications pages via NextRecordId.
    const seen: string[] = [];
    let start = 0;
    for (let page = 0; page < 10; page++) {
      const r = await queryApplications(admin, { start, max: 3, uri: `${prefix}:%` });
      expect(r.statusCode).toBe(StatusCodes.Good);
      const apps = (r.outputs[2].value ?? []) as { applicationUri: string }[];
      seen.push(...apps.map((a) => a.applicationUri));
      start = r.outputs[1].value as number;
      if (start === 0) break;
    }
    expect(seen.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `${prefix}:${i}`).sort());
  });

  it("refuses RegisterApplication to a user without DiscoveryAdmin, and to anonymous", async () => {
    const anon = await connect(t.endpointUrl, { user: null });
    try {
      const r = await register(anon, sampleServer());
      expect(r.statusCode).toBe(StatusCodes.BadUserAccessDenied);
      expect(r.text).toMatch(/DiscoveryAdmin/);
      // discovery calls stay open to anyone on a signed channel
      expect((await queryServers(anon, {})).statusCode).toBe(StatusCodes.Good);
    } finally {
      await anon.close();
    }
  });

  it("refuses every method call over a None channel with BadSecurityModeInsufficient", async () => {
    const plain = await connect(t.endpointUrl, { securityMode: MessageSecurityMode.None, securityPolicy: "http://opcfoundation.org/UA/SecurityPolicy#None" as never, user: null });
    try {
      expect((await queryServers(plain, {})).statusCode).toBe(StatusCodes.BadSecurityModeInsufficient);
      expect((await register(plain, sampleServer())).statusCode).toBe(StatusCodes.BadSecurityModeInsufficient);
    } finally {
      await plain.close();
    }
  });
});
