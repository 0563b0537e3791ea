/**
 * The contract of our admin object: one table that the nodeset generator
 * (scripts/generate-admin-nodeset.ts → nodesets/opcua-gds-admin.NodeSet2.xml), the server-side
 * binding (src/opcua/install-admin.ts) and the CLI (src/cli/…) all read, so the three cannot drift.
 *
 * Results that are lists or records are returned as JSON strings: every OPC UA client (UaExpert
 * included) can show a String, and the CLI prints them as-is with --json.
 */
import type { RequestState } from "../requests/certificate-manager.types.js";
import { ADMIN_VARIABLES, OPS_ADMIN_METHODS } from "./ops-admin-model.js";
import { OPERATOR_ADMIN_METHODS } from "./operator-admin-model.js";
import { PUSH_ADMIN_METHODS } from "./push-admin-model.js";

export const ADMIN_NAMESPACE_URI = "urn:opcua-gds:admin";
export const ADMIN_NODESET_FILE = "opcua-gds-admin.NodeSet2.xml";
/** NodeId (numeric, in ADMIN_NAMESPACE_URI) of the admin object, organized by Objects. */
export const ADMIN_OBJECT_ID = 1000;
export const ADMIN_OBJECT_BROWSE_NAME = "GdsAdmin";

export type AdminArgType = "String" | "String[]" | "Boolean" | "UInt32";

export interface AdminArgument {
  name: string;
  type: AdminArgType;
  description: string;
}

export interface AdminMethod {
  /** BrowseName (in the admin namespace) and DisplayName. */
  name: string;
  /** Numeric NodeId of the method; its InputArguments/OutputArguments get id+1 / id+2. */
  id: number;
  description: string;
  inputs: AdminArgument[];
  outputs: AdminArgument[];
}

/** Applications, users and certificate requests (issues 2 and 3). */
const CORE_ADMIN_METHODS: AdminMethod[] = [
  {
    name: "ListApplications",
    id: 1010,
    description: "Every registered application as a JSON array (applicationId, applicationUri, names, type, URLs, capabilities).",
    inputs: [],
    outputs: [{ name: "ApplicationsJson", type: "String", description: "JSON array of application records" }],
  },
  {
    name: "GetApplication",
    id: 1020,
    description: "One registered application as JSON.",
    inputs: [{ name: "ApplicationId", type: "String", description: "ApplicationId: the GUID as ListApplications shows it, or a NodeId string (ns=…;g=… or nsu=…;g=…)" }],
    outputs: [{ name: "ApplicationJson", type: "String", description: "JSON application record" }],
  },
  {
    name: "RemoveApplication",
    id: 1030,
    description: "Unregisters an application (as UnregisterApplication does).",
    inputs: [{ name: "ApplicationId", type: "String", description: "ApplicationId: the GUID, or a NodeId string (ns=…;g=…)" }],
    outputs: [],
  },
  {
    name: "AddApplication",
    id: 1035,
    description:
      "Registers an application on its behalf (as RegisterApplication does: same checks, BadEntryExists for a registered ApplicationUri), e.g. a device the GDS pushes to that never registers itself.",
    inputs: [
      {
        name: "ApplicationJson",
        type: "String",
        description:
          "JSON object with the fields GetApplication returns: applicationUri, applicationType (0 Server, 1 Client, 2 ClientAndServer, 3 DiscoveryServer), applicationNames ([{locale, text}]), productUri, discoveryUrls, serverCapabilities; other fields are ignored",
      },
    ],
    outputs: [{ name: "ApplicationId", type: "String", description: "the new ApplicationId (the GUID, as ListApplications, the audit log and the log lines show it)" }],
  },
  {
    name: "AddUser",
    id: 1040,
    description: "Creates a user with a scrypt-hashed password and the given roles.",
    inputs: [
      { name: "UserName", type: "String", description: "user name (1–64 chars: letters, digits, . _ @ -)" },
      { name: "Roles", type: "String[]", description: "well-known role names, e.g. DiscoveryAdmin, CertificateAuthorityAdmin, SecurityAdmin, Observer" },
      { name: "Password", type: "String", description: "password (at least 8 characters); send only over SignAndEncrypt" },
    ],
    outputs: [],
  },
  {
    name: "ListUsers",
    id: 1050,
    description: "Every user with its roles as a JSON array (no password hashes).",
    inputs: [],
    outputs: [{ name: "UsersJson", type: "String", description: "JSON array of {name, roles, createdAt, certificates: [{thumbprint, subject}]}" }],
  },
  {
    name: "RemoveUser",
    id: 1060,
    description: "Deletes a user. The last user holding SecurityAdmin cannot be removed.",
    inputs: [{ name: "UserName", type: "String", description: "user name" }],
    outputs: [],
  },
  {
    name: "BindUserCertificate",
    id: 1063,
    description:
      "Binds a certificate to a user for X509 user tokens: a session presenting exactly this certificate (which the user PKI must also trust) acts as this user. Its CN is not looked at. Requires SecurityAdmin.",
    inputs: [
      { name: "UserName", type: "String", description: "user name" },
      { name: "Certificate", type: "String", description: "the user's X.509 certificate as PEM, or its DER as base64" },
    ],
    outputs: [{ name: "Thumbprint", type: "String", description: "SHA-1 thumbprint (hex) of the certificate bound" }],
  },
  {
    name: "SetUserRoles",
    id: 1066,
    description: "Replaces the roles of a user. The last user holding SecurityAdmin keeps it. Requires SecurityAdmin.",
    inputs: [
      { name: "UserName", type: "String", description: "user name" },
      { name: "Roles", type: "String[]", description: "well-known role names, e.g. DiscoveryAdmin, CertificateAuthorityAdmin, SecurityAdmin, Observer" },
    ],
    outputs: [],
  },
  {
    name: "ListRequests",
    id: 1070,
    description: "Certificate requests (StartSigningRequest, StartNewKeyPairRequest) as a JSON array, newest first.",
    inputs: [{ name: "State", type: "String", description: "only requests in this state (pending, approved, rejected, delivered, failed); empty for all" }],
    outputs: [{ name: "RequestsJson", type: "String", description: "JSON array of request records (requestId and applicationId as GUIDs, applicationUri, applicationName, kind, group, type, state, createdAt, requestedBy, decidedAt, decidedBy, reason, serialHex; subject, dnsNames and ipAddresses the certificate will get, as the issuance policy decides them)" }],
  },
  {
    name: "ApproveRequest",
    id: 1080,
    description: "Approves a pending certificate request; the next FinishRequest of the application receives the certificate. Requires RegistrationAuthorityAdmin.",
    inputs: [{ name: "RequestId", type: "String", description: "RequestId: the GUID as ListRequests shows it, or a NodeId string (ns=…;g=… or nsu=…;g=…)" }],
    outputs: [{ name: "RequestJson", type: "String", description: "JSON request record after the approval" }],
  },
  {
    name: "RejectRequest",
    id: 1090,
    description: "Rejects a pending or approved certificate request; FinishRequest then answers BadRequestNotAllowed. Requires RegistrationAuthorityAdmin.",
    inputs: [
      { name: "RequestId", type: "String", description: "RequestId: the GUID as ListRequests shows it, or a NodeId string (ns=…;g=… or nsu=…;g=…)" },
      { name: "Reason", type: "String", description: "why it was rejected (kept with the request); may be empty" },
    ],
    outputs: [{ name: "RequestJson", type: "String", description: "JSON request record after the rejection" }],
  },
];

/**
 * Every method of the admin object. Each feature keeps its rows in its own file (ids: core
 * 1010–1099, push 1100–1199, operations 1200–1299; variables 1300–1399; operator 1400–1499), so features can grow
 * without editing each other's tables.
 */
export const ADMIN_METHODS: AdminMethod[] = [...CORE_ADMIN_METHODS, ...PUSH_ADMIN_METHODS, ...OPS_ADMIN_METHODS, ...OPERATOR_ADMIN_METHODS];

export type AdminVariableType = "UInt32" | "DateTime";

/** A read-only variable of the admin object (a figure such as ApplicationCount), ids 1300–1399. */
export interface AdminVariable {
  /** BrowseName (in the admin namespace) and DisplayName. */
  name: string;
  /** Numeric NodeId in ADMIN_NAMESPACE_URI. */
  id: number;
  dataType: AdminVariableType;
  description: string;
}

export { ADMIN_VARIABLES };

/** The states ListRequests and `gds requests list --state` accept (every RequestState). */
export const REQUEST_STATES = ["pending", "approved", "rejected", "delivered", "failed"] as const satisfies readonly RequestState[];

// Fails to compile when RequestState gains a state REQUEST_STATES lacks.
const everyRequestState: Record<Exclude<RequestState, (typeof REQUEST_STATES)[number]>, never> = {};
void everyRequestState;
