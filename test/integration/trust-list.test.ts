/**
 * The GDS's TrustList file objects on the real server (CertificateManagerService behind them):
 * read with Open/OpenWithMasks, write with Open(6)/Write/CloseAndUpdate, Add/RemoveCertificate,
 * the properties and the access rules.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import * as x509 from "@peculiar/x509";
import { AttributeIds, DataType, NodeId, Variant, type DataValue } from "node-opcua";
import { encodeTrustList, encodedTrustListSize } from "../../src/opcua/trust-list-codec.js";
import { readTrustListViaSession, writeTrustListViaSession, TrustListCallError } from "../../src/opcua/trust-list-client.js";
import { callMethod, connect, gdsNode, startTestGds, type TestGds, type TestSession } from "./helpers/gds-harness.js";

const TL = { app: 616, https: 650, user: 684 };
const M = { Open: 622, Close: 625, Read: 627, Write: 630, CloseAndUpdate: 641, AddCertificate: 644, RemoveCertificate: 646 };

async function selfSigned(cn: string): Promise<Buffer> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: crypto.randomBytes(8).toString("hex"),
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return Buffer.from(cert.rawData);
}

const sha1 = (der: Buffer) => crypto.createHash("sha1").update(der).digest("hex");

describe("GDS TrustList file objects", () => {
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

  const byte = (value: number) => new Variant({ dataType: DataType.Byte, value });
  const u32 = (value: number) => new Variant({ dataType: DataType.UInt32, value });
  const prop = async (s: TestSession, trustList: number, name: string): Promise<DataValue> => {
    const r = await s.session.translateBrowsePath({ startingNode: gdsNode(s, trustList), relativePath: { elements: [{ targetName: { name, namespaceIndex: 0 } }] } });
    return s.session.read({ nodeId: r.targets![0].targetId as NodeId, attributeId: AttributeIds.Value });
  };

  it("each group's list holds its CA certificate and CRL; Size matches the encoding", async () => {
    for (const n of [TL.app, TL.https, TL.user]) {
      const { specifiedLists, content } = await readTrustListViaSession(admin.session, gdsNode(admin, n));
      expect(specifiedLists).toBe(15);
      expect(content.trustedCertificates.length).toBeGreaterThanOrEqual(1);
      expect(content.issuerCertificates.length).toBeGreaterThanOrEqual(1);
      expect(content.trustedCrls.length).toBeGreaterThanOrEqual(1);
      expect(content.issuerCrls.length).toBeGreaterThanOrEqual(1);
      const size = (await prop(admin, n, "Size")).value.value as [number, number];
      expect(size[1]).toBe(encodedTrustListSize(content));
      expect((await prop(admin, n, "LastUpdateTime")).value.value).toBeInstanceOf(Date);
      expect((await prop(admin, n, "OpenCount")).value.value).toBe(0);
    }
  });

  it("OpenWithMasks(IssuerCertificates) returns only the issuer list", async () => {
    const { specifiedLists, content } = await readTrustListViaSession(admin.session, gdsNode(admin, TL.app), 4);
    expect(specifiedLists).toBe(4);
    expect(content.trustedCertificates).toEqual([]);
    expect(content.trustedCrls).toEqual([]);
    expect(content.issuerCrls).toEqual([]);
    expect(content.issuerCertificates.length).toBeGreaterThanOrEqual(1);
  });

  it("a written list adds external entries next to the CA's own; LastUpdateTime moves; ApplyChangesRequired is false", async () => {
    const node = gdsNode(admin, TL.app);
    const before = await readTrustListViaSession(admin.session, node);
    const t0 = (await prop(admin, TL.app, "LastUpdateTime")).value.value as Date;
    const external = await selfSigned("external-ca-1");
    await new Promise((r) => setTimeout(r, 5));
    // write back what was read (own CA included, as clients do) plus one certificate
    const { applyChangesRequired } = await writeTrustListViaSession(
      admin.session,
      node,
      { ...before.content, trustedCertificates: [...before.content.trustedCertificates, external] },
      1,
    );
    expect(applyChangesRequired).toBe(false);
    const after = await readTrustListViaSession(admin.session, node);
    expect(after.content.trustedCertificates).toEqual([...before.content.trustedCertificates, external]);
    expect(after.content.issuerCertificates).toEqual(before.content.issuerCertificates);
    const t1 = (await prop(admin, TL.app, "LastUpdateTime")).value.value as Date;
    expect(t1.getTime()).toBeGreaterThan(t0.getTime());

    // SpecifiedLists=1 with an empty list removes the external entries again
    await writeTrustListViaSession(admin.session, node, { trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 1);
    expect((await readTrustListViaSession(admin.session, node)).content.trustedCertificates).toEqual(before.content.trustedCertificates);
  });

  it("CloseAndUpdate refuses garbage and non-certificates with BadCertificateInvalid and changes nothing", async () => {
    const node = gdsNode(admin, TL.https);
    const before = await readTrustListViaSession(admin.session, node);
    const open = await callMethod(admin, node, gdsNode(admin, 656), [byte(6)]);
    const h = open.outputs[0].value as number;
    await callMethod(admin, node, gdsNode(admin, 664), [u32(h), new Variant({ dataType: DataType.ByteString, value: Buffer.from("garbage") })]);
    expect((await callMethod(admin, node, gdsNode(admin, 675), [u32(h)])).statusCode.name).toBe("BadCertificateInvalid");
    await expect(
      writeTrustListViaSession(admin.session, node, { trustedCertificates: [Buffer.from("3003020101", "hex")], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 1),
    ).rejects.toBeInstanceOf(TrustListCallError);
    expect(await readTrustListViaSession(admin.session, node)).toEqual(before);
  });

  it("AddCertificate and RemoveCertificate (by thumbprint) change the list", async () => {
    const node = gdsNode(admin, TL.user);
    const der = await selfSigned("external-ca-2");
    const add = await callMethod(admin, node, gdsNode(admin, 712), [new Variant({ dataType: DataType.ByteString, value: der }), new Variant({ dataType: DataType.Boolean, value: false })]);
    expect(add.statusCode.name).toBe("Good");
    expect((await readTrustListViaSession(admin.session, node)).content.issuerCertificates).toContainEqual(der);
    const remove = await callMethod(admin, node, gdsNode(admin, 714), [new Variant({ dataType: DataType.String, value: sha1(der) }), new Variant({ dataType: DataType.Boolean, value: false })]);
    expect(remove.statusCode.name).toBe("Good");
    expect((await readTrustListViaSession(admin.session, node)).content.issuerCertificates).not.toContainEqual(der);
  });

  it("an anonymous session may neither read nor write the lists", async () => {
    const anon = await connect(t.endpointUrl, { user: null });
    try {
      const node = gdsNode(anon, TL.app);
      expect((await callMethod(anon, node, gdsNode(anon, M.Open), [byte(1)])).statusCode.name).toBe("BadUserAccessDenied");
      expect((await callMethod(anon, node, gdsNode(anon, M.Open), [byte(6)])).statusCode.name).toBe("BadUserAccessDenied");
      expect((await callMethod(anon, node, gdsNode(anon, M.AddCertificate), [new Variant({ dataType: DataType.ByteString, value: await selfSigned("x") }), new Variant({ dataType: DataType.Boolean, value: true })])).statusCode.name).toBe(
        "BadUserAccessDenied",
      );
    } finally {
      await anon.close();
    }
  });

  it("a second writer waits for the first (BadTransactionPending); Add/Remove meanwhile are BadInvalidState", async () => {
    const other = await connect(t.endpointUrl);
    try {
      const node = gdsNode(admin, TL.app);
      const open = await callMethod(admin, node, gdsNode(admin, M.Open), [byte(6)]);
      expect(open.statusCode.name).toBe("Good");
      const h = open.outputs[0].value as number;
      expect((await callMethod(other, gdsNode(other, TL.app), gdsNode(other, M.Open), [byte(6)])).statusCode.name).toBe("BadTransactionPending");
      expect(
        (await callMethod(other, gdsNode(other, TL.app), gdsNode(other, M.AddCertificate), [new Variant({ dataType: DataType.ByteString, value: await selfSigned("y") }), new Variant({ dataType: DataType.Boolean, value: true })]))
          .statusCode.name,
      ).toBe("BadInvalidState");
      // the writer's handle is not the other session's
      expect((await callMethod(other, gdsNode(other, TL.app), gdsNode(other, M.Close), [u32(h)])).statusCode.name).toBe("BadInvalidArgument");
      await callMethod(admin, node, gdsNode(admin, M.Write), [u32(h), new Variant({ dataType: DataType.ByteString, value: encodeTrustList({ trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] }, 0) })]);
      expect((await callMethod(admin, node, gdsNode(admin, M.Close), [u32(h)])).statusCode.name).toBe("Good");
      const h2 = await callMethod(other, gdsNode(other, TL.app), gdsNode(other, M.Open), [byte(6)]);
      expect(h2.statusCode.name).toBe("Good");
      await callMethod(other, gdsNode(other, TL.app), gdsNode(other, M.Close), [h2.outputs[0]]);
    } finally {
      await other.close();
    }
  });
});
