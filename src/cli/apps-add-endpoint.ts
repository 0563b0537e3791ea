/**
 * Reads an application's ApplicationDescription from its endpoint for `gds apps add
 * --from-endpoint`: GetEndpoints over SecurityPolicy None, no session (works before the device
 * trusts anyone). Loaded lazily: it imports node-opcua.
 */
import {
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  type EndpointDescription,
} from "node-opcua";
import os from "node:os";
import { defaultCliPkiDir, probeTcp } from "./admin-client.js";
import type { AnnouncedApplication } from "./apps-add.js";
import { CliError, errorMessage, ExitCode } from "./cli-error.js";

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Exit 3 when the endpoint cannot be reached or does not answer GetEndpoints. */
export async function readApplicationDescription(endpointUrl: string, timeoutMs = 10_000): Promise<AnnouncedApplication> {
  const pkiDir = process.env.GDS_CLI_PKI_DIR || defaultCliPkiDir(process.env);
  const client = OPCUAClient.create({
    applicationName: "opcua-gds CLI",
    applicationUri: `urn:${os.hostname()}:opcua-gds:cli`,
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    endpointMustExist: false,
    keepSessionAlive: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager: new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: true }),
  });
  let endpoints: EndpointDescription[];
  try {
    try {
      await withDeadline(client.connect(endpointUrl), timeoutMs, "answer");
    } catch (err) {
      const reason = (await probeTcp(endpointUrl)) ?? errorMessage(err).replace(/\s+/g, " ").trim();
      throw new CliError(`cannot connect to ${endpointUrl} (--from-endpoint): ${reason}`, ExitCode.CannotConnect);
    }
    try {
      endpoints = await withDeadline(client.getEndpoints({ endpointUrl }), timeoutMs, "GetEndpoints answer");
    } catch (err) {
      throw new CliError(`GetEndpoints on ${endpointUrl} (--from-endpoint) failed: ${errorMessage(err).replace(/\s+/g, " ").trim()}`, ExitCode.CannotConnect);
    }
  } finally {
    await client.disconnect().catch(() => undefined);
  }
  const server = endpoints.find((e) => e.server?.applicationUri)?.server;
  if (!server) throw new CliError(`${endpointUrl} (--from-endpoint) announces no endpoint with an ApplicationDescription`, ExitCode.Failure);
  return {
    applicationUri: server.applicationUri ?? "",
    applicationName: { locale: server.applicationName?.locale ?? null, text: server.applicationName?.text ?? "" },
    productUri: server.productUri ?? "",
    applicationType: Number(server.applicationType),
    discoveryUrls: (server.discoveryUrls ?? []).filter((u): u is string => typeof u === "string" && u !== ""),
  };
}
