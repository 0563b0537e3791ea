import net from "node:net";
import type { ApplicationRecord } from "../directory/application-record.js";
import { GdsError } from "../errors.js";

/** Host names of an application's DiscoveryUrls (reverse-connect `rcp+` prefixes stripped), in order, unique. */
export function discoveryUrlHosts(app: ApplicationRecord, scheme?: string): string[] {
  const hosts: string[] = [];
  for (const raw of app.discoveryUrls) {
    const url = raw.replace(/^rcp\+/i, "");
    if (scheme && !url.toLowerCase().startsWith(`${scheme}:`)) continue;
    const host = hostOf(url);
    if (host && !hosts.includes(host)) hosts.push(host);
  }
  return hosts;
}

function hostOf(url: string): string | undefined {
  // URL() does not know opc.tcp; give it a scheme it parses the same way.
  const m = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!m) return undefined;
  try {
    const host = new URL(`http://${url.slice(m[0].length)}`).hostname;
    return host.replace(/^\[(.*)\]$/, "$1") || undefined;
  } catch {
    return undefined;
  }
}

const DNS_NAME = /^(?=.{1,253}$)(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** Splits DomainNames into DNS names and IP addresses; anything else → BadInvalidArgument. */
export function splitDomainNames(names: string[], field = "DomainNames"): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  if (names.length > 32) throw new GdsError("BadInvalidArgument", `${field}: at most 32 names, got ${names.length}`);
  for (const [i, raw] of names.entries()) {
    const name = raw.trim();
    if (net.isIP(name)) {
      if (!ipAddresses.includes(name)) ipAddresses.push(name);
    } else if (DNS_NAME.test(name)) {
      if (!dnsNames.includes(name)) dnsNames.push(name);
    } else {
      throw new GdsError("BadInvalidArgument", `${field}[${i}]: ${JSON.stringify(raw.slice(0, 100))} is neither a DNS name nor an IP address`);
    }
  }
  return { dnsNames, ipAddresses };
}
