/**
 * TrustList file handles are a bounded resource that ApplicationSelfAdmins cannot take from the
 * CA's admins: a few per session, a few per application over all its sessions, and a share of
 * the whole kept for CertificateAuthorityAdmin/SecurityAdmin. Handles of closed sessions are freed.
 *
 * Eight applications, each with two sessions on channels secured with the certificate this GDS
 * issued to it (ApplicationSelfAdmin), open read handles on the DefaultApplicationGroup trust
 * list until they are refused; a CertificateAuthorityAdmin then still opens and reads the list.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { AttributeIds, DataType, NodeId, Variant } from "node-opcua";
import { readTrustListViaSession } from "../../src/opcua/trust-list-client.js";
import { callMethod, connect, gdsNode, startTestGds, type TestGds, type TestSession } from "../integration/helpers/gds-harness.js";
import { registerOk, sampleServer } from "../integration/helpers/directory-client.js";
import { TRUST_LIST, connectWithCertificate, issueNewKeyPair, statusName } from "../integration/helpers/certificate-client.js";

const TL = TRUST_LIST.DefaultApplicationGroup;
const OPEN = 622;
const CLOSE = 625;
const APPS = 8;
const SESSIONS_PER_APP = 2;
/** The server's defaults (src/opcua/trust-list-file.ts). */
const PER_SESSION = 4;
const PER_APPLICATION = 8;
const ALL = 64;
const KEPT_FOR_ADMINS = 16;

async function openRead(s: TestSession): Promise<{ status: string; text: string | null; handle?: number }> {
  const r = await callMethod(s, gdsNode(s, TL), gdsNode(s, OPEN), [new Variant({ dataType: DataType.Byte, value: 1 })]);
  return { status: statusName(r), text: r.text, handle: r.statusCode.isGood() ? (r.outputs[0].value as number) : undefined };
}

async function openCount(s: TestSession): Promise<number> {
  const r = await s.session.translateBrowsePath({ startingNode: gdsNode(s, TL), relativePath: { elements: [{ targetName: { name: "OpenCount", namespaceIndex: 0 } }] } });
  const target = r.targets?.[0]?.targetId as NodeId;
  const dv = await s.session.read({ nodeId: target, attributeId: AttributeIds.Value });
  return dv.value.value as number;
}

describe("TrustList handles: self-admins cannot lock the CA admins out", () => {
  let t: TestGds;
  let admin: TestSession;
  const selfAdmins: { app: number; session: TestSession }[] = [];

  beforeAll(async () => {
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
    for (let i = 0; i < APPS; i++) {
      const fields = sampleServer({ applicationUri: `urn:test:trustlist-handles:${i}:${process.pid}`, discoveryUrls: [`opc.tcp://app${i}.plant.local:4840`] });
      const id = await registerOk(admin, fields);
      const issued = await issueNewKeyPair(admin, id, { privateKeyFormat: "PEM" });
      for (let j = 0; j < SESSIONS_PER_APP; j++) {
        const session = await connectWithCertificate(t.endpointUrl, { certificate: issued.certificate, chain: issued.issuers, privateKeyPem: issued.privateKeyPem!, applicationUri: fields.applicationUri });
        selfAdmins.push({ app: i, session });
      }
    }
  });

  afterAll(async () => {
    for (const s of selfAdmins) await s.session.close().catch(() => undefined);
    await admin?.close();
    await t?.stop();
  });

  it("caps handles per session, per application and for self-admins as a whole; an admin still opens and reads", async () => {
    const perSession: number[] = [];
    const perApp = new Array<number>(APPS).fill(0);
    for (const { app, session } of selfAdmins) {
      let n = 0;
      for (;;) {
        const r = await openRead(session);
        if (r.status !== "Good") {
          expect(`${r.status}: ${r.text}`).toMatch(/^BadTooManyOperations: /);
          break;
        }
        n++;
        if (n > 20) throw new Error("a self-admin session opened more than 20 handles: no cap");
      }
      perSession.push(n);
      perApp[app] += n;
    }
    // The CertificateAuthorityAdmin opens a handle and reads the whole list.
    const opened = await openRead(admin);
    expect(`${opened.status}: ${opened.text}`).toMatch(/^Good: /);
    const total = perSession.reduce((a, b) => a + b, 0);
    expect(Math.max(...perSession)).toBeLessThanOrEqual(PER_SESSION);
    expect(Math.max(...perApp)).toBeLessThanOrEqual(PER_APPLICATION);
    // The self-admins filled their share, and only their share.
    expect(total).toBe(ALL - KEPT_FOR_ADMINS);
    expect(await openCount(admin)).toBe(total + 1); // and the admin's

    const close = await callMethod(admin, gdsNode(admin, TL), gdsNode(admin, CLOSE), [new Variant({ dataType: DataType.UInt32, value: opened.handle })]);
    expect(statusName(close)).toBe("Good");
    const list = await readTrustListViaSession(admin.session, gdsNode(admin, TL));
    expect(list.content.trustedCertificates.length).toBeGreaterThan(0);
  });

  it("frees the handles of closed sessions", async () => {
    const before = await openCount(admin);
    expect(before).toBeGreaterThan(0);
    for (const s of selfAdmins.splice(0)) await s.session.close();
    const deadline = Date.now() + 30_000;
    let now = before;
    while (Date.now() < deadline && (now = await openCount(admin)) > 0) await new Promise((r) => setTimeout(r, 100));
    expect(now).toBe(0);
  });
});
