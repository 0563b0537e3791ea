/**
 * GetCertificateStatus follows the GDS's clock: with GDS_CERT_LIFETIME 365d and GDS_RENEW_BEFORE
 * 30d (the defaults) a fresh certificate needs no update, one with 29 days left does, a new one
 * issued then does not, and an expired one does. The clock is injected into the GDS domain only;
 * node-opcua's channels and sessions keep running on real time.
 */
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { NodeId } from "node-opcua";
import { defaultSettings } from "../../src/config.js";
import { connect, startTestGds, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { expectStatus, getCertificateStatus, issueFromCsr } from "./helpers/certificate-client.js";
import { makeCsr, type TestCsr } from "./helpers/csr.js";

const DAY = 86_400_000;

describe("GetCertificateStatus as the clock moves", () => {
  let offsetMs = 0;
  const clock = { now: () => new Date(Date.now() + offsetMs) };
  let t: TestGds;
  let admin: TestSession;
  let appId: NodeId;
  let csr: TestCsr;

  async function updateRequired(): Promise<unknown> {
    const r = await getCertificateStatus(admin, appId);
    expectStatus(r, "Good");
    return r.outputs[0].value;
  }

  beforeAll(async () => {
    expect(defaultSettings().certLifetimeMs).toBe(365 * DAY);
    expect(defaultSettings().renewBeforeMs).toBe(30 * DAY);
    t = await startTestGds({}, { clock });
    admin = await connect(t.endpointUrl);
    const app = sampleServer({ discoveryUrls: ["opc.tcp://clock.plant.local:4840"] });
    appId = await registerOk(admin, app);
    csr = await makeCsr({ applicationUri: app.applicationUri, subject: "CN=clock test", dnsNames: ["clock.plant.local"] });
  });

  afterAll(async () => {
    await admin?.close();
    await t?.stop();
  });

  it("is TRUE before the application has any certificate", async () => {
    expect(await updateRequired()).toBe(true);
  });

  it("flips to TRUE when less than GDS_RENEW_BEFORE is left, back to FALSE after renewal, TRUE again after expiry", async () => {
    const firstCert = await issueFromCsr(admin, appId, csr.der);
    const notAfter1 = new Date(new crypto.X509Certificate(firstCert.certificate).validTo).getTime();
    expect(Math.abs(notAfter1 - (clock.now().getTime() + 365 * DAY))).toBeLessThan(DAY);
    expect(await updateRequired()).toBe(false);

    offsetMs = 334 * DAY; // 31 days left
    expect(await updateRequired()).toBe(false);

    offsetMs = 336 * DAY; // 29 days left
    expect(await updateRequired()).toBe(true);

    const secondCert = await issueFromCsr(admin, appId, csr.der);
    const notAfter2 = new Date(new crypto.X509Certificate(secondCert.certificate).validTo).getTime();
    expect(notAfter2).toBeGreaterThan(notAfter1);
    expect(await updateRequired()).toBe(false);

    offsetMs = notAfter2 - Date.now() + DAY; // a day past the renewed certificate's notAfter
    expect(await updateRequired()).toBe(true);
  });
});
