import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { AttributeIds, BrowseDirection, DataType, MessageSecurityMode, NodeId, OPCUAClient, StatusCodes, UserTokenType, Variant, VariantArrayType } from "node-opcua";
import { ADMIN_NAMESPACE_URI, ADMIN_OBJECT_ID } from "../../src/admin/admin-model.js";
import { callMethod, connect, gdsNode, startTestGds, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { getApplication, queryServers, register, registerOk, sampleServer, unregister } from "./helpers/directory-client.js";

describe("endpoints, address space and roles", () => {
  let t: TestGds;
  let admin: TestSession;
  let adminNs: number;

  const adminCall = async (s: TestSession, id: number, inputs: Variant[]) =>
    callMethod(s, new NodeId(NodeId.NodeIdType.NUMERIC, ADMIN_OBJECT_ID, adminNs), new NodeId(NodeId.NodeIdType.NUMERIC, id, adminNs), inputs);
  const str = (value: string) => new Variant({ dataType: DataType.String, value });
  const strs = (value: string[]) => new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value });

  beforeAll(async () => {
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
    adminNs = ((await admin.session.readNamespaceArray()) as string[]).indexOf(ADMIN_NAMESPACE_URI);
  });
  afterAll(async () => {
    await admin?.close();
    await t?.stop();
  });

  it("offers None plus three policies × Sign/SignAndEncrypt, with Anonymous, UserName and X509 tokens", async () => {
    const client = OPCUAClient.create({ endpointMustExist: false });
    await client.connect(t.endpointUrl);
    try {
      const endpoints = await client.getEndpoints();
      const combos = endpoints.map((e) => `${(e.securityPolicyUri ?? "").split("#")[1]}/${MessageSecurityMode[e.securityMode]}`).sort();
      expect(combos).toEqual(
        [
          "Aes128_Sha256_RsaOaep/Sign",
          "Aes128_Sha256_RsaOaep/SignAndEncrypt",
          "Aes256_Sha256_RsaPss/Sign",
          "Aes256_Sha256_RsaPss/SignAndEncrypt",
          "Basic256Sha256/Sign",
          "Basic256Sha256/SignAndEncrypt",
          "None/None",
        ].sort(),
      );
      for (const e of endpoints) expect(e.endpointUrl).toBe(t.endpointUrl);
      const tokens = new Set(endpoints.flatMap((e) => (e.userIdentityTokens ?? []).map((u) => UserTokenType[u.tokenType])));
      expect([...tokens].sort()).toEqual(["Anonymous", "Certificate", "UserName"]);
    } finally {
      await client.disconnect();
    }
  });

  it("exposes Directory, Applications, CertificateGroups and the admin object with described arguments", async () => {
    const browse = async (nodeId: NodeId) =>
      (await admin.session.browse({ nodeId, browseDirection: BrowseDirection.Forward, resultMask: 63 })).references?.map((r) => r.browseName.name) ?? [];
    const dirChildren = await browse(gdsNode(admin, 141));
    expect(dirChildren).toEqual(expect.arrayContaining(["Applications", "CertificateGroups", "RegisterApplication", "QueryServers", "QueryApplications", "GetApplication"]));
    expect(await browse(gdsNode(admin, 614))).toEqual(expect.arrayContaining(["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"]));
    const objects = await browse(new NodeId(NodeId.NodeIdType.NUMERIC, 85, 0));
    expect(objects).toEqual(expect.arrayContaining(["Directory", "GdsAdmin"]));
    const args = await admin.session.getArgumentDefinition(gdsNode(admin, 146));
    expect(args.inputArguments.map((a) => a.name)).toEqual(["Application"]);
    // the ApplicationRecordDataType carries a DataTypeDefinition generic clients decode with
    const def = await admin.session.read({ nodeId: gdsNode(admin, 1), attributeId: AttributeIds.DataTypeDefinition });
    expect(def.statusCode).toBe(StatusCodes.Good);
    const fields = (def.value.value as { fields: { name: string }[] }).fields.map((f) => f.name);
    expect(fields).toEqual(["ApplicationId", "ApplicationUri", "ApplicationType", "ApplicationNames", "ProductUri", "DiscoveryUrls", "ServerCapabilities"]);
  });

  it("applies the role rules to a user holding only Observer", async () => {
    expect((await adminCall(admin, 1040, [str("olga"), strs(["Observer"]), str("observer-password")])).statusCode).toBe(StatusCodes.Good);
    const observer = await connect(t.endpointUrl, { user: { userName: "olga", password: "observer-password" } });
    try {
      const reg = await register(observer, sampleServer());
      expect(reg.statusCode).toBe(StatusCodes.BadUserAccessDenied);
      const id = await registerOk(admin, sampleServer());
      expect((await unregister(observer, id)).statusCode).toBe(StatusCodes.BadUserAccessDenied);
      expect((await getApplication(observer, id)).statusCode).toBe(StatusCodes.Good);
      expect((await queryServers(observer, {})).statusCode).toBe(StatusCodes.Good);
      const addUser = await adminCall(observer, 1040, [str("mallory"), strs(["SecurityAdmin"]), str("mallory-password")]);
      expect(addUser.statusCode).toBe(StatusCodes.BadUserAccessDenied);
      expect(addUser.text).toMatch(/SecurityAdmin/);
      expect((await adminCall(observer, 1010, [])).statusCode).toBe(StatusCodes.BadUserAccessDenied);
    } finally {
      await observer.close();
    }
  });

  it("refuses a wrong password at session activation", async () => {
    await expect(connect(t.endpointUrl, { user: { userName: "admin", password: "wrong-password" } })).rejects.toThrow(/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/);
  });

  it("refuses anonymous GetApplication and admin methods over Sign only", async () => {
    const id = await registerOk(admin, sampleServer());
    const anon = await connect(t.endpointUrl, { user: null });
    try {
      expect((await getApplication(anon, id)).statusCode).toBe(StatusCodes.BadUserAccessDenied);
    } finally {
      await anon.close();
    }
    const signOnly = await connect(t.endpointUrl, { securityMode: MessageSecurityMode.Sign });
    try {
      expect((await adminCall(signOnly, 1010, [])).statusCode).toBe(StatusCodes.BadSecurityModeInsufficient);
      expect((await getApplication(signOnly, id)).statusCode).toBe(StatusCodes.Good);
    } finally {
      await signOnly.close();
    }
  });

  it("manages users through the admin object: unknown role refused, duplicate refused, last SecurityAdmin kept", async () => {
    expect((await adminCall(admin, 1040, [str("bob"), strs(["Wizard"]), str("bob-password")])).statusCode).toBe(StatusCodes.BadInvalidArgument);
    expect((await adminCall(admin, 1040, [str("bob"), strs(["Operator"]), str("bob-password")])).statusCode).toBe(StatusCodes.Good);
    expect((await adminCall(admin, 1040, [str("bob"), strs(["Operator"]), str("bob-password")])).statusCode).toBe(StatusCodes.BadEntryExists);
    const list = await adminCall(admin, 1050, []);
    const users = JSON.parse(list.outputs[0].value as string) as { name: string; roles: string[] }[];
    expect(users.find((u) => u.name === "bob")?.roles).toEqual(["Operator"]);
    expect(JSON.stringify(users)).not.toMatch(/scrypt|passwordHash/);
    expect((await adminCall(admin, 1060, [str("admin")])).statusCode).toBe(StatusCodes.BadInvalidState);
    expect((await adminCall(admin, 1060, [str("bob")])).statusCode).toBe(StatusCodes.Good);
    expect((await adminCall(admin, 1060, [str("bob")])).statusCode).toBe(StatusCodes.BadNotFound);
  });
});

describe("restart persistence", () => {
  it("keeps applications, users and record ids across a clean restart", async () => {
    const first = await startTestGds();
    const s = await connect(first.endpointUrl);
    const app = sampleServer();
    const id = await registerOk(s, app);
    const before = await queryServers(s, {});
    const maxRecordBefore = Math.max(...(before.outputs[1].value as { recordId: number }[]).map((e) => e.recordId));
    await s.close();
    await first.stop();

    const second = await startTestGds({ dataDir: first.config.dataDir, port: first.config.port, adminPassword: "ignored-on-restart" });
    const s2 = await connect(second.endpointUrl); // the original admin password still works
    try {
      expect((await getApplication(s2, id)).statusCode).toBe(StatusCodes.Good);
      const id2 = await registerOk(s2, sampleServer());
      const after = await queryServers(s2, {});
      const entry = (after.outputs[1].value as { recordId: number; discoveryUrl: string }[]).find((e) => e.recordId > maxRecordBefore);
      expect(entry).toBeDefined();
      expect(id2.toString()).not.toEqual(id.toString());
    } finally {
      await s2.close();
      await second.stop();
    }
  });
});
