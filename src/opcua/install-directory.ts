import { DataType, NodeClass, NodeId, Variant, type AddressSpace, type UAMethod } from "node-opcua";
import type { DirectoryService } from "../directory/directory-service.js";
import { QueryBudget, QueryRefusedError, type QueryCaller } from "../directory/query-budget.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AccessPolicy } from "./access-policy.js";
import type { ApplicationCodec } from "./application-codec.js";
import { expectArgumentCount, nodeIdArg, stringArg, stringArrayArg, uint32Arg } from "./arguments.js";
import { makeMethodHandler, type CallContext, type MethodBody, type SecurityRequirement } from "./method-handler.js";

/** NodeIds (ns=GDS) of the Directory object and its methods, as the GDS nodeset declares them. */
export const DIRECTORY_NODE = 141;
export const DIRECTORY_METHODS = {
  FindApplications: 143,
  RegisterApplication: 146,
  UpdateApplication: 200,
  UnregisterApplication: 149,
  GetApplication: 216,
  QueryApplications: 992,
  QueryServers: 151,
} as const;

/**
 * What encoding, signing and encrypting one returned record costs the server (ms), charged to the
 * caller's query budget after the scan: a page of 1,000 records with long names takes ~10 ms.
 */
const ANSWER_COST_MS_PER_RECORD = 0.01;

/** How long a query refused by the budget or the in-flight limit waits before its answer (ms). */
const REFUSAL_DELAY_MS = 500;

export interface DirectoryInstallOptions {
  addressSpace: AddressSpace;
  gdsNamespace: number;
  directory: DirectoryService;
  codec: ApplicationCodec;
  access: AccessPolicy;
  log: Logger;
  /** Scan time each session / remote address may use for QueryApplications and QueryServers (default: none). */
  queryBudget?: QueryBudget;
}

/**
 * The session and remote address a query is charged to. Authenticated sessions are charged per
 * session only (a SCADA host may run dozens of them; the user is accountable); anonymous sessions
 * also share their address's limits.
 */
export function queryCaller(call: CallContext, authenticated: boolean): QueryCaller {
  const session = call.context.session;
  let id: string | undefined;
  try {
    id = session?.getSessionId().toString();
  } catch {
    id = undefined;
  }
  const remote = (session?.channel as { remoteAddress?: string } | undefined)?.remoteAddress;
  return {
    session: id ? `session:${id}` : undefined,
    address: !authenticated && typeof remote === "string" && remote !== "" ? remote.replace(/^::ffff:/i, "") : undefined,
  };
}

/** Binds the Directory methods of OPC 10000-12 §6 on ns=GDS;i=141. */
export function installDirectory(opts: DirectoryInstallOptions): void {
  const { directory, codec, access } = opts;
  const budget = opts.queryBudget ?? new QueryBudget({ msPerSecond: 0 });

  /**
   * Admits the caller (BadTooManyOperations with too many queries running or the budget used up),
   * then charges each slice of the scan to it; `answered(n)` charges the estimated cost of
   * encoding and encrypting n records; `end()` when the query is over.
   */
  const charged = async (call: CallContext) => {
    const caller = queryCaller(call, access.isAuthenticated(call));
    let end: () => void;
    try {
      end = budget.begin(caller);
    } catch (err) {
      // Answer a refusal after a pause: a client that retries at once cannot spin the server
      // (each call still costs decrypting and encoding) faster than one call per pause and lane.
      if (err instanceof QueryRefusedError) await new Promise((resolve) => setTimeout(resolve, REFUSAL_DELAY_MS));
      throw err;
    }
    return {
      onTurn: (ms: number) => budget.charge(caller, ms),
      answered: (records: number) => budget.debit(caller, records * ANSWER_COST_MS_PER_RECORD),
      end,
    };
  };

  const bind = (name: keyof typeof DIRECTORY_METHODS, security: SecurityRequirement, body: MethodBody) =>
    bindGdsMethod(opts, DIRECTORY_METHODS[name], name, security, body);

  bind("RegisterApplication", "sign", async (args, call) => {
    expectArgumentCount(args, ["Application"]);
    access.requireAnyRole(call, ["DiscoveryAdmin"]);
    const { input } = codec.decodeRecordArgument(args[0]);
    const record = await directory.register(input, access.actorOf(call));
    opts.log.info({ applicationId: record.applicationId, applicationUri: record.applicationUri, user: call.userName }, "application registered");
    return [new Variant({ dataType: DataType.NodeId, value: codec.toNodeId(record.applicationId) })];
  });

  bind("UpdateApplication", "sign", async (args, call) => {
    expectArgumentCount(args, ["Application"]);
    const { applicationId, input } = codec.decodeRecordArgument(args[0]);
    const id = codec.fromNodeId(applicationId, "Application.ApplicationId");
    access.requireRoleOrSelf(call, ["DiscoveryAdmin"], id);
    const record = await directory.update(id, input, access.actorOf(call));
    opts.log.info({ applicationId: record.applicationId, user: call.userName }, "application updated");
  });

  bind("UnregisterApplication", "sign", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId"]);
    const id = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireRoleOrSelf(call, ["DiscoveryAdmin"], id);
    const record = await directory.unregister(id, access.actorOf(call));
    opts.log.info({ applicationId: id, applicationUri: record.applicationUri, user: call.userName }, "application unregistered");
  });

  bind("GetApplication", "sign", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId"]);
    const id = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    // An authenticated user, or the application itself (ApplicationSelfAdmin) asking for its own record.
    if (access.selfAdminApplication(call) !== id) access.requireAuthenticated(call);
    const record = directory.get(id);
    return [codec.recordVariant(record)];
  });

  bind("FindApplications", "sign", async (args) => {
    expectArgumentCount(args, ["ApplicationUri"]);
    const uri = stringArg(args, 0, "ApplicationUri");
    return [codec.recordArrayVariant(directory.findByUri(uri))];
  });

  bind("QueryApplications", "sign", async (args, call) => {
    expectArgumentCount(args, ["StartingRecordId", "MaxRecordsToReturn", "ApplicationName", "ApplicationUri", "ApplicationType", "ProductUri", "Capabilities"]);
    const request = {
      startingRecordId: uint32Arg(args, 0, "StartingRecordId"),
      maxRecordsToReturn: uint32Arg(args, 1, "MaxRecordsToReturn"),
      applicationName: stringArg(args, 2, "ApplicationName"),
      applicationUri: stringArg(args, 3, "ApplicationUri"),
      applicationType: uint32Arg(args, 4, "ApplicationType"),
      productUri: stringArg(args, 5, "ProductUri"),
      serverCapabilities: stringArrayArg(args, 6, "Capabilities"),
    };
    const work = await charged(call);
    let result;
    try {
      result = await directory.queryApplicationsAsync(request, work.onTurn);
    } finally {
      work.end();
    }
    work.answered(result.applications.length);
    return [
      new Variant({ dataType: DataType.DateTime, value: result.lastCounterResetTime }),
      new Variant({ dataType: DataType.UInt32, value: result.nextRecordId }),
      codec.descriptionArrayVariant(result.applications),
    ];
  });

  bind("QueryServers", "sign", async (args, call) => {
    expectArgumentCount(args, ["StartingRecordId", "MaxRecordsToReturn", "ApplicationName", "ApplicationUri", "ProductUri", "ServerCapabilities"]);
    const request = {
      startingRecordId: uint32Arg(args, 0, "StartingRecordId"),
      maxRecordsToReturn: uint32Arg(args, 1, "MaxRecordsToReturn"),
      applicationName: stringArg(args, 2, "ApplicationName"),
      applicationUri: stringArg(args, 3, "ApplicationUri"),
      productUri: stringArg(args, 4, "ProductUri"),
      serverCapabilities: stringArrayArg(args, 5, "ServerCapabilities"),
    };
    const work = await charged(call);
    let result;
    try {
      result = await directory.queryServersAsync(request, work.onTurn);
    } finally {
      work.end();
    }
    work.answered(result.servers.length);
    return [new Variant({ dataType: DataType.DateTime, value: result.lastCounterResetTime }), codec.serversVariant(result.servers)];
  });

  // Methods the Directory declares that nobody binds (none today once the CertificateManager is
  // installed; this runs first) answer BadNotImplemented rather than an unbound method's
  // BadInternalError. installCertificateManager rebinds its methods afterwards.
  const directoryNode = opts.addressSpace.findNode(new NodeId(NodeId.NodeIdType.NUMERIC, DIRECTORY_NODE, opts.gdsNamespace));
  const bound = new Set<number>(Object.values(DIRECTORY_METHODS));
  for (const ref of directoryNode?.findReferencesAsObject("HasComponent", true) ?? []) {
    const method = ref as UAMethod;
    if (method.nodeClass !== NodeClass.Method || bound.has(Number(method.nodeId.value))) continue;
    if (method.nodeId.namespace !== opts.gdsNamespace) continue;
    method.bindMethod(
      makeMethodHandler({
        method: method.browseName.name ?? "?",
        security: "sign",
        log: opts.log,
        body: async () => {
          throw new GdsError("BadNotImplemented", `${method.browseName.name} is not available in this version of opcua-gds`);
        },
      }),
    );
  }
}

export function bindGdsMethod(
  opts: { addressSpace: AddressSpace; gdsNamespace: number; log: Logger },
  id: number,
  name: string,
  security: SecurityRequirement,
  body: MethodBody,
): void {
  const nodeId = new NodeId(NodeId.NodeIdType.NUMERIC, id, opts.gdsNamespace);
  const method = opts.addressSpace.findMethod(nodeId);
  if (!method) throw new Error(`GDS nodeset lacks ${name} (${nodeId.toString()})`);
  method.bindMethod(makeMethodHandler({ method: name, security, body, log: opts.log }));
}
