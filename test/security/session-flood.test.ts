import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { AttributeIds, MessageSecurityMode, NodeId, OPCUAClient, SecurityPolicy, UserTokenType, type ClientSession } from "node-opcua";
import { callAdmin, connect, isGood, startTestGds, type TestGds } from "../integration/helpers/gds-harness.js";
import { loopbackRelay, type LoopbackRelay } from "./helpers/loopback-relay.js";

/**
 * One client address opening as many anonymous sessions as it can (SecurityPolicy None, asking
 * for a one-hour timeout) must not lock anyone else out: an admin from another address still gets
 * in, the attacker's sessions go when it goes, and a legitimate host keeps its 64 authenticated
 * sessions.
 */

const ANONYMOUS_PER_ADDRESS = 8;
const ONE_HOUR = 3_600_000;
/** Server_ServerDiagnostics_ServerDiagnosticsSummary_CurrentSessionCount */
const CURRENT_SESSION_COUNT = new NodeId(NodeId.NodeIdType.NUMERIC, 2277, 0);

interface Attacker {
  clients: OPCUAClient[];
  sessions: ClientSession[];
  refusals: string[];
}

function attackerClient(): OPCUAClient {
  return OPCUAClient.create({
    applicationName: "flood",
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    requestedSessionTimeout: ONE_HOUR,
    endpointMustExist: false,
    keepSessionAlive: false,
    // disconnect() leaves the sessions open on the server, as a client that just goes away.
    keepPendingSessionsOnDisconnect: true,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 100 },
  });
}

/** Opens anonymous sessions over a few channels until the server has refused five in a row (or 250 are open). */
async function flood(endpointUrl: string): Promise<Attacker> {
  const a: Attacker = { clients: [], sessions: [], refusals: [] };
  for (let c = 0; c < 4; c++) {
    const client = attackerClient();
    await client.connect(endpointUrl);
    a.clients.push(client);
  }
  let inARow = 0;
  for (let i = 0; inARow < 5 && a.sessions.length < 250; i++) {
    try {
      a.sessions.push(await a.clients[i % a.clients.length].createSession({ type: UserTokenType.Anonymous }));
      inARow = 0;
    } catch (err) {
      a.refusals.push((err as Error).message);
      inARow++;
    }
  }
  return a;
}

async function disconnectAll(a: Attacker): Promise<void> {
  await Promise.all(a.clients.map((c) => c.disconnect().catch(() => undefined)));
}

async function eventually<T>(what: string, attempt: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await attempt();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms: ${(last as Error)?.message}`);
}

describe("session flood from one address", () => {
  let t: TestGds;
  let fromOtherMachine: LoopbackRelay;
  let attacker: Attacker;

  beforeAll(async () => {
    t = await startTestGds({ maxAnonymousSessionsPerAddress: ANONYMOUS_PER_ADDRESS } as never);
    fromOtherMachine = await loopbackRelay("127.0.0.2", t.config.port);
    attacker = await flood(t.endpointUrl);
  }, 180_000);

  afterAll(async () => {
    if (attacker) await disconnectAll(attacker);
    await fromOtherMachine?.close();
    await t?.stop();
  });

  it("caps the attacker's anonymous sessions and says BadTooManySessions", () => {
    expect(attacker.sessions.length).toBe(ANONYMOUS_PER_ADDRESS);
    expect(attacker.refusals.every((m) => /BadTooManySessions/.test(m))).toBe(true);
  });

  it("lets an admin from another address connect and call GetStatus within 5 s while the attacker holds its sessions", async () => {
    const started = Date.now();
    const admin = await connect(fromOtherMachine.url);
    try {
      const status = await callAdmin(admin, "GetStatus", []);
      expect(isGood(status)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await admin.close();
    }
  }, 60_000);

  it("keeps room for 64 activated, authenticated sessions from one address", async () => {
    const client = OPCUAClient.create({
      applicationName: "scada-host",
      securityMode: MessageSecurityMode.None,
      securityPolicy: SecurityPolicy.None,
      endpointMustExist: false,
      keepSessionAlive: false,
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 100 },
    });
    // The same address as the attacker: its anonymous flood does not count against them.
    await client.connect(t.endpointUrl);
    try {
      const sessions = await Promise.all(
        Array.from({ length: 64 }, () => client.createSession({ type: UserTokenType.UserName, userName: "admin", password: "test-admin-password-1" })),
      );
      expect(sessions).toHaveLength(64);
      await Promise.all(sessions.map((s) => s.close()));
    } finally {
      await client.disconnect();
    }
  }, 120_000);

  it("closes the connections of one address over its cap", async () => {
    const limit = t.config.maxChannelsPerAddress;
    const open: net.Socket[] = [];
    const connectFrom = () =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: "127.0.0.1", port: t.config.port, localAddress: "127.0.0.4" }, () => resolve(s));
        s.once("error", reject);
      });
    try {
      for (let i = 0; i < limit; i++) open.push(await connectFrom());
      const extra = await connectFrom();
      open.push(extra);
      await new Promise<void>((resolve) => (extra.destroyed ? resolve() : extra.once("close", () => resolve())));
      expect(open.slice(0, limit).every((s) => !s.destroyed)).toBe(true);
    } finally {
      for (const s of open) s.destroy();
    }
  }, 60_000);

  it("frees an attacker's sessions once it is gone (disconnected or dead)", async () => {
    const observer = await connect(t.endpointUrl);
    const sessionCount = async () => {
      const dv = await observer.session.read({ nodeId: CURRENT_SESSION_COUNT, attributeId: AttributeIds.Value });
      return dv.value.value as number;
    };
    try {
      // The first attacker (still holding its sessions) disconnects without closing them.
      const withFirst = await sessionCount();
      await disconnectAll(attacker);
      await eventually("the disconnected attacker's sessions being closed", async () => {
        const n = await sessionCount();
        if (n > withFirst - ANONYMOUS_PER_ADDRESS) throw new Error(`${n} sessions still open`);
      });
      // A second one behind 127.0.0.3 fills its quota, then its connections are cut (it dies).
      const baseline = await sessionCount();
      const relay = await loopbackRelay("127.0.0.3", t.config.port);
      const second = await flood(relay.url);
      expect(second.sessions.length).toBe(ANONYMOUS_PER_ADDRESS);
      expect(await sessionCount()).toBe(baseline + ANONYMOUS_PER_ADDRESS);
      relay.cutAll();
      await eventually("the dead attacker's sessions being closed", async () => {
        const n = await sessionCount();
        if (n > baseline) throw new Error(`${n} sessions open, ${baseline} before the attack`);
      });
      await disconnectAll(second);
      // Its address gets its whole quota again, long before any session timeout.
      const again = await flood(relay.url);
      expect(again.sessions.length).toBe(ANONYMOUS_PER_ADDRESS);
      await disconnectAll(again);
      await relay.close();
    } finally {
      await observer.close();
    }
  }, 120_000);
});

describe("sessions never activated, and idle anonymous sessions", () => {
  let t: TestGds;

  beforeAll(async () => {
    t = await startTestGds({ maxPendingSessionsPerAddress: 3, sessionActivationTimeoutMs: 1_000, anonymousSessionTimeoutMs: 1_000 } as never);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it("are capped per address and closed after the activation timeout", async () => {
    const client = attackerClient();
    await client.connect(t.endpointUrl);
    // CreateSession without ActivateSession (what a failing or stalling logon leaves behind).
    const createOnly = () =>
      new Promise<void>((resolve, reject) => {
        (client as unknown as { _createSession(cb: (err: Error | null) => void): void })._createSession((err) => (err ? reject(err) : resolve()));
      });
    try {
      for (let i = 0; i < 3; i++) await createOnly();
      await expect(createOnly()).rejects.toThrow(/BadTooManySessions/);
      // Once the first ones have timed out (1 s), there is room again.
      await eventually("sessions never activated being closed", createOnly);
    } finally {
      await client.disconnect();
    }
  }, 60_000);

  it("closes an idle anonymous session after its short timeout, whatever timeout it asked for", async () => {
    const observer = await connect(t.endpointUrl);
    const client = attackerClient();
    await client.connect(t.endpointUrl);
    try {
      const count = async () => (await observer.session.read({ nodeId: CURRENT_SESSION_COUNT, attributeId: AttributeIds.Value })).value.value as number;
      const before = await count();
      const idle = await client.createSession({ type: UserTokenType.Anonymous });
      expect(idle.timeout).toBeGreaterThan(60_000);
      await eventually("the idle anonymous session being closed", async () => {
        const n = await count();
        if (n > before) throw new Error(`${n} sessions open, ${before} before`);
      });
    } finally {
      await client.disconnect();
      await observer.close();
    }
  }, 60_000);
});
