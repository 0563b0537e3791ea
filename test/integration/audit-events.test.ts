import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { AttributeIds, ClientMonitoredItem, ClientSubscription, NodeId, TimestampsToReturn, constructEventFilter, type Variant } from "node-opcua";
import { connect, startTestGds, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { expectStatus, issueNewKeyPair, revokeCertificate } from "./helpers/certificate-client.js";

/** The Part 12 audit events, as a client subscribed to the Server object sees them (UaExpert's Event View). */
describe("audit events", () => {
  let t: TestGds;
  let admin: TestSession;
  let subscription: ClientSubscription;
  const received: { type: string; user: string; status: boolean; message: string }[] = [];

  beforeAll(async () => {
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
    subscription = ClientSubscription.create(admin.session, { requestedPublishingInterval: 50, requestedLifetimeCount: 600, requestedMaxKeepAliveCount: 20, publishingEnabled: true });
    const filter = constructEventFilter(["EventType", "ClientUserId", "Status", "Message"]);
    const item = ClientMonitoredItem.create(
      subscription,
      { nodeId: new NodeId(NodeId.NodeIdType.NUMERIC, 2253, 0), attributeId: AttributeIds.EventNotifier },
      { filter, queueSize: 1000, discardOldest: false, samplingInterval: 0 },
      TimestampsToReturn.Neither,
    );
    item.on("changed", (fields: Variant[]) => {
      const type = fields[0].value as NodeId;
      received.push({
        type: type.namespace === admin.gdsNs ? `GDS:${type.value}` : `ns${type.namespace}:${type.value}`,
        user: String(fields[1].value ?? ""),
        status: fields[2].value === true,
        message: String(fields[3].value?.text ?? ""),
      });
    });
    await new Promise<void>((resolve) => item.once("initialized", () => resolve()));
  });

  afterAll(async () => {
    await subscription?.terminate().catch(() => undefined);
    await admin?.close();
    await t?.stop();
  });

  it("registration, request, delivery and revocation raise ApplicationRegistrationChanged, CertificateRequested, CertificateDelivered and CertificateRevoked with the user", async () => {
    const app = sampleServer();
    const id = await registerOk(admin, app);
    const issued = await issueNewKeyPair(admin, id, { privateKeyFormat: "PEM" });
    expectStatus(await revokeCertificate(admin, id, issued.certificate), "Good");
    const want = ["GDS:26", "GDS:91", "GDS:109", "GDS:27"];
    const deadline = Date.now() + 5000;
    while (!want.every((w) => received.some((r) => r.type === w)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const w of want) {
      const e = received.find((r) => r.type === w);
      expect(e).toMatchObject({ user: "admin", status: true });
    }
    // No secret travels in an event.
    expect(received.every((r) => !r.message.includes("PRIVATE KEY"))).toBe(true);
  });
});
