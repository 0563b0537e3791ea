import { DataType, LocalizedText, NodeId, NodeIdType, Variant, VariantArrayType, type AddressSpace, type ExtensionObject } from "node-opcua";
import { ApplicationDescription, ServerOnNetwork } from "node-opcua-types";
import type { ApplicationInput, ApplicationRecord } from "../directory/application-record.js";
import type { ServerOnNetworkEntry } from "../directory/directory-service.types.js";
import { GdsError } from "../errors.js";

/** The namespace of GDS-assigned ApplicationIds (as the .NET GDS uses). */
export const APPLICATIONS_NAMESPACE_URI = "http://opcfoundation.org/UA/GDS/applications/";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Converts between ApplicationRecordDataType / ApplicationId NodeIds and the domain's plain data. */
export class ApplicationCodec {
  constructor(
    private readonly addressSpace: AddressSpace,
    private readonly recordDataTypeId: NodeId,
    readonly applicationsNamespace: number,
  ) {}

  toNodeId(applicationId: string): NodeId {
    return new NodeId(NodeIdType.GUID, applicationId, this.applicationsNamespace);
  }

  /** ApplicationId NodeId → GUID string; anything not a Guid in our namespace → BadNotFound. */
  fromNodeId(nodeId: NodeId, argName = "ApplicationId"): string {
    if (nodeId.isEmpty()) throw new GdsError("BadNotFound", `${argName} is null`);
    if (nodeId.identifierType !== NodeIdType.GUID || nodeId.namespace !== this.applicationsNamespace) {
      throw new GdsError("BadNotFound", `${argName} ${nodeId.toString()} is not an ApplicationId of this GDS`);
    }
    return String(nodeId.value).toLowerCase();
  }

  /**
   * Accepts what the CLI and admins type: "ns=3;g=…", "nsu=<applications uri>;g=…" or a bare GUID.
   */
  parseIdString(text: string): string {
    const s = text.trim();
    if (GUID.test(s)) return s.toLowerCase();
    const m = /^(?:ns=(\d+)|nsu=([^;]+));g=([0-9a-fA-F-]{36})$/.exec(s);
    if (m && GUID.test(m[3])) {
      const nsOk = m[1] !== undefined ? Number(m[1]) === this.applicationsNamespace : m[2] === APPLICATIONS_NAMESPACE_URI;
      if (nsOk) return m[3].toLowerCase();
    }
    throw new GdsError("BadNotFound", `${JSON.stringify(s.slice(0, 100))} is not an ApplicationId of this GDS (expected its GUID, or ns=${this.applicationsNamespace};g=<guid>)`);
  }

  /**
   * The one text form of an ApplicationId outside the OPC UA wire: the lower-case GUID, the same
   * string the audit log, the log lines and the CLI show, so an id copied from one is found with
   * grep in the others (the NodeId a client sees, ns=…;g=<guid>, contains it). Admin methods also
   * accept the NodeId forms (parseIdString).
   */
  idString(applicationId: string): string {
    return String(applicationId).toLowerCase();
  }

  /** Decodes the Application argument; shape errors → BadInvalidArgument. Field rules are the domain's. */
  decodeRecordArgument(v: Variant | undefined, name = "Application"): { applicationId: NodeId; input: ApplicationInput } {
    if (!v || v.arrayType !== VariantArrayType.Scalar || v.dataType !== DataType.ExtensionObject || !v.value) {
      throw new GdsError("BadInvalidArgument", `${name}: expected an ApplicationRecordDataType`);
    }
    const eo = v.value as Record<string, unknown>;
    if (eo.constructor?.name === "OpaqueStructure") {
      // node-opcua could not decode the body: in practice an ApplicationType outside the enum.
      throw new GdsError("BadInvalidArgument", `${name}: the ApplicationRecordDataType could not be decoded; is ApplicationType one of 0 Server, 1 Client, 2 ClientAndServer, 3 DiscoveryServer?`);
    }
    if (!("applicationUri" in eo) || !("applicationType" in eo) || !("applicationNames" in eo)) {
      throw new GdsError("BadInvalidArgument", `${name}: expected an ApplicationRecordDataType, got another structure`);
    }
    const names = (eo.applicationNames as (LocalizedText | null)[] | null) ?? [];
    return {
      applicationId: (eo.applicationId as NodeId | null) ?? NodeId.nullNodeId,
      input: {
        applicationUri: (eo.applicationUri as string | null) ?? "",
        applicationType: Number(eo.applicationType),
        applicationNames: names.map((n) => ({ locale: n?.locale ?? null, text: n?.text ?? "" })),
        productUri: (eo.productUri as string | null) ?? "",
        discoveryUrls: ((eo.discoveryUrls as (string | null)[] | null) ?? []).map((s) => s ?? ""),
        serverCapabilities: ((eo.serverCapabilities as (string | null)[] | null) ?? []).map((s) => s ?? ""),
      },
    };
  }

  encodeRecord(r: ApplicationRecord): ExtensionObject {
    return this.addressSpace.constructExtensionObject(this.recordDataTypeId, {
      applicationId: this.toNodeId(r.applicationId),
      applicationUri: r.applicationUri,
      applicationType: r.applicationType,
      applicationNames: r.applicationNames.map((n) => new LocalizedText({ locale: n.locale, text: n.text })),
      productUri: r.productUri,
      discoveryUrls: r.discoveryUrls,
      serverCapabilities: r.serverCapabilities,
    });
  }

  recordVariant(r: ApplicationRecord): Variant {
    return new Variant({ dataType: DataType.ExtensionObject, value: this.encodeRecord(r) });
  }

  recordArrayVariant(records: ApplicationRecord[]): Variant {
    return new Variant({ dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array, value: records.map((r) => this.encodeRecord(r)) });
  }

  descriptionArrayVariant(records: ApplicationRecord[]): Variant {
    const value = records.map(
      (r) =>
        new ApplicationDescription({
          applicationUri: r.applicationUri,
          productUri: r.productUri,
          applicationName: new LocalizedText({ locale: r.applicationNames[0]?.locale ?? null, text: r.applicationNames[0]?.text ?? "" }),
          applicationType: r.applicationType,
          gatewayServerUri: null,
          discoveryProfileUri: null,
          discoveryUrls: r.discoveryUrls,
        }),
    );
    return new Variant({ dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array, value });
  }

  serversVariant(entries: ServerOnNetworkEntry[]): Variant {
    const value = entries.map((e) => new ServerOnNetwork({ recordId: e.recordId, serverName: e.serverName, discoveryUrl: e.discoveryUrl, serverCapabilities: e.serverCapabilities }));
    return new Variant({ dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array, value });
  }

  /** JSON form for the admin object and the CLI: applicationId as idString gives it (the GUID). */
  toJson(r: ApplicationRecord): Record<string, unknown> {
    return {
      applicationId: this.idString(r.applicationId),
      applicationUri: r.applicationUri,
      applicationType: r.applicationType,
      applicationNames: r.applicationNames,
      productUri: r.productUri,
      discoveryUrls: r.discoveryUrls,
      serverCapabilities: r.serverCapabilities,
      recordId: r.recordId,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    };
  }
}
