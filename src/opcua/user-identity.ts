import crypto from "node:crypto";
import { AnonymousIdentityToken, NodeId, NodeIdType, SessionContext, StatusCodes, UserNameIdentityToken, X509IdentityToken, type OPCUAServer, type StatusCode, type UserIdentityToken } from "node-opcua";
import { readNode } from "../ca/der.js";
import type { Logger } from "../log.js";
import type { LoginResult, UserService } from "../users/user-service.js";

/**
 * What node-opcua's ActivateSession handling needs from us that its userManager hook does not
 * give: who is attempting (the channel's remote address and the client's ApplicationUri) and, for
 * X509 user tokens, which user the certificate is bound to. The policy (throttling, binding,
 * audit) is the UserService's; this module only extracts and wires.
 *
 * node-opcua names an X509 session's user by the certificate's CN and asks the userManager for
 * that name's roles. Here an X509 session is named and given the roles of the user its exact
 * certificate is bound to (UserService.userForCertificate), never by its CN.
 */

interface AttemptChannel {
  remoteAddress?: string;
}

interface AttemptSession {
  channel?: AttemptChannel;
  clientDescription?: { applicationUri?: string | null } | null;
  userIdentityToken?: UserIdentityToken;
}

type AuthorizeCallback = (err: Error | null, isAuthorized?: boolean, statusCode?: StatusCode) => void;
type IsValidUserIdentityToken = (
  channel: AttemptChannel,
  session: AttemptSession,
  token: UserIdentityToken,
  signature: unknown,
  endpoint: unknown,
  callback: (err: Error | null, statusCode?: StatusCode) => void,
) => void;
type IsUserAuthorized = (channel: AttemptChannel, session: AttemptSession, token: UserIdentityToken, callback: AuthorizeCallback) => void;

/** The channel of the ActivateSession being handled, by session (a re-activation may come on a new channel). */
const attemptChannel = new WeakMap<object, AttemptChannel>();
/** The user an X509 session's bound certificate names, and that user's roles. */
const x509Users = new WeakMap<object, { userName: string; roles: () => NodeId[] }>();
/** Servers whose X509 sessions are named by binding: an unmapped X509 session there has no user. */
const managedServers = new WeakSet<object>();

/** The remote IP as one string per machine: IPv4-mapped IPv6 (::ffff:1.2.3.4) as plain IPv4. */
export function clientAddressOf(channel: AttemptChannel | undefined): string {
  const raw = channel?.remoteAddress ?? "";
  if (raw === "") return "unknown";
  return raw.startsWith("::ffff:") && raw.includes(".") ? raw.slice(7) : raw;
}

/** Who is attempting to activate `session`: address of the channel carrying the attempt, ApplicationUri. */
export function attemptOf(session: AttemptSession): { clientAddress: string; applicationUri?: string } {
  const channel = attemptChannel.get(session) ?? session.channel;
  const applicationUri = session.clientDescription?.applicationUri ?? undefined;
  return { clientAddress: clientAddressOf(channel), ...(applicationUri ? { applicationUri } : {}) };
}

/** The status node-opcua answers ActivateSession with for a failed login. */
export function loginStatus(result: LoginResult): StatusCode {
  if (result.ok) return StatusCodes.Good;
  return result.statusName === "BadIdentityTokenRejected" ? StatusCodes.BadIdentityTokenRejected : StatusCodes.BadUserAccessDenied;
}

/**
 * Wraps the server's isUserAuthorized (called for every ActivateSession after the token itself
 * was validated: for X509, the user PKI accepted the certificate and its signature is proven).
 * Call before `server.start()`.
 */
export function installUserIdentity(server: OPCUAServer, opts: { users: UserService; rolesOf: (userName: string) => NodeId[]; log: Logger }): void {
  patchSessionContext();
  managedServers.add(server);
  const target = server as unknown as { isUserAuthorized: IsUserAuthorized; isValidUserIdentityToken: IsValidUserIdentityToken };
  // The token itself (X509 trust and signature, password blob): a refusal here is a failed login too.
  const validate = target.isValidUserIdentityToken.bind(server);
  target.isValidUserIdentityToken = (channel, session, token, signature, endpoint, callback) => {
    attemptChannel.set(session, channel);
    validate(channel, session, token, signature, endpoint, (err, statusCode) => {
      if (err || !statusCode || statusCode.isGood() || token instanceof AnonymousIdentityToken) {
        callback(err, statusCode);
        return;
      }
      opts.users.tokenRejected(tokenUser(token), statusCode.name, attemptOf(session)).then(
        () => callback(null, statusCode),
        () => callback(null, statusCode),
      );
    });
  };
  const original = target.isUserAuthorized.bind(server);
  target.isUserAuthorized = (channel, session, token, callback) => {
    attemptChannel.set(session, channel);
    if (!(token instanceof X509IdentityToken)) {
      // UserName tokens reach userManager.isValidUserAsync (see passwordLogin) through this.
      original(channel, session, token, callback);
      return;
    }
    const der = leafCertificate(token);
    if (!der) {
      callback(null, false, StatusCodes.BadIdentityTokenInvalid);
      return;
    }
    opts.users.authenticateCertificate(der, attemptOf(session)).then(
      (result) => {
        if (!result.ok) {
          opts.log.info({ remote: attemptOf(session).clientAddress, reason: result.reason }, "X509 user token refused");
          callback(null, false, loginStatus(result));
          return;
        }
        const userName = result.userName;
        x509Users.set(session, { userName, roles: () => opts.rolesOf(userName) });
        callback(null, true);
      },
      (err) => callback(err as Error),
    );
  };
}

/**
 * The userManager's isValidUserAsync for UserName tokens: the throttled, audited login of the
 * UserService, told where the attempt comes from. node-opcua calls it with `this` = the session.
 */
export function passwordLogin(users: UserService) {
  return function (this: AttemptSession, userName: string, password: string, callback: (err: Error | null, ok?: boolean) => void): void {
    users.authenticate(userName, password, attemptOf(this)).then(
      (result) => callback(null, result.ok),
      (err) => callback(err as Error),
    );
  };
}

/** Who a refused token claims to be, for the audit: the user name, or the certificate's CN. */
function tokenUser(token: UserIdentityToken): string {
  if (token instanceof UserNameIdentityToken) return String(token.userName ?? "");
  if (token instanceof X509IdentityToken) {
    const der = leafCertificate(token);
    try {
      const cn = der ? /(?:^|\n)CN=([^\n]*)/.exec(new crypto.X509Certificate(der).subject) : null;
      return `x509:${cn ? `CN=${cn[1]}` : "unreadable certificate"}`;
    } catch {
      return "x509:unreadable certificate";
    }
  }
  return "unknown token";
}

/** The first certificate of an X509 token (a token may carry a chain), or undefined if it is not DER. */
function leafCertificate(token: X509IdentityToken): Buffer | undefined {
  const data = token.certificateData as Buffer | Buffer[] | null;
  const first = Array.isArray(data) ? data[0] : data;
  if (!first || first.length === 0) return undefined;
  try {
    const node = readNode(first, 0);
    return Buffer.from(first.subarray(node.start, node.end));
  } catch {
    return undefined;
  }
}

/** ns=0;i=15656 WellKnownRole_AuthenticatedUser. */
const AUTHENTICATED_USER_ROLE = 15656;

let patched = false;

/**
 * SessionContext derives the user of an X509 session from the certificate's CN, in
 * getUserName() and in getCurrentUserRoles(). On our servers an X509 session's user is the one its
 * certificate is bound to instead. Sessions of other servers in the process keep node-opcua's rule.
 */
function patchSessionContext(): void {
  if (patched) return;
  patched = true;
  const proto = SessionContext.prototype as unknown as {
    getUserName(this: SessionContext): string;
    getCurrentUserRoles(this: SessionContext): NodeId[];
  };
  const getUserName = proto.getUserName;
  const getCurrentUserRoles = proto.getCurrentUserRoles;
  const x509SessionOf = (ctx: SessionContext): object | undefined => {
    const session = ctx.session as AttemptSession | undefined;
    return session?.userIdentityToken instanceof X509IdentityToken && ctx.server && managedServers.has(ctx.server) ? session : undefined;
  };
  proto.getUserName = function () {
    const session = x509SessionOf(this);
    if (!session) return getUserName.call(this);
    return x509Users.get(session)?.userName ?? "anonymous";
  };
  proto.getCurrentUserRoles = function () {
    const session = x509SessionOf(this);
    if (!session) return getCurrentUserRoles.call(this);
    const bound = x509Users.get(session);
    if (!bound) return [];
    // As node-opcua does for every authenticated user: AuthenticatedUser besides the user's roles.
    const roles = bound.roles();
    if (!roles.some((r) => r.namespace === 0 && r.value === AUTHENTICATED_USER_ROLE)) roles.push(new NodeId(NodeIdType.NUMERIC, AUTHENTICATED_USER_ROLE, 0));
    return roles;
  };
}
