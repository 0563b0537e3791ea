import { NodeId, NodeIdType } from "node-opcua";
import { CERTIFICATE_GROUP_NAMES, CERTIFICATE_TYPES, certificateTypeByNodeId, type CertificateGroupName, type CertificateTypeName } from "../ca/certificate-types.js";
import { GdsError } from "../errors.js";

/** ns=GDS NodeIds of the certificate group objects and their TrustList objects. */
export const GROUP_NODES: Record<CertificateGroupName, { group: number; trustList: number; certificateTypes: number }> = {
  DefaultApplicationGroup: { group: 615, trustList: 616, certificateTypes: 648 },
  DefaultHttpsGroup: { group: 649, trustList: 650, certificateTypes: 682 },
  DefaultUserTokenGroup: { group: 683, trustList: 684, certificateTypes: 716 },
};

/** Translates between the wire NodeIds of groups, types and trust lists and the domain's names. */
export class CertificateNodes {
  constructor(private readonly gdsNamespace: number) {}

  groupNodeId(group: CertificateGroupName): NodeId {
    return new NodeId(NodeIdType.NUMERIC, GROUP_NODES[group].group, this.gdsNamespace);
  }

  trustListNodeId(group: CertificateGroupName): NodeId {
    return new NodeId(NodeIdType.NUMERIC, GROUP_NODES[group].trustList, this.gdsNamespace);
  }

  typeNodeId(type: CertificateTypeName): NodeId {
    return new NodeId(NodeIdType.NUMERIC, CERTIFICATE_TYPES[type].nodeId, 0);
  }

  /** null NodeId → undefined (the caller's default); a NodeId that is not one of our groups → BadInvalidArgument. */
  groupOf(nodeId: NodeId, argName = "CertificateGroupId"): CertificateGroupName | undefined {
    if (nodeId.isEmpty()) return undefined;
    if (nodeId.namespace === this.gdsNamespace && nodeId.identifierType === NodeIdType.NUMERIC) {
      const group = CERTIFICATE_GROUP_NAMES.find((g) => GROUP_NODES[g].group === nodeId.value);
      if (group) return group;
    }
    throw new GdsError("BadInvalidArgument", `${argName}: ${nodeId.toString()} is not a certificate group of this GDS (use the GDS namespace's DefaultApplicationGroup, DefaultHttpsGroup or DefaultUserTokenGroup, or null)`);
  }

  typeOf(nodeId: NodeId, argName = "CertificateTypeId"): CertificateTypeName | undefined {
    if (nodeId.isEmpty()) return undefined;
    if (nodeId.namespace === 0 && nodeId.identifierType === NodeIdType.NUMERIC) {
      const spec = certificateTypeByNodeId(nodeId.value as number);
      if (spec) return spec.name;
    }
    throw new GdsError("BadInvalidArgument", `${argName}: ${nodeId.toString()} is not a certificate type this GDS issues`);
  }
}
