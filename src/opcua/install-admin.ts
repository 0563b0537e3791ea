import { NodeId, type AddressSpace, type Variant } from "node-opcua";
import { ADMIN_METHODS, ADMIN_NAMESPACE_URI, REQUEST_STATES } from "../admin/admin-model.js";
import { adminArgumentVariant } from "../admin/admin-variant.js";
import type { DirectoryService } from "../directory/directory-service.js";
import type { Logger } from "../log.js";
import { GdsError } from "../errors.js";
import type { CertificateManagerService } from "../requests/certificate-manager-service.js";
import type { RequestRecord, RequestState } from "../requests/certificate-manager.types.js";
import type { UserService } from "../users/user-service.js";
import type { AccessPolicy } from "./access-policy.js";
import type { ApplicationCodec } from "./application-codec.js";
import { expectArgumentCount, stringArg, stringArrayArg } from "./arguments.js";
import { makeMethodHandler, type CallContext } from "./method-handler.js";

export interface AdminInstallOptions {
  addressSpace: AddressSpace;
  directory: DirectoryService;
  users: UserService;
  certificates: CertificateManagerService;
  codec: ApplicationCodec;
  access: AccessPolicy;
  log: Logger;
  /**
   * Bodies of the methods other features add to the admin object (push, operations), by method
   * name; each feature builds its own in its own install-…-admin.ts.
   */
  extraBodies?: Record<string, AdminBody>;
}

export type AdminBody = (args: Variant[], call: CallContext) => Promise<unknown[]>;

/** What a feature's admin methods get to work with (built inside the endpoint). */
export interface AdminExtensionContext {
  addressSpace: AddressSpace;
  certificates: CertificateManagerService;
  codec: ApplicationCodec;
  access: AccessPolicy;
  log: Logger;
  /** The GDS's own application certificate (DER, the leaf): what devices must trust. */
  serverCertificate: Buffer;
}

/** A feature's admin methods: returns their bodies by method name (rows in its …-admin-model.ts). */
export type AdminExtension = (ctx: AdminExtensionContext) => Record<string, AdminBody>;

/** Any administrative role may look; changes need the role that owns the thing changed. */
export const READ_ROLES = ["DiscoveryAdmin", "CertificateAuthorityAdmin", "RegistrationAuthorityAdmin", "SecurityAdmin"];
/** OPC 10000-12 §7.2: a RegistrationAuthorityAdmin approves (and rejects) certificate requests. */
const APPROVER_ROLES = ["RegistrationAuthorityAdmin"];

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The request id the service knows, from what an admin types or copies: the GUID (as ListRequests,
 * the audit log and the log lines show it), or the RequestId NodeId string a device got from
 * StartSigningRequest (ns=…;g=… or nsu=…;g=…).
 * The namespace is not checked: the GUID alone identifies the request. Anything else goes to the
 * service as typed, which answers BadNotFound.
 */
export function parseRequestIdString(text: string): string {
  const s = text.trim();
  if (GUID.test(s)) return s.toLowerCase();
  const m = /^(?:ns=\d+|nsu=[^;]+);g=(.+)$/.exec(s);
  if (m && GUID.test(m[1])) return m[1].toLowerCase();
  if (s === "") throw new GdsError("BadInvalidArgument", "RequestId: must not be empty");
  return s;
}

/** A certificate given as PEM (the first CERTIFICATE block) or as base64 DER → DER. */
export function certificateFromText(text: string): Buffer {
  const pem = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  const b64 = (pem ? pem[1] : text).replace(/\s+/g, "");
  if (b64 === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new GdsError("BadCertificateInvalid", "Certificate: expected a PEM certificate (-----BEGIN CERTIFICATE-----) or its DER as base64");
  }
  return Buffer.from(b64, "base64");
}

const APPLICATION_TYPE_NAMES = ["server", "client", "clientandserver", "discoveryserver"];

/**
 * The ApplicationJson of AddApplication → the plain object RegisterApplication's record decodes
 * to, for DirectoryService.register to validate. Only the JSON shape is checked here; the field
 * rules are the service's. Conveniences for hand-typed JSON (UaExpert): applicationType may be the
 * type's name, an application name may be a plain string.
 */
export function applicationInputFromJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GdsError("BadInvalidArgument", `ApplicationJson: not valid JSON (${(err as Error).message.slice(0, 100)})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new GdsError("BadInvalidArgument", "ApplicationJson: expected a JSON object with applicationUri, applicationType, applicationNames, productUri, discoveryUrls, serverCapabilities");
  }
  const obj = value as Record<string, unknown>;
  let applicationType = obj.applicationType;
  if (typeof applicationType === "string") {
    const i = APPLICATION_TYPE_NAMES.indexOf(applicationType.trim().toLowerCase());
    applicationType = i >= 0 ? i : applicationType;
  }
  const names = Array.isArray(obj.applicationNames) ? obj.applicationNames.map((n) => (typeof n === "string" ? { locale: null, text: n } : n)) : obj.applicationNames;
  return {
    applicationUri: obj.applicationUri,
    applicationType,
    applicationNames: names,
    productUri: obj.productUri,
    discoveryUrls: obj.discoveryUrls,
    serverCapabilities: obj.serverCapabilities,
  };
}

/** A state filter of ListRequests: "" = every state. */
export function parseRequestState(text: string): RequestState | undefined {
  const s = text.trim().toLowerCase();
  if (s === "") return undefined;
  const state = REQUEST_STATES.find((x) => x === s);
  if (!state) throw new GdsError("BadInvalidArgument", `State: expected one of ${REQUEST_STATES.join(", ")} or empty, got ${JSON.stringify(text.slice(0, 50))}`);
  return state;
}

/**
 * Binds the methods of our admin object (nodesets/opcua-gds-admin.NodeSet2.xml) by the shared
 * table in src/admin/admin-model.ts. All of them need SignAndEncrypt: passwords travel here.
 */
export function installAdmin(opts: AdminInstallOptions): void {
  const { directory, users, certificates, codec, access, addressSpace, log } = opts;
  const ns = addressSpace.getNamespaceIndex(ADMIN_NAMESPACE_URI);
  if (ns < 0) throw new Error(`admin nodeset (${ADMIN_NAMESPACE_URI}) is not loaded`);

  /** An id as every admin output, audit record and log line shows it: the lower-case GUID (codec.idString). */
  const idString = (guid: string): string => {
    try {
      return codec.idString(guid);
    } catch {
      return guid; // not a GUID: shown as stored
    }
  };
  /** A request as admins see it: RequestId and ApplicationId as the GUIDs the audit log and the log lines carry. */
  const requestJson = <R extends RequestRecord>(r: R): R => ({ ...r, requestId: idString(r.requestId), applicationId: idString(r.applicationId) });

  const bodies: Record<string, AdminBody> = {
    ListApplications: async (_args, call) => {
      access.requireAnyRole(call, READ_ROLES);
      return [JSON.stringify(directory.list().map((r) => codec.toJson(r)))];
    },
    GetApplication: async (args, call) => {
      access.requireAnyRole(call, READ_ROLES);
      const id = codec.parseIdString(stringArg(args, 0, "ApplicationId"));
      return [JSON.stringify(codec.toJson(directory.get(id)))];
    },
    RemoveApplication: async (args, call) => {
      access.requireAnyRole(call, ["DiscoveryAdmin"]);
      const id = codec.parseIdString(stringArg(args, 0, "ApplicationId"));
      const record = await directory.unregister(id, call.userName);
      log.info({ applicationId: id, applicationUri: record.applicationUri, user: call.userName }, "application unregistered");
      return [];
    },
    AddApplication: async (args, call) => {
      access.requireAnyRole(call, ["DiscoveryAdmin"]);
      const input = applicationInputFromJson(stringArg(args, 0, "ApplicationJson", 256 * 1024));
      // as RegisterApplication: the service validates (BadInvalidArgument), refuses a registered
      // ApplicationUri (BadEntryExists) and audits ApplicationRegistered with the actor
      const record = await directory.register(input, access.actorOf(call));
      log.info({ applicationId: record.applicationId, applicationUri: record.applicationUri, user: call.userName }, "application registered");
      return [codec.idString(record.applicationId)];
    },
    AddUser: async (args, call) => {
      access.requireAnyRole(call, ["SecurityAdmin"]);
      const name = stringArg(args, 0, "UserName", 64);
      const roles = stringArrayArg(args, 1, "Roles", 32, 64);
      const info = await users.add(name, roles, stringArg(args, 2, "Password", 1024), access.actorOf(call));
      log.info({ userName: info.name, roles: info.roles, user: call.userName }, "user added");
      return [];
    },
    ListUsers: async (_args, call) => {
      access.requireAnyRole(call, ["SecurityAdmin"]);
      return [JSON.stringify(users.list())];
    },
    RemoveUser: async (args, call) => {
      access.requireAnyRole(call, ["SecurityAdmin"]);
      const name = stringArg(args, 0, "UserName", 64);
      await users.remove(name, access.actorOf(call));
      log.info({ userName: name, user: call.userName }, "user removed");
      return [];
    },
    BindUserCertificate: async (args, call) => {
      access.requireAnyRole(call, ["SecurityAdmin"]);
      const name = stringArg(args, 0, "UserName", 64);
      const der = certificateFromText(stringArg(args, 1, "Certificate", 64 * 1024));
      const bound = await users.bindCertificate(name, der, access.actorOf(call));
      log.info({ userName: name, thumbprint: bound.thumbprint, subject: bound.subject, user: call.userName }, "user certificate bound");
      return [bound.thumbprint];
    },
    SetUserRoles: async (args, call) => {
      access.requireAnyRole(call, ["SecurityAdmin"]);
      const name = stringArg(args, 0, "UserName", 64);
      const info = await users.setRoles(name, stringArrayArg(args, 1, "Roles", 32, 64), access.actorOf(call));
      log.info({ userName: info.name, roles: info.roles, user: call.userName }, "user roles changed");
      return [];
    },
    SetUserPassword: async (args, call) => {
      const name = stringArg(args, 0, "UserName", 64);
      // Users change their own password; anybody else's needs SecurityAdmin.
      const self = access.isAuthenticated(call) && call.userName === name;
      if (!self) access.requireAnyRole(call, ["SecurityAdmin"]);
      await users.setPassword(name, stringArg(args, 1, "Password", 1024), access.actorOf(call));
      log.info({ userName: name, user: call.userName }, "user password changed");
      return [];
    },
    GetRequest: async (args, call) => {
      access.requireAnyRole(call, READ_ROLES);
      const requestId = parseRequestIdString(stringArg(args, 0, "RequestId", 256));
      return [JSON.stringify(requestJson(certificates.getRequestDetails(requestId)))];
    },
    ListRequests: async (args, call) => {
      access.requireAnyRole(call, READ_ROLES);
      const state = parseRequestState(stringArg(args, 0, "State", 64));
      return [JSON.stringify(certificates.listRequestDetails(state ? { state } : undefined).map(requestJson))];
    },
    ApproveRequest: async (args, call) => {
      access.requireAnyRole(call, APPROVER_ROLES);
      const requestId = parseRequestIdString(stringArg(args, 0, "RequestId", 256));
      // the service logs and audits the decision (requestId, applicationId, user)
      const record = await certificates.approve(requestId, call.userName);
      return [JSON.stringify(requestJson(record))];
    },
    RejectRequest: async (args, call) => {
      access.requireAnyRole(call, APPROVER_ROLES);
      const requestId = parseRequestIdString(stringArg(args, 0, "RequestId", 256));
      const reason = stringArg(args, 1, "Reason", 1024).trim();
      const record = await certificates.reject(requestId, call.userName, reason === "" ? undefined : reason);
      return [JSON.stringify(requestJson(record))];
    },
  };

  for (const [name, body] of Object.entries(opts.extraBodies ?? {})) {
    if (bodies[name]) throw new Error(`admin method ${name} is bound twice`);
    bodies[name] = body;
  }
  for (const m of ADMIN_METHODS) {
    const body = bodies[m.name];
    if (!body) throw new Error(`admin method ${m.name} has no implementation`);
    const method = addressSpace.findMethod(new NodeId(NodeId.NodeIdType.NUMERIC, m.id, ns));
    if (!method) throw new Error(`admin nodeset lacks method ${m.name}`);
    // node-opcua's loader drops a UAMethod's <Description>; UaExpert shows it, so set it here.
    method.setDescription(m.description);
    method.bindMethod(
      makeMethodHandler({
        method: m.name,
        security: "signAndEncrypt",
        log,
        body: async (args, call) => {
          expectArgumentCount(args, m.inputs.map((a) => a.name));
          const out = await body(args, call);
          return out.map((value, i) => adminArgumentVariant(m.outputs[i].type, value, m.outputs[i].name));
        },
      }),
    );
  }
}
