/** Admin methods of push management (issue 4): ids 1100–1199. See admin-model.ts. */
import type { AdminArgument, AdminMethod } from "./admin-model.js";

const APP: AdminArgument = { name: "ApplicationId", type: "String", description: "ApplicationId of a registered application as a NodeId string (ns=…;g=… or nsu=…;g=…) or the bare GUID" };

export const PUSH_ADMIN_METHODS: AdminMethod[] = [
  // --- push targets and the scheduler (src/opcua/install-push-admin.ts) ---
  {
    name: "SetPushTarget",
    id: 1100,
    description:
      "Marks a registered application as push-managed (or changes how): the GDS connects to EndpointUrl as a client, pushes the trust list and renews the certificate (OPC 10000-12 §7.10), now and whenever due. The password is stored encrypted and never shown. Requires SecurityAdmin.",
    inputs: [
      APP,
      { name: "EndpointUrl", type: "String", description: "the device's endpoint, opc.tcp://host:port[/path]" },
      { name: "SecurityPolicy", type: "String", description: "Basic256Sha256 (default when empty), Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss (or the policy URI)" },
      { name: "SecurityMode", type: "String", description: "SignAndEncrypt (default when empty) or Sign" },
      { name: "UserName", type: "String", description: "the device user holding SecurityAdmin; empty with UseGdsCertificate" },
      { name: "Password", type: "String", description: "its password; empty keeps the stored one when UserName is unchanged; send only over SignAndEncrypt" },
      { name: "UseGdsCertificate", type: "Boolean", description: "log in with the GDS's own application certificate (X509 identity) instead of a user name" },
      { name: "RegeneratePrivateKey", type: "Boolean", description: "CreateSigningRequest asks the device for a new key pair (recommended: true)" },
    ],
    outputs: [{ name: "TargetJson", type: "String", description: "JSON push target (applicationId, applicationUri, endpointUrl, securityPolicy, securityMode, identity {kind, userName}, regeneratePrivateKey, group, createdAt/By, updatedAt/By); no password" }],
  },
  {
    name: "RemovePushTarget",
    id: 1110,
    description: "Ends push management of an application (its push status goes too); the device keeps what it has. Requires SecurityAdmin.",
    inputs: [APP],
    outputs: [],
  },
  {
    name: "PushNow",
    id: 1120,
    description:
      "Asks for a full push cycle (trust list and a new certificate) now, regardless of backoff. The request is stored, so it survives a restart. With Wait, returns when the cycle has ended (at most 45 s; status.running tells if it is still going); without, at once. Requires SecurityAdmin.",
    inputs: [APP, { name: "Wait", type: "Boolean", description: "wait (up to 45 s) for the cycle to end before returning" }],
    outputs: [{ name: "StatusJson", type: "String", description: "JSON push status of the device, as one element of GetPushStatus" }],
  },
  {
    name: "GetPushStatus",
    id: 1130,
    description:
      "Push targets and their status as a JSON array: the target fields plus status {running, lastAttempt, lastReason, lastSuccess, lastResult (ok/failed/waitingForApproval), lastError {step, statusCode, message, at}, certificate {serialHex, notBefore, notAfter, confirmedAt} as confirmed by the device, unconfirmedSerialHex, trustList {group, lastUpdateTime, pushedAt}, consecutiveFailures, nextAttemptAt, pushRequestedAt, pushRequestedBy, pendingRequestId and pendingRequestSince (a signing request waiting for approval), steps [{step, ms, statusCode}], lastDurationMs}.",
    inputs: [{ name: "ApplicationId", type: "String", description: "only this application (GUID, or a NodeId string ns=…;g=…); empty for all" }],
    outputs: [{ name: "StatusJson", type: "String", description: "JSON array of push statuses" }],
  },
  {
    name: "ExportTrustList",
    id: 1150,
    description:
      "What a device needs to trust this GDS: the CA certificate(s) and current CRL(s) of the group (the trusted and issuer lists of its trust list) and the own application certificate of the GDS, as DER (gds trustlist export).",
    inputs: [{ name: "Group", type: "String", description: "DefaultApplicationGroup, DefaultHttpsGroup or DefaultUserTokenGroup; empty = DefaultApplicationGroup" }],
    outputs: [{ name: "FilesJson", type: "String", description: "JSON {group, files: [{name, kind: caCertificate or crl or gdsCertificate, derBase64}]}" }],
  },
];
