import { DataType, NodeId, NodeIdType, StatusCodes, Variant, VariantArrayType, type AddressSpace } from "node-opcua";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CertificateManagerService } from "../requests/certificate-manager-service.js";
import type { AccessPolicy } from "./access-policy.js";
import type { ApplicationCodec } from "./application-codec.js";
import { byteStringArg, expectArgumentCount, nodeIdArg, stringArg, stringArrayArg } from "./arguments.js";
import type { CertificateNodes } from "./certificate-nodes.js";
import { bindGdsMethod } from "./install-directory.js";
import type { MethodBody, SecurityRequirement } from "./method-handler.js";

/** NodeIds (ns=GDS) of the CertificateManager methods on the Directory object. */
export const CERTIFICATE_MANAGER_METHODS = {
  StartSigningRequest: 157,
  StartNewKeyPairRequest: 154,
  FinishRequest: 163,
  GetCertificateGroups: 508,
  GetTrustList: 204,
  GetCertificateStatus: 225,
  RevokeCertificate: 15005,
  GetCertificates: 174,
  CheckRevocationStatus: 177,
} as const;

/** CSRs and certificates above this size are refused before parsing. */
const MAX_CERTIFICATE_BYTES = 64 * 1024;

export interface CertificateManagerInstallOptions {
  addressSpace: AddressSpace;
  gdsNamespace: number;
  certificates: CertificateManagerService;
  codec: ApplicationCodec;
  nodes: CertificateNodes;
  access: AccessPolicy;
  log: Logger;
}

/**
 * Binds OPC 10000-12 §7.9 on ns=GDS;i=141. CertificateAuthorityAdmin may act for any
 * application; ApplicationSelfAdmin for its own ApplicationId only (checked per call, so a
 * revoked certificate loses the privilege at once). StartNewKeyPairRequest and FinishRequest carry
 * private keys and need SignAndEncrypt; the others need at least Sign.
 */
export function installCertificateManager(opts: CertificateManagerInstallOptions): void {
  const { certificates, codec, nodes, access } = opts;
  const CA_ADMIN = ["CertificateAuthorityAdmin"];

  const bind = (name: keyof typeof CERTIFICATE_MANAGER_METHODS, security: SecurityRequirement, body: MethodBody) =>
    bindGdsMethod(opts, CERTIFICATE_MANAGER_METHODS[name], name, security, body);

  const requestIdVariant = (id: string) => new Variant({ dataType: DataType.NodeId, value: codec.toNodeId(id) });

  bind("StartSigningRequest", "sign", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId", "CertificateGroupId", "CertificateTypeId", "CertificateRequest"]);
    const applicationId = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireRoleOrSelf(call, CA_ADMIN, applicationId);
    const request = await certificates.startSigningRequest({
      applicationId,
      group: nodes.groupOf(nodeIdArg(args, 1, "CertificateGroupId")),
      type: nodes.typeOf(nodeIdArg(args, 2, "CertificateTypeId")),
      csrDer: nonEmpty(byteStringArg(args, 3, "CertificateRequest", MAX_CERTIFICATE_BYTES), "CertificateRequest"),
      actor: access.actorOf(call),
    });
    return [requestIdVariant(request.requestId)];
  });

  bind("StartNewKeyPairRequest", "signAndEncrypt", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId", "CertificateGroupId", "CertificateTypeId", "SubjectName", "DomainNames", "PrivateKeyFormat", "PrivateKeyPassword"]);
    const applicationId = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireRoleOrSelf(call, CA_ADMIN, applicationId);
    const request = await certificates.startNewKeyPairRequest({
      applicationId,
      group: nodes.groupOf(nodeIdArg(args, 1, "CertificateGroupId")),
      type: nodes.typeOf(nodeIdArg(args, 2, "CertificateTypeId")),
      subjectName: stringArg(args, 3, "SubjectName", 1024),
      domainNames: stringArrayArg(args, 4, "DomainNames", 32, 253),
      privateKeyFormat: stringArg(args, 5, "PrivateKeyFormat", 16),
      privateKeyPassword: stringArg(args, 6, "PrivateKeyPassword", 1024),
      actor: access.actorOf(call),
    });
    return [requestIdVariant(request.requestId)];
  });

  bind("FinishRequest", "signAndEncrypt", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId", "RequestId"]);
    const applicationId = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireRoleOrSelf(call, CA_ADMIN, applicationId);
    const requestId = guidOf(nodeIdArg(args, 1, "RequestId"), "RequestId");
    const result = await certificates.finishRequest(applicationId, requestId, access.actorOf(call));
    return [
      new Variant({ dataType: DataType.ByteString, value: result.certificate }),
      new Variant({ dataType: DataType.ByteString, value: result.privateKey ?? null }),
      new Variant({ dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: result.issuerCertificates }),
    ];
  });

  bind("GetCertificateGroups", "sign", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId"]);
    const applicationId = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireRoleOrSelf(call, CA_ADMIN, applicationId);
    const groups = certificates.certificateGroupsOf(applicationId);
    return [new Variant({ dataType: DataType.NodeId, arrayType: VariantArrayType.Array, value: groups.map((g) => nodes.groupNodeId(g)) })];
  });

  bind("GetTrustList", "sign", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId", "CertificateGroupId"]);
    const applicationId = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireRoleOrSelf(call, CA_ADMIN, applicationId);
    const group = nodes.groupOf(nodeIdArg(args, 1, "CertificateGroupId")) ?? "DefaultApplicationGroup";
    certificates.certificateGroupsOf(applicationId); // BadNotFound for an unknown application
    return [new Variant({ dataType: DataType.NodeId, value: nodes.trustListNodeId(group) })];
  });

  bind("GetCertificateStatus", "sign", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId", "CertificateGroupId", "CertificateTypeId"]);
    const applicationId = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireRoleOrSelf(call, CA_ADMIN, applicationId);
    const updateRequired = certificates.certificateStatus(applicationId, nodes.groupOf(nodeIdArg(args, 1, "CertificateGroupId")), nodes.typeOf(nodeIdArg(args, 2, "CertificateTypeId")));
    return [new Variant({ dataType: DataType.Boolean, value: updateRequired })];
  });

  bind("RevokeCertificate", "sign", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId", "Certificate"]);
    const applicationId = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireAnyRole(call, CA_ADMIN);
    const der = nonEmpty(byteStringArg(args, 1, "Certificate", MAX_CERTIFICATE_BYTES), "Certificate");
    await certificates.revokeCertificate(applicationId, der, access.actorOf(call));
  });

  bind("GetCertificates", "sign", async (args, call) => {
    expectArgumentCount(args, ["ApplicationId", "CertificateGroupId"]);
    const applicationId = codec.fromNodeId(nodeIdArg(args, 0, "ApplicationId"));
    access.requireRoleOrSelf(call, CA_ADMIN, applicationId);
    const records = certificates.certificatesOf(applicationId, nodes.groupOf(nodeIdArg(args, 1, "CertificateGroupId")));
    return [
      new Variant({ dataType: DataType.NodeId, arrayType: VariantArrayType.Array, value: records.map((r) => nodes.typeNodeId(r.type)) }),
      new Variant({ dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: records.map((r) => Buffer.from(r.der, "base64")) }),
    ];
  });

  bind("CheckRevocationStatus", "sign", async (args) => {
    expectArgumentCount(args, ["Certificate"]);
    const der = nonEmpty(byteStringArg(args, 0, "Certificate", MAX_CERTIFICATE_BYTES), "Certificate");
    const result = certificates.checkRevocationStatus(der);
    return [
      new Variant({ dataType: DataType.StatusCode, value: StatusCodes[result.status] }),
      new Variant({ dataType: DataType.DateTime, value: result.validityTime }),
    ];
  });
}

function nonEmpty(b: Buffer, name: string): Buffer {
  if (b.length === 0) throw new GdsError("BadInvalidArgument", `${name}: empty`);
  return b;
}

/** RequestIds are Guid NodeIds (as ApplicationIds); anything else is not a request of ours. */
function guidOf(nodeId: NodeId, name: string): string {
  if (nodeId.identifierType !== NodeIdType.GUID) throw new GdsError("BadInvalidArgument", `${name}: ${nodeId.toString()} is not a RequestId issued by this GDS`);
  return String(nodeId.value).toLowerCase();
}
