/** Admin methods of push management (issue 4): ids 1100–1199. See admin-model.ts. */
import type { AdminMethod } from "./admin-model.js";

export const PUSH_ADMIN_METHODS: AdminMethod[] = [
  {
    name: "ExportTrustList",
    id: 1150,
    description:
      "What a device needs to trust this GDS: the CA certificate(s) and current CRL(s) of the group (the trusted and issuer lists of its trust list) and the own application certificate of the GDS, as DER (gds trustlist export).",
    inputs: [{ name: "Group", type: "String", description: "DefaultApplicationGroup, DefaultHttpsGroup or DefaultUserTokenGroup; empty = DefaultApplicationGroup" }],
    outputs: [{ name: "FilesJson", type: "String", description: "JSON {group, files: [{name, kind: caCertificate or crl or gdsCertificate, derBase64}]}" }],
  },
];
