import crypto from "node:crypto";
import fs from "node:fs";
import { CliError, ExitCode } from "./cli-error.js";
import type { AdminCall } from "./admin-client.js";
import type { CliCommand } from "./args.js";
import { runPushCommand } from "./push-commands.js";
import { runAppsAdd } from "./apps-add.js";
import { writeTrustListExport } from "./trustlist-export.js";
import {
  expectArray,
  expectObject,
  formatApplication,
  formatApplicationsTable,
  formatAuditLog,
  formatCaInfo,
  formatCertificatesTable,
  formatRevoked,
  formatDone,
  formatJson,
  formatClientsTable,
  formatRequest,
  formatRequestsList,
  formatStatus,
  formatUsersTable,
  parseJsonResult,
} from "./format.js";

/** The commands that run through the server's admin object. */
export type AdminCommand = Exclude<CliCommand, { kind: "help" } | { kind: "start" } | { kind: "ca import" } | { kind: "backup" } | { kind: "restore" }>;

/** Runs one admin command through `call` and returns what to print on stdout. */
export async function runAdminCommand(cmd: AdminCommand, call: AdminCall): Promise<string> {
  const { json } = cmd.admin;
  switch (cmd.kind) {
    case "push set":
    case "push remove":
    case "push now":
    case "push status":
      return runPushCommand(cmd, call);
    case "apps list": {
      const [out] = await call("ListApplications", []);
      const apps = expectArray(parseJsonResult(out, "applications"), "applications");
      return json ? formatJson(apps) : formatApplicationsTable(apps);
    }
    case "apps show": {
      const [out] = await call("GetApplication", [cmd.applicationId]);
      const app = expectObject(parseJsonResult(out, "application"), "application");
      return json ? formatJson(app) : formatApplication(app);
    }
    case "apps add":
      return runAppsAdd(cmd, call);
    case "apps remove":
      await call("RemoveApplication", [cmd.applicationId]);
      return json ? formatJson({ removed: cmd.applicationId }) : formatDone.appRemoved(cmd.applicationId);
    case "users add":
      await call("AddUser", [cmd.name, cmd.roles, cmd.password]);
      return json ? formatJson({ added: cmd.name, roles: cmd.roles }) : formatDone.userAdded(cmd.name, cmd.roles);
    case "users list": {
      const [out] = await call("ListUsers", []);
      const users = expectArray(parseJsonResult(out, "users"), "users");
      return json ? formatJson(users) : formatUsersTable(users);
    }
    case "users remove":
      await call("RemoveUser", [cmd.name]);
      return json ? formatJson({ removed: cmd.name }) : formatDone.userRemoved(cmd.name);
    case "users add-cert": {
      const [thumbprint] = await call("BindUserCertificate", [cmd.name, readCertificateAsPem(cmd.certFile)]);
      return json ? formatJson({ user: cmd.name, thumbprint }) : formatDone.userCertificateBound(cmd.name, String(thumbprint));
    }
    case "users set-roles":
      await call("SetUserRoles", [cmd.name, cmd.roles]);
      return json ? formatJson({ user: cmd.name, roles: cmd.roles }) : formatDone.userRolesSet(cmd.name, cmd.roles);
    case "requests list": {
      const [out] = await call("ListRequests", [cmd.state ?? ""]);
      const requests = expectArray(parseJsonResult(out, "requests"), "requests");
      return json ? formatJson(requests) : formatRequestsList(requests, cmd.state);
    }
    case "requests show": {
      const [out] = await call("GetRequest", [cmd.requestId]);
      const request = expectObject(parseJsonResult(out, "request"), "request");
      return json ? formatJson(request) : formatRequest(request);
    }
    case "users passwd":
      await call("SetUserPassword", [cmd.name, cmd.password]);
      return json ? formatJson({ user: cmd.name, passwordChanged: true }) : formatDone.passwordSet(cmd.name);
    case "clients list": {
      const [out] = await call("ListClientCertificates", []);
      const clients = expectArray(parseJsonResult(out, "client certificates"), "client certificates");
      return json ? formatJson(clients) : formatClientsTable(clients);
    }
    case "clients trust": {
      const [out] = await call("TrustClientCertificate", [cmd.thumbprint]);
      const entry = expectObject(parseJsonResult(out, "client certificate"), "client certificate");
      return json ? formatJson(entry) : formatDone.clientTrusted(entry);
    }
    case "clients remove": {
      const [out] = await call("RemoveClientCertificate", [cmd.thumbprint]);
      const entry = expectObject(parseJsonResult(out, "client certificate"), "client certificate");
      return json ? formatJson(entry) : formatDone.clientRemoved(entry);
    }
    case "requests approve": {
      const [out] = await call("ApproveRequest", [cmd.requestId]);
      const request = expectObject(parseJsonResult(out, "request"), "request");
      return json ? formatJson(request) : formatDone.requestApproved(request);
    }
    case "certs list": {
      const [out] = await call("ListCertificates", [cmd.applicationId ?? "", cmd.expiringWithin ?? "", cmd.revoked]);
      const certs = expectArray(parseJsonResult(out, "certificates"), "certificates");
      return json ? formatJson(certs) : formatCertificatesTable(certs);
    }
    case "certs revoke": {
      const [out] = await call("RevokeCertificates", [cmd.applicationId ?? "", cmd.serial ?? "", cmd.reason]);
      const result = expectObject(parseJsonResult(out, "revocation result"), "revocation result");
      return json ? formatJson(result) : formatRevoked(result);
    }
    case "ca show": {
      const [out] = await call("GetCaInfo", []);
      const groups = expectArray(parseJsonResult(out, "CA information"), "CA information");
      return json ? formatJson(groups) : formatCaInfo(groups);
    }
    case "status": {
      const [out] = await call("GetStatus", []);
      const status = expectObject(parseJsonResult(out, "status"), "status");
      return json ? formatJson(status) : formatStatus(status);
    }
    case "audit": {
      const [out] = await call("ReadAuditLog", [cmd.since ?? "", cmd.limit ?? 0]);
      const result = expectObject(parseJsonResult(out, "audit log"), "audit log");
      return json ? formatJson(result) : formatAuditLog(result);
    }
    case "trustlist export": {
      const [out] = await call("ExportTrustList", [cmd.group]);
      return writeTrustListExport(out, cmd.outDir, json);
    }
    case "requests reject": {
      const [out] = await call("RejectRequest", [cmd.requestId, cmd.reason]);
      const request = expectObject(parseJsonResult(out, "request"), "request");
      return json ? formatJson(request) : formatDone.requestRejected(request);
    }
  }
}

/** A certificate file (PEM or DER) as PEM text, for BindUserCertificate. */
export function readCertificateAsPem(file: string): string {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new CliError(`cannot read --cert ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.Usage);
  }
  const text = data.toString("latin1");
  if (text.includes("-----BEGIN CERTIFICATE-----")) return text;
  let der: Buffer;
  try {
    der = Buffer.from(new crypto.X509Certificate(data).raw);
  } catch {
    throw new CliError(`--cert ${file}: neither a PEM certificate nor a DER-encoded X.509 certificate`, ExitCode.Usage);
  }
  const b64 = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}
