import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  DataType,
  MessageSecurityMode,
  NodeId,
  NodeIdType,
  Variant,
  VariantArrayType,
  NodeClass,
  type AddressSpace,
  type UAVariable,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  nodesets,
  type UserManagerOptions,
} from "node-opcua";
import { ADMIN_NODESET_FILE } from "../admin/admin-model.js";
import type { AuditLog } from "../audit/audit-log.types.js";
import { CERTIFICATE_GROUP_NAMES, GROUP_CERTIFICATE_TYPES, type CertificateGroupName } from "../ca/certificate-types.js";
import type { DirectoryService } from "../directory/directory-service.js";
import { GdsError } from "../errors.js";
import type { CertificateManagerService } from "../requests/certificate-manager-service.js";
import type { Logger } from "../log.js";
import { GDS_NAMESPACE_URI } from "../users/roles.js";
import type { UserService } from "../users/user-service.js";
import { AccessPolicy } from "./access-policy.js";
import { APPLICATIONS_NAMESPACE_URI, ApplicationCodec } from "./application-codec.js";
import { raiseAuditEvents } from "./audit-events.js";
import { CertificateNodes, GROUP_NODES } from "./certificate-nodes.js";
import { installAdmin, type AdminBody, type AdminExtension } from "./install-admin.js";
import { clientsAdminBodies } from "./install-clients-admin.js";
import { installCertificateManager } from "./install-certificate-manager.js";
import { installTrustListFile } from "./trust-list-file.js";
import { ChannelCertificateManager, trustedApplicationCertificates } from "./channel-certificate-manager.js";
import { SeenClientCertificates } from "./seen-client-certificates.js";
import { installDirectory } from "./install-directory.js";
import type { QueryBudget } from "../directory/query-budget.js";
import { observeMethodCalls, type MethodCallObserver } from "./method-handler.js";
import { installUserIdentity, passwordLogin } from "./user-identity.js";
import { routeNodeOpcuaLogs } from "./node-opcua-logging.js";
import { DEFAULT_CONNECTION_LIMITS, installConnectionLimits, type ConnectionLimitSettings } from "./connection-limits.js";
import { restrictSessionDiagnostics } from "./session-diagnostics-access.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * nodesets/ at the package root, seen from src/opcua (ts-jest) or dist/src/opcua (compiled).
 * Decided by which file exists, not by the path's spelling: a checkout may itself live below a
 * folder called "dist".
 */
export function adminNodesetPath(): string {
  const fromSrc = path.resolve(here, "../../nodesets", ADMIN_NODESET_FILE);
  const fromDist = path.resolve(here, "../../../nodesets", ADMIN_NODESET_FILE);
  return fs.existsSync(fromSrc) ? fromSrc : fromDist;
}

export interface GdsEndpointOptions {
  port: number;
  hostname: string;
  /** Address the opc.tcp listener binds to; undefined: all interfaces. */
  bindAddress?: string;
  /** Per-address and global caps on channels and sessions (defaults: DEFAULT_CONNECTION_LIMITS). */
  connectionLimits?: ConnectionLimitSettings;
  dataDir: string;
  acceptUnknownCertificates: boolean;
  /** Bound of the list of unknown client certificates seen (server-pki/seen); default 1000. */
  maxSeenClientCertificates?: number;
  directory: DirectoryService;
  /** Scan time sessions and addresses may use for directory queries (default: unlimited). */
  queryBudget?: QueryBudget;
  users: UserService;
  /** A promise is awaited only once the address space is loaded (start-up work overlaps). */
  certificates: CertificateManagerService | Promise<CertificateManagerService>;
  /** Admin methods of other features (push, operations); see install-admin.ts. */
  adminExtensions?: AdminExtension[];
  /** Told of every method call answered (metrics: calls and their duration by method and status). */
  onMethodCall?: MethodCallObserver;
  audit: AuditLog;
  log: Logger;
}

export interface GdsEndpoint {
  server: OPCUAServer;
  /** Client certificates met on a channel without being trusted (bounded, most recent first). */
  seenClientCertificates: SeenClientCertificates;
  endpointUrl: string;
  stop(): Promise<void>;
}

const RECORD_DATA_TYPE = 1; // ApplicationRecordDataType, ns=GDS

/**
 * The OPC UA endpoint: the standard and GDS nodesets plus our admin nodeset, the Directory and
 * admin methods bound, users and roles from the UserService. Certificates of the server itself
 * and of the PKI that judges client certificates live in the data dir.
 */
export async function startGdsEndpoint(opts: GdsEndpointOptions): Promise<GdsEndpoint> {
  const { log } = opts;
  routeNodeOpcuaLogs(log);
  // Unknown client certificates are accepted (or refused) per connection and listed in
  // server-pki/seen, never copied into the trust store (see channel-certificate-manager.ts).
  const seenClientCertificates = new SeenClientCertificates({ dir: path.join(opts.dataDir, "server-pki", "seen"), max: opts.maxSeenClientCertificates, log });
  await seenClientCertificates.load();
  const serverCertificateManager = new ChannelCertificateManager({
    rootFolder: path.join(opts.dataDir, "server-pki"),
    acceptUnknown: opts.acceptUnknownCertificates,
    seen: seenClientCertificates,
    log,
  });
  // X509 user tokens: only certificates this PKI accepts (placed in user-pki/trusted, or issued by
  // a CA there) get as far as the user check; the user is then the one the exact certificate is
  // bound to (gds users add-cert), never the one its CN names (see user-identity.ts).
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: path.join(opts.dataDir, "user-pki"),
    automaticallyAcceptUnknownCertificate: false,
    name: "user-pki",
  });

  let access: AccessPolicy | undefined;
  const userManager: UserManagerOptions = {
    // Throttled and audited per user and client address (UserService.authenticate).
    isValidUserAsync: passwordLogin(opts.users),
    getUserRoles: (userName: string): NodeId[] => (access ? access.roleNodeIds(opts.users.rolesOf(userName)) : []),
  };

  const limits = opts.connectionLimits ?? DEFAULT_CONNECTION_LIMITS;
  const server = new OPCUAServer({
    port: opts.port,
    host: opts.bindAddress,
    hostname: opts.hostname,
    // Also puts GDS_HOSTNAME into the SAN of the self-signed certificate made on the first start.
    alternateHostname: [opts.hostname],
    nodeset_filename: [nodesets.standard, nodesets.gds, adminNodesetPath()],
    nodesetLoaderOptions: { permissions: "ignore", trustSiblingImages: true },
    serverCertificateManager,
    userCertificateManager,
    userManager,
    allowAnonymous: true,
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss],
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    serverInfo: {
      // The machine's name, not GDS_HOSTNAME: the URI is in the certificate and must not change
      // when an operator renames the endpoint.
      applicationUri: `urn:${os.hostname()}:opcua-gds`,
      productUri: "urn:opcua-gds",
      applicationName: { text: "opcua-gds", locale: "en" },
      applicationType: 3, // DiscoveryServer
    },
    buildInfo: { productName: "opcua-gds", manufacturerName: "opcua-gds", softwareVersion: "0.1.0" },
    serverCapabilities: { maxSessions: limits.maxSessions },
    // Server.Auditing = true, and the audit events (ours and node-opcua's) reach the admins.
    isAuditing: true,
    // Channels without a session are closed oldest first when this is reached (node-opcua).
    maxConnectionsPerEndpoint: Math.max(200, limits.maxSessions),
  });

  installUserIdentity(server, { users: opts.users, rolesOf: (userName) => (access ? access.roleNodeIds(opts.users.rolesOf(userName)) : []), log });
  await server.initialize();
  const trustedApps = await trustedApplicationCertificates(serverCertificateManager.trustedFolder);
  if (trustedApps > 0) {
    log[opts.acceptUnknownCertificates ? "info" : "warn"](
      { trustedClientCertificates: trustedApps, folder: serverCertificateManager.trustedFolder },
      "client application certificates in the trusted folder are trusted whatever GDS_ACCEPT_UNKNOWN_CERTIFICATES says; earlier versions of opcua-gds put every unknown client certificate there: review them",
    );
  }
  // The CertificateManager may still be starting (a first start makes the CA keys in the thread
  // pool while the nodesets load here): it is needed only from this point on.
  let certificates: CertificateManagerService;
  try {
    certificates = await opts.certificates;
  } catch (err) {
    await server.shutdown(0).catch(() => undefined);
    await serverCertificateManager.dispose();
    await userCertificateManager.dispose();
    await seenClientCertificates.close();
    throw err;
  }
  const addressSpace = server.engine.addressSpace;
  if (!addressSpace) throw new Error("address space was not created");
  const gdsNamespace = addressSpace.getNamespaceIndex(GDS_NAMESPACE_URI);
  const applicationsNamespace = addressSpace.registerNamespace(APPLICATIONS_NAMESPACE_URI).index;
  access = new AccessPolicy((uri) => addressSpace.getNamespaceIndex(uri));
  const codec = new ApplicationCodec(addressSpace, new NodeId(NodeId.NodeIdType.NUMERIC, RECORD_DATA_TYPE, gdsNamespace), applicationsNamespace);

  access.setSelfAdminLookup((der) => certificates.selfAdminApplicationOf(der));
  const nodes = new CertificateNodes(gdsNamespace);
  installDirectory({ addressSpace, gdsNamespace, directory: opts.directory, queryBudget: opts.queryBudget, codec, access, log });
  installCertificateManager({ addressSpace, gdsNamespace, certificates, codec, nodes, access, log });
  const trustListFiles = CERTIFICATE_GROUP_NAMES.map((group) =>
    installTrustListFile({
      addressSpace,
      trustListNode: nodes.trustListNodeId(group),
      group,
      source: certificates,
      // The lists hold CA certificates and CRLs: the CA's admins, SecurityAdmins and every
      // application holding a certificate from this GDS (ApplicationSelfAdmin) may read them.
      canRead: (call) => {
        if (access.hasRole(call.context, "CertificateAuthorityAdmin") || access.hasRole(call.context, "SecurityAdmin")) return;
        if (access.selfAdminApplication(call) !== undefined) return;
        throw new GdsError("BadUserAccessDenied", `reading the ${group} trust list requires CertificateAuthorityAdmin or SecurityAdmin, or a channel secured with a certificate this GDS issued`);
      },
      canWrite: (call) => access.requireAnyRole(call, ["CertificateAuthorityAdmin"]),
      actorOf: (call) => access.actorOf(call),
      // Part of the handles is kept for the roles that administer trust lists.
      isAdmin: (call) => access.hasRole(call.context, "CertificateAuthorityAdmin") || access.hasRole(call.context, "SecurityAdmin"),
      principalOf: (call) => access.actorOf(call),
      onSessionClosed: (listener) => {
        const handler = (session: { nodeId: NodeId }) => listener(session.nodeId);
        server.on("session_closed", handler);
        return () => server.off("session_closed", handler);
      },
      log,
    }),
  );
  setCertificateTypes(addressSpace, gdsNamespace, nodes);
  // The server's own PKI trusts the GDS CAs and holds their current CRLs, so applications can
  // open channels with the certificates this GDS issued (with or without sending the chain), also
  // when unknown certificates are refused, and a revoked certificate is refused at the channel.
  const syncServerPki = serialised((groups: readonly CertificateGroupName[]) => trustGdsCas(serverCertificateManager, certificates, groups));
  await syncServerPki(CERTIFICATE_GROUP_NAMES);
  // Only the group whose list changed (a revocation touches one CRL).
  const stopPkiSync = certificates.onTrustListChanged((group) => {
    syncServerPki([group]).catch((err) => log.error({ err }, "updating the server PKI with the GDS CRLs failed"));
  });
  const stopAuditEvents = raiseAuditEvents({ addressSpace, audit: opts.audit, gdsNamespace, log });
  const stopObservingCalls = opts.onMethodCall ? observeMethodCalls(addressSpace, opts.onMethodCall) : () => undefined;
  const extensionContext = { addressSpace, certificates, codec, access, log, serverCertificate: Buffer.from(server.getCertificate()) };
  const extraBodies: Record<string, AdminBody> = {};
  for (const extend of opts.adminExtensions ?? []) {
    for (const [name, body] of Object.entries(extend(extensionContext))) {
      if (extraBodies[name]) throw new Error(`admin method ${name} is bound by two features`);
      extraBodies[name] = body;
    }
  }
  Object.assign(extraBodies, clientsAdminBodies({ pki: serverCertificateManager, seen: seenClientCertificates, access, audit: opts.audit, log }));
  installAdmin({ addressSpace, directory: opts.directory, users: opts.users, certificates, codec, access, log, extraBodies });

  server.on("newChannel", (channel) => log.debug({ remote: channel.remoteAddress }, "secure channel opened"));
  const stopLimits = installConnectionLimits(server, limits, log);
  const stopDiagnosticsAccess = restrictSessionDiagnostics(server, access);
  await server.start();
  const endpointUrl = server.getEndpointUrl();
  return {
    server,
    seenClientCertificates,
    endpointUrl,
    async stop() {
      stopAuditEvents();
      stopObservingCalls();
      stopLimits();
      stopDiagnosticsAccess();
      stopPkiSync();
      for (const f of trustListFiles) f.dispose();
      await server.shutdown(0);
      await serverCertificateManager.dispose();
      await userCertificateManager.dispose();
      await seenClientCertificates.close();
    },
  };
}

/** The nodeset leaves each group's CertificateTypes property empty: fill in what we issue. */
function setCertificateTypes(addressSpace: AddressSpace, gdsNamespace: number, nodes: CertificateNodes): void {
  for (const group of CERTIFICATE_GROUP_NAMES) {
    const variable = addressSpace.findNode(new NodeId(NodeIdType.NUMERIC, GROUP_NODES[group].certificateTypes, gdsNamespace)) as UAVariable | null;
    if (!variable || variable.nodeClass !== NodeClass.Variable) continue;
    const value = GROUP_CERTIFICATE_TYPES[group].map((t) => nodes.typeNodeId(t));
    variable.setValueFromSource(new Variant({ dataType: DataType.NodeId, arrayType: VariantArrayType.Array, value }));
  }
}

/** The GDS CAs as trusted issuers of the server's channel PKI, with their current CRLs. */
async function trustGdsCas(pki: OPCUACertificateManager, certificates: CertificateManagerService, groups: readonly CertificateGroupName[]): Promise<void> {
  for (const group of groups) {
    const list = certificates.trustList(group);
    const ca = list.issuerCertificates[0];
    await pki.addIssuer(ca, false, true);
    await pki.removeRevocationListsForIssuer(ca, "all");
    await pki.addRevocationList(list.issuerCrls[0], "issuers");
    await pki.addRevocationList(list.trustedCrls[0], "trusted");
  }
}

/** Runs `fn` one call at a time; a call made while one runs waits for it, then runs again. */
function serialised<A>(fn: (arg: A) => Promise<void>): (arg: A) => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  return (arg) => {
    const run = tail.then(() => fn(arg)); // tail never rejects (see below)
    tail = run.catch(() => undefined);
    return run;
  };
}
