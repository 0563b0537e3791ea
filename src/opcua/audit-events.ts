import {
  DataType,
  NodeId,
  ObjectTypeIds,
  StatusCodes,
  VariableIds,
  type AddressSpace,
  type RaiseEventData,
  type StatusCode,
} from "node-opcua";
import type { AuditEntry, AuditEventName, AuditLog } from "../audit/audit-log.types.js";
import { CERTIFICATE_TYPES, type CertificateGroupName, type CertificateTypeName } from "../ca/certificate-types.js";
import type { Logger } from "../log.js";
import { GROUP_NODES } from "./certificate-nodes.js";
import { CERTIFICATE_MANAGER_METHODS } from "./install-certificate-manager.js";
import { DIRECTORY_METHODS } from "./install-directory.js";

/** Event types of the GDS nodeset (ns=GDS), OPC 10000-12 §6.5.12 and §7.9.12–14. */
export const GDS_AUDIT_EVENT_TYPES = {
  ApplicationRegistrationChangedAuditEventType: 26,
  CertificateRequestedAuditEventType: 91,
  CertificateDeliveredAuditEventType: 109,
  CertificateRevokedAuditEventType: 27,
} as const;

/** The Directory methods (ns=GDS) whose calls the events describe, where the audit entry names one unambiguously. */
const METHOD_IDS = {
  RegisterApplication: DIRECTORY_METHODS.RegisterApplication,
  UpdateApplication: DIRECTORY_METHODS.UpdateApplication,
  UnregisterApplication: DIRECTORY_METHODS.UnregisterApplication,
  FinishRequest: CERTIFICATE_MANAGER_METHODS.FinishRequest,
} as const;

const SEVERITY_SUCCESS = 100;
const SEVERITY_FAILURE = 500;

type Kind = "registration" | "requested" | "delivered" | "revoked" | "trustList" | "method";

interface EventMapping {
  kind: Kind;
  /** Part 5: free text naming what caused the event; `Method/<name>` when a single method does. */
  sourceName: string;
  method?: keyof typeof METHOD_IDS;
}

/**
 * Every audit log event and the OPC UA event it raises. A Record, so a new AuditEventName does not
 * compile until it is mapped here.
 *
 * CertificateRequested comes from StartSigningRequest or StartNewKeyPairRequest, CertificateRevoked
 * from RevokeCertificate or UnregisterApplication, and the audit entry does not say which, so those
 * carry no MethodId and a SourceName that does not pretend to know. Events with no Part 12 type
 * (approve/reject by an admin, CA set-up) are raised as the generic AuditUpdateMethodEventType.
 */
const MAPPING: Record<AuditEventName, EventMapping> = {
  ApplicationRegistered: { kind: "registration", sourceName: "Method/RegisterApplication", method: "RegisterApplication" },
  ApplicationUpdated: { kind: "registration", sourceName: "Method/UpdateApplication", method: "UpdateApplication" },
  ApplicationUnregistered: { kind: "registration", sourceName: "Method/UnregisterApplication", method: "UnregisterApplication" },
  CertificateRequested: { kind: "requested", sourceName: "CertificateManager/CertificateRequested" },
  CertificateDelivered: { kind: "delivered", sourceName: "Method/FinishRequest", method: "FinishRequest" },
  CertificateRevoked: { kind: "revoked", sourceName: "CertificateManager/CertificateRevoked" },
  TrustListUpdated: { kind: "trustList", sourceName: "CertificateManager/TrustListUpdated" },
  RequestApproved: { kind: "method", sourceName: "Admin/ApproveRequest" },
  RequestRejected: { kind: "method", sourceName: "Admin/RejectRequest" },
  CaImported: { kind: "method", sourceName: "Admin/CaImported" },
  CaCreated: { kind: "method", sourceName: "Admin/CaCreated" },
  PushTargetSet: { kind: "method", sourceName: "Admin/SetPushTarget" },
  PushTargetRemoved: { kind: "method", sourceName: "Admin/RemovePushTarget" },
  PushCompleted: { kind: "method", sourceName: "PushScheduler/PushCompleted" },
  PushDeviceRejected: { kind: "method", sourceName: "PushScheduler/PushDeviceRejected" },
  LoginFailed: { kind: "method", sourceName: "Session/ActivateSession" },
  UserAdded: { kind: "method", sourceName: "Admin/AddUser" },
  UserRemoved: { kind: "method", sourceName: "Admin/RemoveUser" },
  UserRolesChanged: { kind: "method", sourceName: "Admin/SetUserRoles" },
  UserCertificateBound: { kind: "method", sourceName: "Admin/BindUserCertificate" },
  UserPasswordChanged: { kind: "method", sourceName: "Admin/SetUserPassword" },
  ClientCertificateTrusted: { kind: "method", sourceName: "Admin/TrustClientCertificate" },
  ClientCertificateRemoved: { kind: "method", sourceName: "Admin/RemoveClientCertificate" },
};

export interface AuditEventsOptions {
  addressSpace: AddressSpace;
  audit: AuditLog;
  /** Index of http://opcfoundation.org/UA/GDS/ in this server. */
  gdsNamespace: number;
  log: Logger;
  /** The ServerId field; default: the server's ApplicationUri as Server.ServerArray[0] reports it. */
  serverUri?: string;
}

export interface AuditEventDescription {
  eventTypeId: NodeId;
  data: RaiseEventData;
}

/**
 * Raises the OPC 10000-12 audit events on the Server object for each durable audit log entry.
 * Returns the unsubscribe function: call it before shutting the server down. Never throws from the
 * listener: a failure to raise is logged, the audit log entry itself is already on disk.
 */
export function raiseAuditEvents(opts: AuditEventsOptions): () => void {
  const { addressSpace, audit, gdsNamespace, log } = opts;
  return audit.onEntry((entry) => {
    try {
      const serverUri = opts.serverUri ?? readServerUri(addressSpace);
      const described = describeAuditEvent(entry, { gdsNamespace, serverUri });
      const server = addressSpace.rootFolder.objects.server;
      server.raiseEvent(described.eventTypeId, described.data);
    } catch (err) {
      log.error({ err, event: entry.event, applicationId: entry.applicationId, requestId: entry.requestId }, "could not raise the OPC UA audit event");
    }
  });
}

/**
 * The event type and fields for one audit entry. Pure: no address space needed, so it is testable
 * on its own. Field names are the lower-camel-case BrowseNames node-opcua's event layout uses.
 */
export function describeAuditEvent(entry: AuditEntry, ctx: { gdsNamespace: number; serverUri: string }): AuditEventDescription {
  const mapping = MAPPING[entry.event];
  if (!mapping) throw new Error(`no OPC UA audit event for audit log event ${JSON.stringify(entry.event)}`);
  const gds = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, ctx.gdsNamespace);
  const ok = entry.outcome === "Good";

  const data: RaiseEventData = {
    // BaseEventType
    sourceName: { dataType: DataType.String, value: mapping.sourceName },
    message: { dataType: DataType.LocalizedText, value: { text: messageOf(entry) } },
    severity: { dataType: DataType.UInt16, value: ok ? SEVERITY_SUCCESS : SEVERITY_FAILURE },
    // AuditEventType (OPC 10000-5 §6.4.3)
    actionTimeStamp: { dataType: DataType.DateTime, value: entry.time ? new Date(entry.time) : new Date() },
    status: { dataType: DataType.Boolean, value: ok },
    serverId: { dataType: DataType.String, value: ctx.serverUri },
    // The client's RequestHeader.auditEntryId is not in the audit log entry.
    clientAuditEntryId: { dataType: DataType.String, value: "" },
    clientUserId: { dataType: DataType.String, value: entry.actor },
    // AuditUpdateMethodEventType (OPC 10000-5 §6.4.27); arguments are not recorded (they may hold CSRs).
    methodId: mapping.method
      ? { dataType: DataType.NodeId, value: gds(METHOD_IDS[mapping.method]) }
      : { dataType: DataType.NodeId, value: NodeId.nullNodeId },
    statusCodeId: { dataType: DataType.StatusCode, value: statusCodeOf(entry.outcome) },
    inputArguments: { dataType: DataType.Null },
  };

  let eventTypeId: NodeId;
  switch (mapping.kind) {
    case "registration":
      eventTypeId = gds(GDS_AUDIT_EVENT_TYPES.ApplicationRegistrationChangedAuditEventType);
      break;
    case "requested":
    case "delivered":
      eventTypeId = gds(
        mapping.kind === "requested"
          ? GDS_AUDIT_EVENT_TYPES.CertificateRequestedAuditEventType
          : GDS_AUDIT_EVENT_TYPES.CertificateDeliveredAuditEventType,
      );
      // Mandatory; a null NodeId when the entry does not name a known group or type.
      data.certificateGroup = { dataType: DataType.NodeId, value: groupNodeId(entry.group, gds) };
      data.certificateType = { dataType: DataType.NodeId, value: certificateTypeNodeId(entry.certificateType) };
      break;
    case "revoked":
      // Present in the GDS nodeset 1.05 as ns=GDS;i=27, with no fields beyond AuditUpdateMethodEventType.
      eventTypeId = gds(GDS_AUDIT_EVENT_TYPES.CertificateRevokedAuditEventType);
      break;
    case "trustList": {
      // OPC 10000-12 §7.8.2.13 (ns0): TrustListId is the TrustList object of the group that changed.
      eventTypeId = new NodeId(NodeId.NodeIdType.NUMERIC, ObjectTypeIds.TrustListUpdatedAuditEventType, 0);
      const nodes = entry.group ? GROUP_NODES[entry.group as CertificateGroupName] : undefined;
      data.trustListId = { dataType: DataType.NodeId, value: nodes ? gds(nodes.trustList) : NodeId.nullNodeId };
      break;
    }
    case "method":
      eventTypeId = new NodeId(NodeId.NodeIdType.NUMERIC, ObjectTypeIds.AuditUpdateMethodEventType, 0);
      break;
  }
  return { eventTypeId, data };
}

function groupNodeId(group: string | undefined, gds: (id: number) => NodeId): NodeId {
  const nodes = group ? GROUP_NODES[group as CertificateGroupName] : undefined;
  return nodes ? gds(nodes.group) : NodeId.nullNodeId;
}

function certificateTypeNodeId(type: string | undefined): NodeId {
  const spec = type ? CERTIFICATE_TYPES[type as CertificateTypeName] : undefined;
  return spec ? new NodeId(NodeId.NodeIdType.NUMERIC, spec.nodeId, 0) : NodeId.nullNodeId;
}

function statusCodeOf(outcome: string): StatusCode {
  const known = (StatusCodes as unknown as Record<string, StatusCode | undefined>)[outcome];
  if (known && typeof known.value === "number") return known;
  return StatusCodes.Bad;
}

/** One line for an operator's event view: what, to whom, by whom, and how it ended. No secrets: only audit entry fields. */
function messageOf(entry: AuditEntry): string {
  const parts: string[] = [entry.event];
  if (entry.applicationId) parts.push(`application ${entry.applicationId}`);
  if (entry.applicationUri) parts.push(`(${entry.applicationUri})`);
  if (entry.requestId) parts.push(`request ${entry.requestId}`);
  if (entry.group) parts.push(`group ${entry.group}`);
  if (entry.certificateType) parts.push(`type ${entry.certificateType}`);
  if (entry.serialHex) parts.push(`serial ${entry.serialHex}`);
  if (entry.userName) parts.push(`user ${entry.userName}`);
  if (entry.clientAddress) parts.push(`from ${entry.clientAddress}`);
  parts.push(`by ${entry.actor}`);
  let text = parts.join(" ");
  if (entry.outcome !== "Good") text += `: ${entry.outcome}`;
  if (entry.detail) text += ` - ${entry.detail}`;
  return text;
}

/** Server.ServerArray[0] is this server's ApplicationUri (OPC 10000-5 §6.3.1). */
function readServerUri(addressSpace: AddressSpace): string {
  const node = addressSpace.findNode(new NodeId(NodeId.NodeIdType.NUMERIC, VariableIds.Server_ServerArray, 0));
  if (node && "readValue" in node && typeof node.readValue === "function") {
    const value = (node.readValue() as { value?: { value?: unknown } }).value?.value;
    if (Array.isArray(value) && typeof value[0] === "string") return value[0];
  }
  return "";
}
