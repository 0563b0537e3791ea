/**
 * Runs `gds apps add`: builds the application record (from flags, over what the device announces
 * at --from-endpoint), registers it with AddApplication and prints the new ApplicationId.
 */
import type { AdminCall } from "./admin-client.js";
import type { AppsAddCommand } from "./apps-add-args.js";
import { CliError, ExitCode } from "./cli-error.js";
import { formatJson } from "./format.js";

/** What GetEndpoints tells about the application behind an endpoint (its ApplicationDescription). */
export interface AnnouncedApplication {
  applicationUri: string;
  applicationName: { locale: string | null; text: string };
  productUri: string;
  applicationType: number;
  discoveryUrls: string[];
}

export type DescriptionLookup = (endpointUrl: string) => Promise<AnnouncedApplication>;

/** The JSON AddApplication takes (the fields `apps show --json` prints). */
export interface ApplicationJson {
  applicationUri: string;
  applicationType: number;
  applicationNames: { locale: string | null; text: string }[];
  productUri: string;
  discoveryUrls: string[];
  serverCapabilities: string[];
}

const defaultLookup: DescriptionLookup = async (url) => (await import("./apps-add-endpoint.js")).readApplicationDescription(url);

/**
 * The record to register: explicit flags win over what was announced. Defaults: type Server,
 * productUri = applicationUri, discoveryUrls = the announced ones, else the endpoint URL read from.
 */
export function applicationJson(cmd: AppsAddCommand, announced?: AnnouncedApplication): ApplicationJson {
  const applicationUri = cmd.applicationUri ?? announced?.applicationUri ?? "";
  if (applicationUri === "") throw new CliError(`${cmd.fromEndpoint} announces no ApplicationUri: give --uri`, ExitCode.Failure);
  const announcedName = announced?.applicationName.text ? announced.applicationName : undefined;
  const name = cmd.name !== undefined ? { locale: null, text: cmd.name } : announcedName;
  if (!name) throw new CliError(`${cmd.fromEndpoint} announces no ApplicationName: give --name`, ExitCode.Failure);
  const announcedUrls = announced ? (announced.discoveryUrls.length > 0 ? announced.discoveryUrls : [cmd.fromEndpoint!]) : [];
  return {
    applicationUri,
    applicationType: cmd.applicationType ?? announced?.applicationType ?? 0,
    applicationNames: [name],
    productUri: cmd.productUri ?? (announced?.productUri || applicationUri),
    discoveryUrls: cmd.discoveryUrls ?? announcedUrls,
    serverCapabilities: cmd.capabilities ?? [],
  };
}

export async function runAppsAdd(cmd: AppsAddCommand, call: AdminCall, lookup: DescriptionLookup = defaultLookup): Promise<string> {
  const announced = cmd.fromEndpoint !== undefined ? await lookup(cmd.fromEndpoint) : undefined;
  const app = applicationJson(cmd, announced);
  const [id] = await call("AddApplication", [JSON.stringify(app)]);
  if (typeof id !== "string" || id === "") throw new CliError("the server returned no ApplicationId", ExitCode.Failure);
  return cmd.admin.json ? formatJson({ applicationId: id, ...app }) : `${id}\n`;
}
