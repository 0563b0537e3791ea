// A small Directory client for the benchmark: Basic256Sha256 SignAndEncrypt, user admin.
// Same approach as test/integration/helpers (which are not compiled into dist).
import {
  DataType,
  LocalizedText,
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  Variant,
  VariantArrayType,
  type ClientSession,
  type ExtensionObject,
  type Variant as VariantT,
} from "node-opcua";

export const GDS_NAMESPACE_URI = "http://opcfoundation.org/UA/GDS/";
const DIRECTORY = 141;
const M = { FindApplications: 143, RegisterApplication: 146, UnregisterApplication: 149, QueryServers: 151, QueryApplications: 992 } as const;
const APPLICATION_RECORD_DATA_TYPE = 1;

export interface BenchApp {
  applicationUri: string;
  name: string;
  discoveryUrl: string;
}

export class BenchClient {
  private constructor(
    private readonly client: OPCUAClient,
    readonly session: ClientSession,
    private readonly gdsNs: number,
    private readonly certificateManager: OPCUACertificateManager,
  ) {}

  /** `user` null: an anonymous session. */
  static async connect(endpointUrl: string, user: { userName: string; password: string } | null, pkiDir: string): Promise<BenchClient> {
    const certificateManager = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: true });
    const client = OPCUAClient.create({
      applicationName: "opcua-gds-bench-client",
      applicationUri: "urn:opcua-gds-bench-client",
      securityMode: MessageSecurityMode.SignAndEncrypt,
      securityPolicy: SecurityPolicy.Basic256Sha256,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 1, initialDelay: 100, maxDelay: 200 },
      clientCertificateManager: certificateManager,
      requestedSessionTimeout: 600_000, // the session lives for the whole run
    });
    await client.connect(endpointUrl);
    const session = await client.createSession(
      user ? { type: UserTokenType.UserName, userName: user.userName, password: user.password } : { type: UserTokenType.Anonymous },
    );
    const nsArray = (await session.readNamespaceArray()) as string[];
    const gdsNs = nsArray.indexOf(GDS_NAMESPACE_URI);
    if (gdsNs < 0) throw new Error(`server has no ${GDS_NAMESPACE_URI} namespace`);
    return new BenchClient(client, session, gdsNs, certificateManager);
  }

  private node(id: number): NodeId {
    return new NodeId(NodeId.NodeIdType.NUMERIC, id, this.gdsNs);
  }

  /** The ApplicationRecordDataType argument, built from the server's DataTypeDefinition. */
  async record(app: BenchApp): Promise<ExtensionObject> {
    return this.session.constructExtensionObject(this.node(APPLICATION_RECORD_DATA_TYPE), {
      applicationId: NodeId.nullNodeId,
      applicationUri: app.applicationUri,
      applicationType: 0, // Server
      applicationNames: [new LocalizedText({ text: app.name, locale: "en" })],
      productUri: "urn:opcua-gds:bench:product",
      discoveryUrls: [app.discoveryUrl],
      serverCapabilities: ["DA"],
    });
  }

  private async call(method: number, inputArguments: VariantT[]): Promise<VariantT[]> {
    const r = await this.session.callWithDiagnostics([{ objectId: this.node(DIRECTORY), methodId: this.node(method), inputArguments }], 0x40 | 0x20);
    const result = r.results[0]!;
    if (result.statusCode.isNotGood()) {
      throw new Error(`method ${method} failed: ${result.statusCode.name} ${r.diagnosticStrings[0]?.localizedText ?? ""}`);
    }
    return result.outputArguments ?? [];
  }

  /** RegisterApplication with a prepared record (see record()); resolves to the ApplicationId. */
  async register(record: ExtensionObject): Promise<NodeId> {
    const out = await this.call(M.RegisterApplication, [new Variant({ dataType: DataType.ExtensionObject, value: record })]);
    return out[0]!.value as NodeId;
  }

  async unregister(applicationId: NodeId): Promise<void> {
    await this.call(M.UnregisterApplication, [new Variant({ dataType: DataType.NodeId, value: applicationId })]);
  }

  /** FindApplications: an index lookup; a baseline for the cost of one method round trip. */
  async findApplications(uri: string): Promise<number> {
    const out = await this.call(M.FindApplications, [new Variant({ dataType: DataType.String, value: uri })]);
    return (out[0]?.value as unknown[] | null)?.length ?? 0;
  }

  /** QueryServers with LIKE filters; resolves to the number of ServerOnNetwork entries. */
  async queryServers(q: { name?: string; uri?: string }): Promise<number> {
    const str = (value: string | null) => new Variant({ dataType: DataType.String, value });
    const out = await this.call(M.QueryServers, [
      new Variant({ dataType: DataType.UInt32, value: 0 }),
      new Variant({ dataType: DataType.UInt32, value: 0 }),
      str(q.name ?? null),
      str(q.uri ?? null),
      str(null),
      new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: null }),
    ]);
    return (out[1]?.value as unknown[] | null)?.length ?? 0;
  }

  /**
   * QueryServers or QueryApplications with MaxRecordsToReturn `max`; resolves to the StatusCode's
   * name and the number of records (ServerOnNetwork entries / ApplicationDescriptions) returned.
   */
  async query(method: "QueryServers" | "QueryApplications", q: { name?: string; uri?: string; max?: number; start?: number }): Promise<{ status: string; records: number }> {
    const str = (value: string | null) => new Variant({ dataType: DataType.String, value });
    const u32 = (value: number) => new Variant({ dataType: DataType.UInt32, value });
    const noCaps = new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: null });
    const inputArguments =
      method === "QueryServers"
        ? [u32(q.start ?? 0), u32(q.max ?? 0), str(q.name ?? null), str(q.uri ?? null), str(null), noCaps]
        : [u32(q.start ?? 0), u32(q.max ?? 0), str(q.name ?? null), str(q.uri ?? null), u32(0), str(null), noCaps];
    const r = await this.session.call({ objectId: this.node(DIRECTORY), methodId: this.node(M[method]), inputArguments });
    const list = r.outputArguments?.[method === "QueryServers" ? 1 : 2]?.value as unknown[] | null | undefined;
    return { status: r.statusCode.name, records: list?.length ?? 0 };
  }

  async close(): Promise<void> {
    await this.session.close().catch(() => undefined);
    await this.client.disconnect().catch(() => undefined);
    await this.certificateManager.dispose().catch(() => undefined);
  }
}
