/** Application types of OPC 10000-4 (ns0 i=307). */
export const ApplicationKind = {
  Server: 0,
  Client: 1,
  ClientAndServer: 2,
  DiscoveryServer: 3,
} as const;

export interface LocalizedName {
  locale: string | null;
  text: string;
}

/**
 * The plain-data form of ApplicationRecordDataType (ns=GDS;i=1) as the domain sees it.
 * `applicationId` is the GDS-assigned GUID (lower-case, dashed); the OPC UA layer turns it into
 * a Guid NodeId in the applications namespace.
 */
export interface ApplicationInput {
  applicationUri: string;
  applicationType: number;
  applicationNames: LocalizedName[];
  productUri: string;
  discoveryUrls: string[];
  serverCapabilities: string[];
}

export interface ApplicationRecord extends ApplicationInput {
  applicationId: string;
  /** Monotonic, renewed on create and on every update (QueryServers/QueryApplications paging). */
  recordId: number;
  createdAt: string;
  updatedAt: string;
}
