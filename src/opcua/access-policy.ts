import { AnonymousIdentityToken, NodeId, sameNodeId, type ISessionContext } from "node-opcua";
import { GdsError } from "../errors.js";
import { readNode } from "../ca/der.js";
import { ROLES } from "../users/roles.js";
import type { CallContext } from "./method-handler.js";

/**
 * Role checks inside the handlers. The nodeset's RolePermissions are not enforced by node-opcua
 * here (they would shut out ApplicationSelfAdmin); every handler states its rule instead.
 */
export class AccessPolicy {
  private readonly roleIds = new Map<string, NodeId>();

  /** `namespaceIndexOf` resolves a namespace URI to this server's index. */
  constructor(namespaceIndexOf: (uri: string) => number) {
    for (const r of ROLES) {
      const ns = namespaceIndexOf(r.namespaceUri);
      if (ns >= 0) this.roleIds.set(r.name, new NodeId(NodeId.NodeIdType.NUMERIC, r.id, ns));
    }
  }

  private selfAdminLookup: (certificateDer: Buffer) => string | undefined = () => undefined;

  /** How to find the application a channel certificate proves (ApplicationSelfAdmin). */
  setSelfAdminLookup(lookup: (certificateDer: Buffer) => string | undefined): void {
    this.selfAdminLookup = lookup;
  }

  /**
   * ApplicationSelfAdmin: the ApplicationId whose valid GDS-issued certificate secures this
   * session's channel, or undefined. Checked per call, so a revocation takes effect at once.
   */
  selfAdminApplication(call: CallContext): string | undefined {
    const der = call.context.session?.channel?.clientCertificate;
    if (!der || der.length === 0) return undefined;
    // node-opcua keeps the whole chain the client sent; the application's own certificate is the first.
    const leaf = firstDerElement(Buffer.from(der));
    return leaf ? this.selfAdminLookup(leaf) : undefined;
  }

  /** Passes with one of `roles`, or as ApplicationSelfAdmin of exactly `applicationId`. */
  requireRoleOrSelf(call: CallContext, roles: readonly string[], applicationId: string): void {
    if (roles.some((r) => this.hasRole(call.context, r))) return;
    const self = this.selfAdminApplication(call);
    if (self !== undefined && self === applicationId.toLowerCase()) return;
    if (self !== undefined) {
      throw new GdsError("BadUserAccessDenied", `${call.method}: this channel's certificate makes it ApplicationSelfAdmin of ${self} only, not of ${applicationId}`);
    }
    throw new GdsError("BadUserAccessDenied", `${call.method} requires the role ${roles.join(" or ")}, or a channel secured with the certificate this GDS issued to that application; user ${call.userName} has neither`);
  }

  /** Who did it, for the audit log: the user, else `app:<id>` for ApplicationSelfAdmin, else "anonymous". */
  actorOf(call: CallContext): string {
    if (this.isAuthenticated(call)) return call.userName;
    const self = this.selfAdminApplication(call);
    return self ? `app:${self}` : "anonymous";
  }

  roleNodeIds(names: readonly string[]): NodeId[] {
    return names.map((n) => this.roleIds.get(n)).filter((x): x is NodeId => x !== undefined);
  }

  hasRole(context: ISessionContext, role: string): boolean {
    const id = this.roleIds.get(role);
    if (!id || !context.session) return false;
    return context.getCurrentUserRoles().some((r) => sameNodeId(r, id));
  }

  isAuthenticated(call: CallContext): boolean {
    const token = call.context.session?.userIdentityToken;
    return token !== undefined && !(token instanceof AnonymousIdentityToken) && call.userName !== "anonymous";
  }

  /** Passes if the caller holds any of `roles`; else BadUserAccessDenied naming them. */
  requireAnyRole(call: CallContext, roles: readonly string[]): void {
    if (roles.some((r) => this.hasRole(call.context, r))) return;
    throw new GdsError("BadUserAccessDenied", `${call.method} requires the role ${roles.join(" or ")}; user ${call.userName} has none of them`);
  }

  requireAuthenticated(call: CallContext): void {
    if (!this.isAuthenticated(call)) throw new GdsError("BadUserAccessDenied", `${call.method} requires an authenticated user, not an anonymous session`);
  }
}

/** The first DER element of a concatenated certificate chain, or undefined if it is not DER. */
function firstDerElement(chain: Buffer): Buffer | undefined {
  try {
    const node = readNode(chain, 0);
    return chain.subarray(node.start, node.end);
  } catch {
    return undefined;
  }
}
