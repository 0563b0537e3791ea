import { AnonymousIdentityToken, NodeId, sameNodeId, type ISessionContext } from "node-opcua";
import { GdsError } from "../errors.js";
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
