import type { Server, Socket } from "node:net";
import {
  ActivateSessionRequest,
  ActivateSessionResponse,
  AnonymousIdentityToken,
  CreateSessionRequest,
  ServiceFault,
  StatusCodes,
  type OPCUAServer,
  type ServerSession,
  type StatusCode,
} from "node-opcua";
import { defaultSettings, type GdsConfig } from "../config.js";
import type { Logger } from "../log.js";

/**
 * Limits that keep one client address (or a crowd of anonymous ones) from taking every channel
 * and session of the server. Per remote IP address; authenticated sessions are never held to the
 * tight per-address limits, and a share of the global session slots is kept for them.
 *
 * The settings they take, with their meaning and defaults, are in src/config.ts.
 */
const LIMIT_KEYS = [
  "maxSessions",
  "reservedAuthenticatedSessions",
  "maxChannelsPerAddress",
  "maxAnonymousSessionsPerAddress",
  "maxPendingSessionsPerAddress",
  "sessionActivationTimeoutMs",
  "anonymousSessionTimeoutMs",
] as const;

export type ConnectionLimitSettings = Pick<GdsConfig, (typeof LIMIT_KEYS)[number]>;

/** The fewest activated, authenticated sessions one address may always hold (a SCADA or MES host). */
export const MIN_AUTHENTICATED_SESSIONS_PER_ADDRESS = 64;

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimitSettings = (() => {
  const defaults = defaultSettings();
  return Object.fromEntries(LIMIT_KEYS.map((k) => [k, defaults[k]])) as unknown as ConnectionLimitSettings;
})();

export type SessionKind = "pending" | "anonymous" | "authenticated";

export interface SessionFacts {
  address: string;
  kind: SessionKind;
}

export interface Refusal {
  statusName: "BadTooManySessions";
  reason: string;
}

/**
 * The counting rules, on plain data. `sessions` are the server's live sessions (not the one the
 * decision is about).
 */
export class ConnectionLimitRules {
  constructor(readonly settings: ConnectionLimitSettings) {}

  /** A new TCP connection from `address` while it already holds `open` of them. */
  acceptChannel(open: number): boolean {
    return open < this.settings.maxChannelsPerAddress;
  }

  /** CreateSession from `address`. (The global MaxSessions is node-opcua's own check, which first closes the oldest session never activated.) */
  createSession(address: string, sessions: readonly SessionFacts[]): Refusal | undefined {
    const pending = sessions.filter((s) => s.address === address && s.kind === "pending").length;
    if (pending >= this.settings.maxPendingSessionsPerAddress) {
      return { statusName: "BadTooManySessions", reason: `${address} already has ${pending} sessions not activated (limit ${this.settings.maxPendingSessionsPerAddress})` };
    }
    return undefined;
  }

  /** ActivateSession of a session from `address` as anonymous. */
  activateAnonymous(address: string, sessions: readonly SessionFacts[]): Refusal | undefined {
    const anonymous = sessions.filter((s) => s.kind === "anonymous");
    const fromAddress = anonymous.filter((s) => s.address === address).length;
    if (fromAddress >= this.settings.maxAnonymousSessionsPerAddress) {
      return { statusName: "BadTooManySessions", reason: `${address} already has ${fromAddress} anonymous sessions (limit ${this.settings.maxAnonymousSessionsPerAddress})` };
    }
    const room = this.settings.maxSessions - this.settings.reservedAuthenticatedSessions;
    if (anonymous.length >= room) {
      return { statusName: "BadTooManySessions", reason: `${anonymous.length} anonymous sessions are open; the other ${this.settings.reservedAuthenticatedSessions} sessions are kept for authenticated users` };
    }
    return undefined;
  }
}

/** Which kind a session is now: pending until activated, then by its user identity token. */
export function sessionKind(session: Pick<ServerSession, "status" | "userIdentityToken">): SessionKind | undefined {
  if (session.status === "new") return "pending";
  if (session.status !== "active") return undefined;
  const token = session.userIdentityToken;
  return !token || token instanceof AnonymousIdentityToken ? "anonymous" : "authenticated";
}

/** The address a socket or channel came from, IPv4-mapped IPv6 written as IPv4 (one address, one count). */
export function normaliseAddress(address: string | undefined): string {
  if (!address) return "unknown";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

type OnRequest = OPCUAServer["on_request"];
type Channel = Parameters<OnRequest>[1];
type Message = Parameters<OnRequest>[0];

interface EndpointInternals {
  /** The endpoint's TCP listener; its first "connection" listener is node-opcua's accept handler. */
  _server?: Server;
}

/**
 * Puts the limits on a node-opcua server before `start()`:
 * - TCP connections over the per-address cap are closed at once;
 * - CreateSession from an address with too many sessions not activated gets BadTooManySessions;
 * - an anonymous ActivateSession over the address's cap, or into the slots kept for authenticated
 *   users, gets BadTooManySessions and the session is closed;
 * - a session not activated in time is closed; an anonymous one idle longer than its short
 *   timeout is closed;
 * - when a channel goes, its anonymous and not-activated sessions go with it (an authenticated
 *   session stays for its client to reactivate on a new channel until its timeout).
 * Returns a function that stops the timers.
 */
export function installConnectionLimits(server: OPCUAServer, settings: ConnectionLimitSettings, log: Logger): () => void {
  const rules = new ConnectionLimitRules(settings);
  const addressOf = new WeakMap<ServerSession, string>();
  const activationTimers = new Map<ServerSession, NodeJS.Timeout>();
  const refusalLog = new RefusalLog(log);

  // Channels: count open sockets per address where node-opcua accepts them.
  const socketsByAddress = new Map<string, number>();
  for (const endpoint of server.endpoints) {
    const listener = (endpoint as unknown as EndpointInternals)._server;
    const accept = listener?.listeners("connection")[0] as ((socket: Socket) => void) | undefined;
    if (!listener || typeof accept !== "function") throw new Error("node-opcua endpoint has no TCP listener: connection limits cannot be installed");
    listener.removeListener("connection", accept);
    listener.prependListener("connection", (socket: Socket) => {
      const address = normaliseAddress(socket.remoteAddress);
      const open = socketsByAddress.get(address) ?? 0;
      if (!rules.acceptChannel(open)) {
        refusalLog.refused(address, `connection refused: ${address} already has ${open} connections open (limit ${settings.maxChannelsPerAddress})`);
        socket.destroy();
        return;
      }
      socketsByAddress.set(address, open + 1);
      socket.once("close", () => {
        const n = (socketsByAddress.get(address) ?? 1) - 1;
        if (n <= 0) socketsByAddress.delete(address);
        else socketsByAddress.set(address, n);
      });
      accept(socket);
    });
  }

  const facts = (except?: ServerSession): SessionFacts[] => {
    const out: SessionFacts[] = [];
    for (const s of server.engine.getSessions()) {
      if (s === except) continue;
      const kind = sessionKind(s);
      if (kind) out.push({ address: addressOf.get(s) ?? normaliseAddress(s.channel?.remoteAddress), kind });
    }
    return out;
  };

  const close = (session: ServerSession, why: string) => {
    if (session.status === "closed" || session.status === "disposed") return;
    log.info({ sessionId: session.nodeId.toString(), remote: addressOf.get(session) }, why);
    try {
      server.engine.closeSession(session.authenticationToken, true, "Forcing");
    } catch (err) {
      log.warn({ err }, "closing a session failed");
    }
  };

  const originalOnRequest = server.on_request.bind(server);
  server.on_request = (message: Message, channel: Channel) => {
    const request = message.request;
    const address = normaliseAddress(channel.remoteAddress);
    if (request instanceof CreateSessionRequest) {
      const refusal = rules.createSession(address, facts());
      if (refusal) {
        refusalLog.refused(address, `CreateSession refused: ${refusal.reason}`);
        server.engine.incrementRejectedSessionCount?.();
        channel.send_response("MSG", new ServiceFault({ responseHeader: { serviceResult: StatusCodes[refusal.statusName] as StatusCode } }), message);
        return;
      }
    } else if (request instanceof ActivateSessionRequest) {
      const session = server.engine.getSession(request.requestHeader.authenticationToken);
      const token = request.userIdentityToken;
      const toAnonymous = !token || token instanceof AnonymousIdentityToken;
      if (session && toAnonymous && sessionKind(session) !== "anonymous" && session.status !== "closed") {
        const refusal = rules.activateAnonymous(addressOf.get(session) ?? address, facts(session));
        if (refusal) {
          refusalLog.refused(address, `anonymous ActivateSession refused: ${refusal.reason}`);
          server.engine.incrementRejectedSessionCount?.();
          channel.send_response("MSG", new ActivateSessionResponse({ responseHeader: { serviceResult: StatusCodes[refusal.statusName] as StatusCode } }), message);
          close(session, "session closed: no room for another anonymous session");
          return;
        }
      }
    }
    originalOnRequest(message, channel);
  };

  const onCreate = (session: ServerSession) => {
    const address = normaliseAddress(session.channel?.remoteAddress);
    addressOf.set(session, address);
    const timer = setTimeout(() => {
      activationTimers.delete(session);
      if (session.status === "new") close(session, `session closed: not activated within ${settings.sessionActivationTimeoutMs} ms`);
    }, settings.sessionActivationTimeoutMs);
    timer.unref();
    activationTimers.set(session, timer);
    session.on("channel_aborted", () => {
      // Let node-opcua finish with the channel first.
      setImmediate(() => {
        const kind = sessionKind(session);
        if (kind === "pending" || kind === "anonymous") close(session, `session closed: its channel from ${address} is gone`);
      });
    });
  };
  const onActivated = (session: ServerSession) => {
    if (sessionKind(session) !== "anonymous") return;
    if (session.sessionTimeout > settings.anonymousSessionTimeoutMs) shortenSessionTimeout(session, settings.anonymousSessionTimeoutMs, log);
  };
  const onClosed = (session: ServerSession) => {
    const timer = activationTimers.get(session);
    if (timer) clearTimeout(timer);
    activationTimers.delete(session);
  };
  server.on("create_session", onCreate);
  server.on("session_activated", onActivated);
  server.on("session_closed", onClosed);
  return () => {
    server.off("create_session", onCreate);
    server.off("session_activated", onActivated);
    server.off("session_closed", onClosed);
    for (const t of activationTimers.values()) clearTimeout(t);
    activationTimers.clear();
  };
}

interface WatchedSession {
  _watchDogData?: { timeout: number };
}

/** node-opcua's watchdog keeps each session's timeout in `_watchDogData`; the session's own field is what diagnostics show. */
function shortenSessionTimeout(session: ServerSession, timeoutMs: number, log: Logger): void {
  const data = (session as unknown as WatchedSession)._watchDogData;
  if (!data || typeof data.timeout !== "number") {
    log.warn("cannot shorten an anonymous session's timeout: node-opcua's session watchdog has changed");
    return;
  }
  data.timeout = timeoutMs;
  session.sessionTimeout = timeoutMs;
}

/** One warning per address and minute: a flood must not flood the log too. */
class RefusalLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(private readonly log: Logger) {}

  refused(address: string, message: string): void {
    const now = Date.now();
    const entry = this.last.get(address);
    if (entry && now - entry.at < 60_000) {
      entry.suppressed++;
      return;
    }
    if (this.last.size > 10_000) this.last.clear();
    this.last.set(address, { at: now, suppressed: 0 });
    this.log.warn({ remote: address, suppressedSinceLast: entry?.suppressed ?? 0 }, message);
  }
}
