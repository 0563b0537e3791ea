import crypto from "node:crypto";
import type { AuditEntry, AuditLog } from "../audit/audit-log.types.js";
import type { Clock } from "../clock.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Store } from "../store/store.js";
import { LoginThrottle, type LoginAttempt, type ThrottleSettings } from "./login-throttle.js";
import { DUMMY_HASH, hashPassword, verifyPassword, WeakPasswordHash } from "./password-hash.js";
import { findRole } from "./roles.js";
import { VerificationQueue, VerificationRefused, type VerificationQueueSettings } from "./verification-queue.js";
import { VerifiedPasswordCache } from "./verified-password-cache.js";

const COLLECTION = "users";
const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;

/** A certificate bound to a user for X509 user tokens: the exact certificate, never its name. */
interface BoundCertificate {
  /** SHA-1 of the DER, lower-case hex (the OPC UA thumbprint). */
  thumbprint: string;
  /** The DER, base64. */
  der: string;
  subject: string;
  boundAt: string;
  boundBy: string;
}

interface StoredUser {
  name: string;
  roles: string[];
  passwordHash: string;
  createdAt: string;
  certificates?: BoundCertificate[];
}

export interface UserInfo {
  name: string;
  roles: string[];
  createdAt: string;
  /** Certificates bound for X509 user tokens (thumbprint and subject). */
  certificates: { thumbprint: string; subject: string }[];
}

/** Why a login failed (the label of gds_login_failures_total, the detail of LoginFailed). */
export type LoginFailureReason =
  | "wrong-password"
  | "unknown-user"
  | "throttled"
  | "busy"
  | "weak-hash"
  | "certificate-not-bound"
  | "token-rejected";

export type LoginResult =
  | { ok: true; userName: string }
  | { ok: false; reason: LoginFailureReason; statusName: "BadUserAccessDenied" | "BadIdentityTokenRejected"; retryAfterMs?: number };

export interface UserServiceOptions {
  store: Store;
  clock: Clock;
  /** User changes and failed logins are audited here when given. */
  audit?: AuditLog;
  /** Told of every failed login (metrics). */
  onLoginFailure?: (reason: LoginFailureReason) => void;
  throttle?: Partial<ThrottleSettings>;
  verification?: Partial<VerificationQueueSettings>;
  log?: Logger;
}

const FAILURE_TEXT: Record<LoginFailureReason, string> = {
  "wrong-password": "wrong password",
  "unknown-user": "no such user",
  throttled: "too many failed logins: refused without verifying the password",
  busy: "too many logins being verified: refused without verifying the password",
  "weak-hash": "the stored password hash is weaker than this server's; set the password again",
  "certificate-not-bound": "the user token certificate is bound to no user (gds users add-cert)",
  "token-rejected": "the user identity token was refused before any user was looked up",
};

/** Users and their roles; passwords are kept only as scrypt hashes. */
export class UserService {
  private readonly users = new Map<string, StoredUser>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly verified: VerifiedPasswordCache;
  readonly throttle: LoginThrottle;
  private readonly verifications: VerificationQueue;
  /** Per-process key: identical concurrent attempts share one verification, keyed by this HMAC. */
  private readonly attemptKey = crypto.randomBytes(32);
  private readonly onLoginFailure: ((reason: LoginFailureReason) => void) | undefined;

  constructor(private readonly opts: UserServiceOptions) {
    this.verified = new VerifiedPasswordCache(opts.clock);
    this.throttle = new LoginThrottle(opts.clock, opts.throttle);
    this.verifications = new VerificationQueue(opts.verification, (address) => this.throttle.isSuspect(address));
    this.onLoginFailure = opts.onLoginFailure;
  }

  async init(): Promise<void> {
    for (const u of await this.opts.store.values<StoredUser>(COLLECTION)) this.users.set(u.name, u);
  }

  /**
   * A password login, throttled per address and per user (LoginThrottle) and admitted to scrypt
   * by a bounded queue (VerificationQueue). Every failure is audited as LoginFailed (never with
   * the password) and counted; the promise resolves once the audit record is durable.
   */
  async authenticate(name: string, password: string, from: { clientAddress: string; applicationUri?: string }): Promise<LoginResult> {
    const attempt: LoginAttempt = { userName: String(name).slice(0, 128) || "(empty)", clientAddress: from.clientAddress, applicationUri: from.applicationUri };
    const verdict = this.throttle.check(attempt);
    if (!verdict.allowed) return this.failed(attempt, "throttled", "BadUserAccessDenied", verdict.retryAfterMs);
    // A password verified moments ago costs no scrypt: it does not queue behind anyone.
    const known = this.users.get(name);
    if (known && typeof password === "string" && this.verified.matches(name, password, known.passwordHash)) {
      this.throttle.recordSuccess(attempt);
      return { ok: true, userName: name };
    }
    let outcome: "ok" | "wrong" | "weak";
    try {
      outcome = await this.verifications.run(
        { address: attempt.clientAddress, suspect: verdict.suspect, key: this.keyOf(name, password) },
        () => this.verifyOutcome(name, password),
      );
    } catch (err) {
      if (err instanceof VerificationRefused) return this.failed(attempt, "busy", "BadUserAccessDenied");
      throw err;
    }
    if (outcome === "ok") {
      this.throttle.recordSuccess(attempt);
      return { ok: true, userName: name };
    }
    this.throttle.recordFailure(attempt);
    if (outcome === "weak") return this.failed(attempt, "weak-hash", "BadUserAccessDenied");
    return this.failed(attempt, this.users.has(name) ? "wrong-password" : "unknown-user", "BadUserAccessDenied");
  }

  /**
   * An X509 user token whose certificate node-opcua's user PKI has already accepted (trusted,
   * valid, not revoked, signature proven): the user it is bound to, never the one its CN names.
   */
  async authenticateCertificate(der: Buffer, from: { clientAddress: string; applicationUri?: string }): Promise<LoginResult> {
    const user = this.userForCertificate(der);
    if (user) return { ok: true, userName: user };
    const attempt: LoginAttempt = { userName: `x509:${subjectOf(der) ?? thumbprintOf(der)}`.slice(0, 256), ...from };
    return this.failed(attempt, "certificate-not-bound", "BadIdentityTokenRejected", undefined, `thumbprint ${thumbprintOf(der)}`);
  }

  /**
   * A user identity token the OPC UA layer refused before any user check (an X509 certificate the
   * user PKI does not trust, a bad token signature, a malformed or undecryptable token): audited
   * and counted like every failed login. `statusName` is the status the session was refused with.
   */
  async tokenRejected(who: string, statusName: string, from: { clientAddress: string; applicationUri?: string }): Promise<void> {
    this.onLoginFailure?.("token-rejected");
    await this.audited({
      event: "LoginFailed",
      actor: who.slice(0, 256) || "(empty)",
      outcome: statusName,
      clientAddress: from.clientAddress,
      applicationUri: from.applicationUri?.slice(0, 512),
      detail: FAILURE_TEXT["token-rejected"],
    });
  }

  /** The user a certificate is bound to (exact DER match by SHA-1 thumbprint), or undefined. */
  userForCertificate(der: Buffer): string | undefined {
    const thumbprint = thumbprintOf(der);
    for (const u of this.users.values()) {
      if (u.certificates?.some((c) => c.thumbprint === thumbprint)) return u.name;
    }
    return undefined;
  }

  /** Binds a certificate (DER) to a user for X509 user tokens. */
  bindCertificate(name: string, der: Buffer, actor: string): Promise<{ thumbprint: string; subject: string }> {
    return this.serialised(async () => {
      const user = this.users.get(name);
      if (!user) throw new GdsError("BadNotFound", `no user named ${JSON.stringify(String(name).slice(0, 64))}`);
      let x509: crypto.X509Certificate;
      try {
        x509 = new crypto.X509Certificate(der);
      } catch (err) {
        throw new GdsError("BadCertificateInvalid", `Certificate: not a DER-encoded X.509 certificate (${(err as Error).message.slice(0, 100)})`);
      }
      const exact = Buffer.from(x509.raw);
      const thumbprint = thumbprintOf(exact);
      const holder = this.userForCertificate(exact);
      if (holder === name) throw new GdsError("BadEntryExists", `certificate ${thumbprint} is already bound to user ${name}`);
      if (holder) throw new GdsError("BadEntryExists", `certificate ${thumbprint} is already bound to user ${holder}; one certificate names one user`);
      if ((user.certificates?.length ?? 0) >= 16) throw new GdsError("BadOutOfRange", `user ${name} already has 16 certificates bound`);
      const bound: BoundCertificate = {
        thumbprint,
        der: exact.toString("base64"),
        subject: x509.subject.replace(/\n/g, ", "),
        boundAt: this.opts.clock.now().toISOString(),
        boundBy: actor,
      };
      const updated: StoredUser = { ...user, certificates: [...(user.certificates ?? []), bound] };
      await this.opts.store.commit([{ collection: COLLECTION, key: name, value: updated }]);
      this.users.set(name, updated);
      await this.audited({ event: "UserCertificateBound", actor, outcome: "Good", userName: name, detail: `thumbprint ${thumbprint}, subject ${bound.subject}` });
      return { thumbprint, subject: bound.subject };
    });
  }

  /** Replaces a user's roles. The last user holding SecurityAdmin keeps it. */
  setRoles(name: string, roles: string[], actor: string): Promise<UserInfo> {
    return this.serialised(async () => {
      const user = this.users.get(name);
      if (!user) throw new GdsError("BadNotFound", `no user named ${JSON.stringify(String(name).slice(0, 64))}`);
      const canonical = canonicalRoles(roles);
      if (user.roles.includes("SecurityAdmin") && !canonical.includes("SecurityAdmin") && !this.otherSecurityAdmin(name)) {
        throw new GdsError("BadInvalidState", `user ${name} is the last one holding SecurityAdmin; give it to another user first`);
      }
      const updated: StoredUser = { ...user, roles: canonical };
      await this.opts.store.commit([{ collection: COLLECTION, key: name, value: updated }]);
      this.users.set(name, updated);
      await this.audited({ event: "UserRolesChanged", actor, outcome: "Good", userName: name, detail: `roles ${user.roles.join(",")} -> ${canonical.join(",")}` });
      return toInfo(updated);
    });
  }

  /**
   * Sets a user's password (scrypt-hashed). The user's verified-password cache entry is dropped,
   * so the old password stops working at once. The login throttle keeps its counts: failures
   * from an address still slow that address down.
   */
  setPassword(name: string, password: string, actor: string): Promise<UserInfo> {
    return this.serialised(async () => {
      const user = this.users.get(name);
      if (!user) throw new GdsError("BadNotFound", `no user named ${JSON.stringify(String(name).slice(0, 64))}`);
      if (typeof password !== "string" || password.length < MIN_PASSWORD || password.length > MAX_PASSWORD) {
        throw new GdsError("BadInvalidArgument", `Password: must have ${MIN_PASSWORD}–${MAX_PASSWORD} characters`);
      }
      const updated: StoredUser = { ...user, passwordHash: await hashPassword(password) };
      await this.opts.store.commit([{ collection: COLLECTION, key: name, value: updated }]);
      this.users.set(name, updated);
      this.verified.forget(name);
      await this.audited({ event: "UserPasswordChanged", actor, outcome: "Good", userName: name, detail: actor === name ? "own password" : "set by an admin" });
      return toInfo(updated);
    });
  }

  private async verifyOutcome(name: string, password: string): Promise<"ok" | "wrong" | "weak"> {
    try {
      return (await this.verify(name, password)) ? "ok" : "wrong";
    } catch (err) {
      if (!(err instanceof WeakPasswordHash)) throw err;
      this.opts.log?.warn({ user: name, problem: err.message }, "login refused: the stored password hash is not acceptable; set the user's password again");
      return "weak";
    }
  }

  private keyOf(name: string, password: string): string {
    return crypto.createHmac("sha256", this.attemptKey).update(String(name)).update("\0").update(String(password)).digest("base64");
  }

  private async failed(
    attempt: LoginAttempt,
    reason: LoginFailureReason,
    statusName: "BadUserAccessDenied" | "BadIdentityTokenRejected",
    retryAfterMs?: number,
    extra?: string,
  ): Promise<LoginResult> {
    this.onLoginFailure?.(reason);
    let detail = FAILURE_TEXT[reason];
    if (retryAfterMs !== undefined) detail += ` (retry in ${Math.ceil(retryAfterMs / 1000)} s)`;
    if (extra) detail += `; ${extra}`;
    await this.audited({
      event: "LoginFailed",
      actor: attempt.userName,
      outcome: statusName,
      clientAddress: attempt.clientAddress,
      applicationUri: attempt.applicationUri?.slice(0, 512),
      detail,
    });
    return { ok: false, reason, statusName, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }

  private async audited(entry: AuditEntry): Promise<void> {
    if (!this.opts.audit) return;
    try {
      await this.opts.audit.record(entry);
    } catch (err) {
      this.opts.log?.error({ err, event: entry.event }, "could not write the audit record");
      if (entry.event !== "LoginFailed") throw err;
    }
  }

  private otherSecurityAdmin(name: string): boolean {
    return [...this.users.values()].some((u) => u.name !== name && u.roles.includes("SecurityAdmin"));
  }

  count(): number {
    return this.users.size;
  }

  list(): UserInfo[] {
    return [...this.users.values()].sort((a, b) => a.name.localeCompare(b.name)).map(toInfo);
  }

  /** Role names of a user (canonical spelling); empty for unknown users. */
  rolesOf(name: string): string[] {
    return this.users.get(name)?.roles ?? [];
  }

  /** The bare password check (cached successes, scrypt otherwise); no throttle, no audit. */
  async verify(name: string, password: string): Promise<boolean> {
    if (typeof name !== "string" || typeof password !== "string" || password.length > MAX_PASSWORD) return false;
    const user = this.users.get(name);
    if (user && this.verified.matches(name, password, user.passwordHash)) return true;
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    // The user may have been removed or changed while scrypt ran: judge against what is there now.
    const current = this.users.get(name);
    if (!ok || !user || current?.passwordHash !== user.passwordHash) return false;
    this.verified.remember(name, password, user.passwordHash);
    return true;
  }

  add(name: string, roles: string[], password: string, actor = "system"): Promise<UserInfo> {
    return this.serialised(async () => {
      if (typeof name !== "string" || !USER_NAME.test(name)) {
        throw new GdsError("BadInvalidArgument", "UserName: 1–64 characters of letters, digits, '.', '_', '@', '-'");
      }
      if (this.users.has(name)) throw new GdsError("BadEntryExists", `user ${name} already exists`);
      const canonical = canonicalRoles(roles);
      if (typeof password !== "string" || password.length < MIN_PASSWORD || password.length > MAX_PASSWORD) {
        throw new GdsError("BadInvalidArgument", `Password: must have ${MIN_PASSWORD}–${MAX_PASSWORD} characters`);
      }
      const user: StoredUser = {
        name,
        roles: canonical,
        passwordHash: await hashPassword(password),
        createdAt: this.opts.clock.now().toISOString(),
      };
      await this.opts.store.commit([{ collection: COLLECTION, key: name, value: user }]);
      this.users.set(name, user);
      await this.audited({ event: "UserAdded", actor, outcome: "Good", userName: name, detail: `roles ${canonical.join(",")}` });
      return toInfo(user);
    });
  }

  remove(name: string, actor = "system"): Promise<void> {
    return this.serialised(async () => {
      const user = this.users.get(name);
      if (!user) throw new GdsError("BadNotFound", `no user named ${JSON.stringify(String(name).slice(0, 64))}`);
      if (user.roles.includes("SecurityAdmin") && !this.otherSecurityAdmin(name)) {
        throw new GdsError("BadInvalidState", `user ${name} is the last one holding SecurityAdmin; add another first`);
      }
      await this.opts.store.commit([{ collection: COLLECTION, key: name, value: null }]);
      this.users.delete(name);
      this.verified.forget(name);
      await this.audited({ event: "UserRemoved", actor, outcome: "Good", userName: name });
    });
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function canonicalRoles(roles: unknown): string[] {
  if (!Array.isArray(roles) || roles.length === 0) throw new GdsError("BadInvalidArgument", "Roles: at least one role is required");
  if (roles.length > 32) throw new GdsError("BadInvalidArgument", "Roles: at most 32 roles");
  const out = new Set<string>();
  for (const r of roles) {
    const role = typeof r === "string" ? findRole(r) : undefined;
    if (!role || role.name === "Anonymous") {
      throw new GdsError("BadInvalidArgument", `Roles: unknown role ${JSON.stringify(String(r).slice(0, 64))}`);
    }
    out.add(role.name);
  }
  return [...out];
}

function toInfo(u: StoredUser): UserInfo {
  return { name: u.name, roles: [...u.roles], createdAt: u.createdAt, certificates: (u.certificates ?? []).map((c) => ({ thumbprint: c.thumbprint, subject: c.subject })) };
}

function thumbprintOf(der: Buffer): string {
  return crypto.createHash("sha1").update(der).digest("hex");
}

function subjectOf(der: Buffer): string | undefined {
  try {
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(new crypto.X509Certificate(der).subject);
    return cn ? `CN=${cn[1]}` : undefined;
  } catch {
    return undefined;
  }
}
