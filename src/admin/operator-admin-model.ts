/**
 * Admin methods an operator needs day to day besides the core ones: a user's password, one
 * certificate request in full, and the client application certificates the channel PKI of the server
 * has seen or trusts. Ids 1400–1499. See admin-model.ts.
 */
import type { AdminMethod } from "./admin-model.js";

export const OPERATOR_ADMIN_METHODS: AdminMethod[] = [
  {
    name: "SetUserPassword",
    id: 1400,
    description:
      "Sets the password of a user (scrypt-hashed; the old one stops working at once), audited as UserPasswordChanged. Requires SecurityAdmin, or the user itself for its own password.",
    inputs: [
      { name: "UserName", type: "String", description: "user name" },
      { name: "Password", type: "String", description: "the new password (at least 8 characters); send only over SignAndEncrypt" },
    ],
    outputs: [],
  },
  {
    name: "GetRequest",
    id: 1410,
    description:
      "One certificate request in full as JSON: the fields ListRequests gives (application, names and subject the certificate will get) plus the key the certificate will certify (keyType, keySize, curve).",
    inputs: [{ name: "RequestId", type: "String", description: "RequestId (the GUID, as ListRequests shows it; a NodeId string ns=…;g=… is accepted too)" }],
    outputs: [{ name: "RequestJson", type: "String", description: "JSON request record" }],
  },
  {
    name: "ListClientCertificates",
    id: 1420,
    description:
      "The client application certificates the channel PKI of the server knows as a JSON array: those it trusts (server-pki/trusted) and those it met on a secure channel without trusting them (newest first). Requires SecurityAdmin.",
    inputs: [],
    outputs: [
      {
        name: "ClientCertificatesJson",
        type: "String",
        description: "JSON array of {thumbprint (SHA-1 hex), state (trusted or seen), subject, applicationUri, notBefore, notAfter; for seen ones firstSeen, lastSeen, connections, verdict, status}",
      },
    ],
  },
  {
    name: "TrustClientCertificate",
    id: 1430,
    description:
      "Trusts a client application certificate the server has seen (gds clients list): copies it into server-pki/trusted and drops it from the seen list; channels secured with it are accepted from then on. Audited. Requires SecurityAdmin.",
    inputs: [{ name: "Thumbprint", type: "String", description: "SHA-1 thumbprint of the certificate (40 hex digits, colons allowed)" }],
    outputs: [{ name: "ClientCertificateJson", type: "String", description: "JSON entry of the certificate, now trusted" }],
  },
  {
    name: "RemoveClientCertificate",
    id: 1440,
    description:
      "Removes a client application certificate: from server-pki/trusted when trusted (new channels with it are refused unless unknown certificates are accepted), otherwise from the seen list. The GDS CAs cannot be removed this way. Audited. Requires SecurityAdmin.",
    inputs: [{ name: "Thumbprint", type: "String", description: "SHA-1 thumbprint of the certificate (40 hex digits, colons allowed)" }],
    outputs: [{ name: "ClientCertificateJson", type: "String", description: "JSON entry of the certificate removed" }],
  },
];
