import { DataType, NodeId, NodeIdType, PermissionType, StatusCodes, Variant, type AddressSpace, type UAVariable } from "node-opcua";
import { ADMIN_NAMESPACE_URI, ADMIN_VARIABLES, type AdminVariable } from "../admin/admin-model.js";
import type { Logger } from "../log.js";
import type { GdsFigures } from "../ops/gds-figures.js";

export interface OpsVariablesOptions {
  addressSpace: AddressSpace;
  /** NodeIds of the roles that may read the figures (everyone else may only browse them). */
  readerRoles: NodeId[];
  /** The figures now (computed at most once per event-loop turn, see FigureSource). */
  figures: () => GdsFigures;
  startedAt: Date;
  log: Logger;
}

/** The value of each variable of ADMIN_VARIABLES, by name. */
function valueGetters(opts: OpsVariablesOptions): Record<string, () => number | Date> {
  const f = opts.figures;
  return {
    ApplicationCount: () => f().applications,
    PendingRequestCount: () => f().pendingRequests,
    ExpiringCertificateCount: () => f().certificates.expiring,
    RevokedCertificateCount: () => f().certificates.revoked,
    PushManagedCount: () => f().push?.managed ?? 0,
    FailedPushCount: () => f().push?.failed ?? 0,
    ServerStartTime: () => opts.startedAt,
  };
}

const ANONYMOUS_ROLE = new NodeId(NodeIdType.NUMERIC, 15644, 0);
const AUTHENTICATED_USER_ROLE = new NodeId(NodeIdType.NUMERIC, 15656, 0);

const DATA_TYPES: Record<AdminVariable["dataType"], DataType> = { UInt32: DataType.UInt32, DateTime: DataType.DateTime };

/**
 * Binds the admin object's figure variables (nodesets/opcua-gds-admin.NodeSet2.xml, table
 * ADMIN_VARIABLES) to getters: each Read, and each sample of a subscription, asks the services.
 */
export function installOpsVariables(opts: OpsVariablesOptions): void {
  const { addressSpace, log } = opts;
  const ns = addressSpace.getNamespaceIndex(ADMIN_NAMESPACE_URI);
  if (ns < 0) throw new Error(`admin nodeset (${ADMIN_NAMESPACE_URI}) is not loaded`);
  const getters = valueGetters(opts);
  for (const v of ADMIN_VARIABLES) {
    const get = getters[v.name];
    if (!get) throw new Error(`admin variable ${v.name} has no value getter`);
    const node = addressSpace.findNode(new NodeId(NodeIdType.NUMERIC, v.id, ns)) as UAVariable | null;
    if (!node) throw new Error(`admin nodeset lacks variable ${v.name}`);
    const dataType = DATA_TYPES[v.dataType];
    // Least privilege: the figures tell how many devices fail and how many requests wait, which is
    // operational detail: the admin roles and Observer (the read-only role) may read them, anyone
    // else only sees the nodes (node-opcua answers BadUserAccessDenied).
    const browse = PermissionType.Browse | PermissionType.ReadRolePermissions;
    node.setRolePermissions([
      { roleId: ANONYMOUS_ROLE, permissions: browse },
      { roleId: AUTHENTICATED_USER_ROLE, permissions: browse },
      ...opts.readerRoles.map((roleId) => ({ roleId, permissions: browse | PermissionType.Read })),
    ]);
    node.bindVariable(
      {
        get: () => {
          try {
            return new Variant({ dataType, value: get() });
          } catch (err) {
            log.error({ err, variable: v.name }, "reading an admin variable failed");
            return new Variant({ dataType: DataType.StatusCode, value: StatusCodes.BadInternalError });
          }
        },
      },
      true,
    );
  }
}
