import { NodeId, PermissionType, type BaseNode, type OPCUAServer, type ServerSession } from "node-opcua";
import type { AccessPolicy } from "./access-policy.js";

/** The two arrays of Server_ServerDiagnostics_SessionsDiagnosticsSummary (OPC 10000-5). */
const SESSION_DIAGNOSTICS_ARRAY = 3707;
const SESSION_SECURITY_DIAGNOSTICS_ARRAY = 3708;

/** Roles that may see other clients' sessions (their names, client certificates, users). */
export const SESSION_DIAGNOSTICS_ROLES = ["SecurityAdmin", "ConfigureAdmin"] as const;

/**
 * The session diagnostics of the server (SessionDiagnosticsArray, SessionSecurityDiagnosticsArray
 * and one object per session below SessionsDiagnosticsSummary) name every client, its certificate
 * and its user. Only SecurityAdmin and ConfigureAdmin may browse and read them; everyone else gets
 * BadUserAccessDenied and does not see the nodes when browsing. The per-session nodes appear when a
 * session is activated, and are restricted in the same tick.
 */
export function restrictSessionDiagnostics(server: OPCUAServer, access: AccessPolicy): () => void {
  const addressSpace = server.engine.addressSpace;
  if (!addressSpace) throw new Error("address space was not created");
  const permissions = access.roleNodeIds(SESSION_DIAGNOSTICS_ROLES).map((roleId) => ({
    roleId,
    permissions: PermissionType.Browse | PermissionType.Read | PermissionType.ReadRolePermissions,
  }));
  const done = new WeakSet<BaseNode>();
  const restrict = (node: BaseNode | null) => {
    if (!node) return;
    if (!done.has(node)) {
      node.setRolePermissions(permissions);
      done.add(node);
    }
    for (const child of node.getAggregates()) restrict(child);
  };
  const restrictAll = (session?: ServerSession) => {
    restrict(addressSpace.findNode(new NodeId(NodeId.NodeIdType.NUMERIC, SESSION_DIAGNOSTICS_ARRAY, 0)));
    restrict(addressSpace.findNode(new NodeId(NodeId.NodeIdType.NUMERIC, SESSION_SECURITY_DIAGNOSTICS_ARRAY, 0)));
    if (session) restrict(addressSpace.findNode(session.nodeId));
  };
  // The summary object itself stays browsable; the session objects below it are restricted one by one.
  restrictAll();
  const onActivated = (session: ServerSession) => restrictAll(session);
  server.on("session_activated", onActivated);
  return () => server.off("session_activated", onActivated);
}
