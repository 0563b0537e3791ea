import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { loadConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { ConnectionLimitRules, DEFAULT_CONNECTION_LIMITS, MIN_AUTHENTICATED_SESSIONS_PER_ADDRESS, normaliseAddress, type SessionFacts } from "../../src/opcua/connection-limits.js";
import { redactSecrets } from "../../src/opcua/node-opcua-logging.js";

const rules = new ConnectionLimitRules({ ...DEFAULT_CONNECTION_LIMITS, maxSessions: 100, reservedAuthenticatedSessions: 10, maxAnonymousSessionsPerAddress: 4, maxPendingSessionsPerAddress: 3 });
const many = (n: number, address: string, kind: SessionFacts["kind"]): SessionFacts[] => Array.from({ length: n }, () => ({ address, kind }));

describe("connection limit rules", () => {
  it("caps anonymous sessions per address, and leaves other addresses alone", () => {
    const sessions = many(4, "10.0.0.1", "anonymous");
    expect(rules.activateAnonymous("10.0.0.1", sessions)?.statusName).toBe("BadTooManySessions");
    expect(rules.activateAnonymous("10.0.0.2", sessions)).toBeUndefined();
  });

  it("keeps the reserved slots from anonymous sessions, whatever their addresses", () => {
    const sessions = Array.from({ length: 90 }, (_, i) => ({ address: `10.0.${i}.1`, kind: "anonymous" as const }));
    expect(rules.activateAnonymous("10.9.9.9", sessions)?.reason).toMatch(/kept for authenticated users/);
  });

  it("caps sessions not activated per address", () => {
    expect(rules.createSession("10.0.0.1", many(3, "10.0.0.1", "pending"))?.statusName).toBe("BadTooManySessions");
    expect(rules.createSession("10.0.0.1", many(2, "10.0.0.1", "pending"))).toBeUndefined();
    expect(rules.createSession("10.0.0.2", many(3, "10.0.0.1", "pending"))).toBeUndefined();
  });

  it("never holds authenticated sessions to the per-address caps", () => {
    const sessions = [...many(200, "10.0.0.1", "authenticated"), ...many(2, "10.0.0.1", "pending")];
    expect(rules.createSession("10.0.0.1", sessions)).toBeUndefined();
    expect(rules.activateAnonymous("10.0.0.1", sessions)).toBeUndefined();
  });

  it("counts connections per address up to the cap", () => {
    expect(rules.acceptChannel(DEFAULT_CONNECTION_LIMITS.maxChannelsPerAddress - 1)).toBe(true);
    expect(rules.acceptChannel(DEFAULT_CONNECTION_LIMITS.maxChannelsPerAddress)).toBe(false);
  });

  it("treats an IPv4-mapped IPv6 address as the IPv4 address", () => {
    expect(normaliseAddress("::ffff:127.0.0.2")).toBe("127.0.0.2");
    expect(normaliseAddress("::1")).toBe("::1");
  });

  it("has defaults that allow a host its 64 authenticated sessions at once", () => {
    expect(DEFAULT_CONNECTION_LIMITS.maxPendingSessionsPerAddress).toBeGreaterThanOrEqual(MIN_AUTHENTICATED_SESSIONS_PER_ADDRESS);
    expect(DEFAULT_CONNECTION_LIMITS.maxChannelsPerAddress).toBeGreaterThanOrEqual(MIN_AUTHENTICATED_SESSIONS_PER_ADDRESS);
    expect(DEFAULT_CONNECTION_LIMITS.maxSessions - DEFAULT_CONNECTION_LIMITS.reservedAuthenticatedSessions).toBeGreaterThanOrEqual(MIN_AUTHENTICATED_SESSIONS_PER_ADDRESS);
  });
});

describe("connection limit settings", () => {
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), "gds-config-"));

  it("reads them from env, flags and the config file, with the defaults of DEFAULT_CONNECTION_LIMITS", () => {
    const d = dir();
    const c = loadConfig({ env: { GDS_DATA_DIR: d }, flags: {}, cwd: "/" });
    expect(c).toMatchObject(DEFAULT_CONNECTION_LIMITS);
    expect(c.bindAddress).toBeUndefined();
    fs.writeFileSync(path.join(d, "gds.config.json"), JSON.stringify({ bindAddress: "127.0.0.1", maxAnonymousSessionsPerAddress: 3 }));
    const c2 = loadConfig({
      env: { GDS_DATA_DIR: d, GDS_MAX_SESSIONS: "500", GDS_ANONYMOUS_SESSION_TIMEOUT: "2m" },
      flags: { "session-activation-timeout": "5s", "max-channels-per-address": "80" },
      cwd: "/",
    });
    expect(c2).toMatchObject({ bindAddress: "127.0.0.1", maxAnonymousSessionsPerAddress: 3, maxSessions: 500, anonymousSessionTimeoutMs: 120_000, sessionActivationTimeoutMs: 5_000, maxChannelsPerAddress: 80 });
  });

  it.each([
    [{ GDS_MAX_SESSIONS: "10" }, "GDS_MAX_SESSIONS"],
    [{ GDS_MAX_CHANNELS_PER_ADDRESS: "8" }, "GDS_MAX_CHANNELS_PER_ADDRESS"],
    [{ GDS_MAX_ANONYMOUS_SESSIONS_PER_ADDRESS: "0" }, "GDS_MAX_ANONYMOUS_SESSIONS_PER_ADDRESS"],
    [{ GDS_MAX_PENDING_SESSIONS_PER_ADDRESS: "x" }, "GDS_MAX_PENDING_SESSIONS_PER_ADDRESS"],
    [{ GDS_RESERVED_AUTHENTICATED_SESSIONS: "200" }, "GDS_RESERVED_AUTHENTICATED_SESSIONS"],
    [{ GDS_SESSION_ACTIVATION_TIMEOUT: "2h" }, "GDS_SESSION_ACTIVATION_TIMEOUT"],
    [{ GDS_BIND_ADDRESS: "not an address" }, "GDS_BIND_ADDRESS"],
  ])("names the bad setting %j", (env, setting) => {
    let err: unknown;
    try {
      loadConfig({ env: { GDS_DATA_DIR: dir(), ...env }, flags: {}, cwd: "/" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe(setting);
  });
});

describe("redactSecrets", () => {
  it("withholds node-opcua's dump of a request", () => {
    const dump = `{ /*ActivateSessionRequest*/
 requestHeader                 /*  RequestHeader                             */: {
   authenticationToken         /*  NodeId                                    */: ns=0;b=ASNFZ4mrze8BI0VniavN7w==
 }
 userIdentityToken             /*  ExtensionObject                           */: { /*UserNameIdentityToken*/
 password                      /*  ByteString                                */
Buffer: Ox68756e746572322d736563726574
};`;
    const out = redactSecrets(dump);
    expect(out).toMatch(/ActivateSessionRequest contents withheld/);
    expect(out).not.toMatch(/ASNFZ4mrze8BI0VniavN7w|68756e7465/);
  });

  it("takes authentication tokens and password values out of one-line messages", () => {
    expect(redactSecrets(" Bad Session Closed in  _on_ActivateSessionRequest ns=0;b=ASNFZ4mrze8BI0VniavN7w==")).toBe(" Bad Session Closed in  _on_ActivateSessionRequest ns=0;b=[redacted]");
    expect(redactSecrets("user admin password: hunter2")).toBe("user admin password [redacted]");
    expect(redactSecrets("Decode message error : offset out of range")).toBe("Decode message error : offset out of range");
  });
});
