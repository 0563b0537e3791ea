import type { ApplicationRecord } from "./application-record.js";

/** QueryApplications filter, already decoded from OPC UA (null strings → "", null arrays → []). */
export interface QueryApplicationsRequest {
  startingRecordId: number;
  maxRecordsToReturn: number;
  applicationName: string;
  applicationUri: string;
  /** 0 all, 1 servers, 2 clients (see the digest §3); >3 → BadInvalidArgument. */
  applicationType: number;
  productUri: string;
  serverCapabilities: string[];
}

export interface QueryApplicationsResult {
  lastCounterResetTime: Date;
  /** The StartingRecordId for the next page; 0 when there is nothing more. */
  nextRecordId: number;
  applications: ApplicationRecord[];
}

export interface QueryServersRequest {
  startingRecordId: number;
  maxRecordsToReturn: number;
  applicationName: string;
  applicationUri: string;
  productUri: string;
  serverCapabilities: string[];
}

export interface ServerOnNetworkEntry {
  recordId: number;
  serverName: string;
  discoveryUrl: string;
  serverCapabilities: string[];
}

export interface QueryServersResult {
  lastCounterResetTime: Date;
  servers: ServerOnNetworkEntry[];
}
