/**
 * Well-known roles by name. A role is identified on the wire by a NodeId: ns0 roles live in the
 * OPC UA namespace, the GDS roles (DiscoveryAdmin, …) are objects of the GDS nodeset. The OPC UA
 * layer resolves the namespace URI to the server's index.
 */
export const UA_NAMESPACE_URI = "http://opcfoundation.org/UA/";
export const GDS_NAMESPACE_URI = "http://opcfoundation.org/UA/GDS/";

export interface RoleDefinition {
  name: string;
  namespaceUri: string;
  id: number;
}

export const ROLES: readonly RoleDefinition[] = [
  { name: "Anonymous", namespaceUri: UA_NAMESPACE_URI, id: 15644 },
  { name: "AuthenticatedUser", namespaceUri: UA_NAMESPACE_URI, id: 15656 },
  { name: "Observer", namespaceUri: UA_NAMESPACE_URI, id: 15668 },
  { name: "Operator", namespaceUri: UA_NAMESPACE_URI, id: 15680 },
  { name: "Engineer", namespaceUri: UA_NAMESPACE_URI, id: 16036 },
  { name: "Supervisor", namespaceUri: UA_NAMESPACE_URI, id: 15692 },
  { name: "ConfigureAdmin", namespaceUri: UA_NAMESPACE_URI, id: 15716 },
  { name: "SecurityAdmin", namespaceUri: UA_NAMESPACE_URI, id: 15704 },
  { name: "DiscoveryAdmin", namespaceUri: GDS_NAMESPACE_URI, id: 1661 },
  { name: "CertificateAuthorityAdmin", namespaceUri: GDS_NAMESPACE_URI, id: 1680 },
  { name: "RegistrationAuthorityAdmin", namespaceUri: GDS_NAMESPACE_URI, id: 1699 },
  { name: "KeyCredentialAdmin", namespaceUri: GDS_NAMESPACE_URI, id: 1718 },
  { name: "AuthorizationServiceAdmin", namespaceUri: GDS_NAMESPACE_URI, id: 1737 },
];

export type RoleName = string;

/** Roles the first-start `admin` user gets: every administrative role of the GDS. */
export const ADMIN_ROLES: readonly RoleName[] = [
  "DiscoveryAdmin",
  "CertificateAuthorityAdmin",
  "RegistrationAuthorityAdmin",
  "SecurityAdmin",
  "ConfigureAdmin",
];

const byLowerName = new Map(ROLES.map((r) => [r.name.toLowerCase(), r]));

/** Exact role by name (case-insensitive), or undefined. */
export function findRole(name: string): RoleDefinition | undefined {
  return byLowerName.get(name.toLowerCase());
}
