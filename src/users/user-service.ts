import type { Clock } from "../clock.js";
import { GdsError } from "../errors.js";
import type { Store } from "../store/store.js";
import { DUMMY_HASH, hashPassword, verifyPassword } from "./password-hash.js";
import { findRole } from "./roles.js";
import { VerifiedPasswordCache } from "./verified-password-cache.js";

const COLLECTION = "users";
const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;

interface StoredUser {
  name: string;
  roles: string[];
  passwordHash: string;
  createdAt: string;
}

export interface UserInfo {
  name: string;
  roles: string[];
  createdAt: string;
}

/** Users and their roles; passwords are kept only as scrypt hashes. */
export class UserService {
  private readonly users = new Map<string, StoredUser>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly verified: VerifiedPasswordCache;

  constructor(private readonly opts: { store: Store; clock: Clock }) {
    this.verified = new VerifiedPasswordCache(opts.clock);
  }

  async init(): Promise<void> {
    for (const u of await this.opts.store.values<StoredUser>(COLLECTION)) this.users.set(u.name, u);
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

  add(name: string, roles: string[], password: string): Promise<UserInfo> {
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
      return toInfo(user);
    });
  }

  remove(name: string): Promise<void> {
    return this.serialised(async () => {
      const user = this.users.get(name);
      if (!user) throw new GdsError("BadNotFound", `no user named ${JSON.stringify(String(name).slice(0, 64))}`);
      const otherSecurityAdmins = [...this.users.values()].filter((u) => u.name !== name && u.roles.includes("SecurityAdmin"));
      if (user.roles.includes("SecurityAdmin") && otherSecurityAdmins.length === 0) {
        throw new GdsError("BadInvalidState", `user ${name} is the last one holding SecurityAdmin; add another first`);
      }
      await this.opts.store.commit([{ collection: COLLECTION, key: name, value: null }]);
      this.users.delete(name);
      this.verified.forget(name);
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
  return { name: u.name, roles: [...u.roles], createdAt: u.createdAt };
}
