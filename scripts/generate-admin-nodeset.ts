/**
 * Writes nodesets/opcua-gds-admin.NodeSet2.xml from the ADMIN_METHODS and ADMIN_VARIABLES tables
 * in src/admin/admin-model.ts, so the nodeset, the server binding and the CLI cannot drift.
 *
 *   npm run build && npx node dist/scripts/generate-admin-nodeset.js [output-file]
 *
 * The output is deterministic (no timestamps taken from the clock): test/unit/admin-nodeset.test.ts
 * regenerates it and compares it byte for byte with the committed file.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  ADMIN_METHODS,
  ADMIN_VARIABLES,
  ADMIN_NAMESPACE_URI,
  ADMIN_NODESET_FILE,
  ADMIN_OBJECT_BROWSE_NAME,
  ADMIN_OBJECT_ID,
  type AdminArgType,
  type AdminArgument,
  type AdminMethod,
  type AdminVariable,
  type AdminVariableType,
} from "../src/admin/admin-model.js";

/**
 * Version of our admin model; bump it (and regenerate) when the tables change. 1.2.0: the
 * operations methods (1200–1299) and the figure variables (1300–1399).
 */
export const ADMIN_MODEL_VERSION = "1.2.0";
export const ADMIN_MODEL_PUBLICATION_DATE = "2026-11-25T00:00:00Z";
/** The OPC UA base model we build on: any 1.05.x nodeset satisfies it. */
const UA_MODEL = {
  uri: "http://opcfoundation.org/UA/",
  xmlSchemaUri: "http://opcfoundation.org/UA/2008/02/Types.xsd",
  version: "1.05.00",
  publicationDate: "2021-11-15T00:00:00Z",
};

const OBJECT_DESCRIPTION =
  "Administration of the opcua-gds server: applications, users and certificate requests. Every method requires an authenticated " +
  "user with the matching role and a SignAndEncrypt channel. The variables show the server's figures (counts, start time) to any session.";

/** Default output: nodesets/<ADMIN_NODESET_FILE> under the current directory (npm runs scripts at the package root). */
export const DEFAULT_ADMIN_NODESET_PATH = resolve("nodesets", ADMIN_NODESET_FILE);

const VARIABLE_DATA_TYPE_IDS: Record<AdminVariableType, string> = {
  UInt32: "i=7",
  DateTime: "i=13",
};

const DATA_TYPE_IDS: Record<AdminArgType, string> = {
  String: "i=12",
  "String[]": "i=12",
  Boolean: "i=1",
  UInt32: "i=7",
};

function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

const adminNode = (id: number): string => `ns=1;i=${id}`;

function argumentXml(arg: AdminArgument): string[] {
  const isArray = arg.type.endsWith("[]");
  return [
    "        <ExtensionObject>",
    "          <TypeId>",
    "            <Identifier>i=297</Identifier>",
    "          </TypeId>",
    "          <Body>",
    "            <Argument>",
    `              <Name>${escapeXml(arg.name)}</Name>`,
    "              <DataType>",
    `                <Identifier>${DATA_TYPE_IDS[arg.type]}</Identifier>`,
    "              </DataType>",
    `              <ValueRank>${isArray ? 1 : -1}</ValueRank>`,
    ...(isArray
      ? ["              <ArrayDimensions>", "                <UInt32>0</UInt32>", "              </ArrayDimensions>"]
      : ["              <ArrayDimensions />"]),
    "              <Description>",
    "                <Locale>en</Locale>",
    `                <Text>${escapeXml(arg.description)}</Text>`,
    "              </Description>",
    "            </Argument>",
    "          </Body>",
    "        </ExtensionObject>",
  ];
}

function argumentsPropertyXml(
  method: AdminMethod,
  browseName: "InputArguments" | "OutputArguments",
  args: AdminArgument[],
): string[] {
  const id = method.id + (browseName === "InputArguments" ? 1 : 2);
  return [
    `  <UAVariable NodeId="${adminNode(id)}" BrowseName="${browseName}" ParentNodeId="${adminNode(method.id)}" DataType="i=296" ValueRank="1" ArrayDimensions="${args.length}">`,
    `    <DisplayName>${browseName}</DisplayName>`,
    "    <References>",
    '      <Reference ReferenceType="HasTypeDefinition">i=68</Reference>',
    `      <Reference ReferenceType="HasProperty" IsForward="false">${adminNode(method.id)}</Reference>`,
    "    </References>",
    "    <Value>",
    '      <ListOfExtensionObject xmlns="http://opcfoundation.org/UA/2008/02/Types.xsd">',
    ...args.flatMap(argumentXml),
    "      </ListOfExtensionObject>",
    "    </Value>",
    "  </UAVariable>",
  ];
}

function methodXml(method: AdminMethod): string[] {
  const properties: string[] = [];
  if (method.inputs.length > 0) {
    properties.push(`      <Reference ReferenceType="HasProperty">${adminNode(method.id + 1)}</Reference>`);
  }
  if (method.outputs.length > 0) {
    properties.push(`      <Reference ReferenceType="HasProperty">${adminNode(method.id + 2)}</Reference>`);
  }
  return [
    `  <UAMethod NodeId="${adminNode(method.id)}" BrowseName="1:${escapeXml(method.name)}" ParentNodeId="${adminNode(ADMIN_OBJECT_ID)}">`,
    `    <DisplayName>${escapeXml(method.name)}</DisplayName>`,
    `    <Description>${escapeXml(method.description)}</Description>`,
    "    <References>",
    ...properties,
    `      <Reference ReferenceType="HasComponent" IsForward="false">${adminNode(ADMIN_OBJECT_ID)}</Reference>`,
    "    </References>",
    "  </UAMethod>",
    ...(method.inputs.length > 0 ? argumentsPropertyXml(method, "InputArguments", method.inputs) : []),
    ...(method.outputs.length > 0 ? argumentsPropertyXml(method, "OutputArguments", method.outputs) : []),
  ];
}

/** A read-only BaseDataVariable of the admin object; its value is bound at run time. */
function variableXml(variable: AdminVariable): string[] {
  return [
    `  <UAVariable NodeId="${adminNode(variable.id)}" BrowseName="1:${escapeXml(variable.name)}" ParentNodeId="${adminNode(ADMIN_OBJECT_ID)}" DataType="${variable.dataType}" AccessLevel="1" UserAccessLevel="1" MinimumSamplingInterval="1000">`,
    `    <DisplayName>${escapeXml(variable.name)}</DisplayName>`,
    `    <Description>${escapeXml(variable.description)}</Description>`,
    "    <References>",
    '      <Reference ReferenceType="HasTypeDefinition">i=63</Reference>',
    `      <Reference ReferenceType="HasComponent" IsForward="false">${adminNode(ADMIN_OBJECT_ID)}</Reference>`,
    "    </References>",
    "  </UAVariable>",
  ];
}

/** Checks the table for mistakes that would produce a broken nodeset (duplicate or overlapping ids). */
function checkMethods(methods: readonly AdminMethod[], variables: readonly AdminVariable[] = []): void {
  const used = new Map<number, string>([[ADMIN_OBJECT_ID, ADMIN_OBJECT_BROWSE_NAME]]);
  const claim = (id: number, owner: string) => {
    const other = used.get(id);
    if (other !== undefined) {
      throw new Error(`admin nodeset: NodeId ns=1;i=${id} of ${owner} collides with ${other}`);
    }
    used.set(id, owner);
  };
  const names = new Set<string>();
  for (const m of methods) {
    if (names.has(m.name)) {
      throw new Error(`admin nodeset: duplicate method name ${m.name}`);
    }
    names.add(m.name);
    claim(m.id, m.name);
    claim(m.id + 1, `${m.name}.InputArguments`);
    claim(m.id + 2, `${m.name}.OutputArguments`);
    for (const a of [...m.inputs, ...m.outputs]) {
      if (!(a.type in DATA_TYPE_IDS)) {
        throw new Error(`admin nodeset: ${m.name}.${a.name} has unsupported type ${a.type}`);
      }
    }
  }
  for (const v of variables) {
    if (names.has(v.name)) {
      throw new Error(`admin nodeset: duplicate name ${v.name}`);
    }
    names.add(v.name);
    claim(v.id, v.name);
    if (!(v.dataType in VARIABLE_DATA_TYPE_IDS)) {
      throw new Error(`admin nodeset: variable ${v.name} has unsupported type ${v.dataType}`);
    }
  }
}

/** The complete UANodeSet XML of the admin namespace (namespace index 1 in the file). */
export function generateAdminNodesetXml(methods: readonly AdminMethod[] = ADMIN_METHODS, variables: readonly AdminVariable[] = ADMIN_VARIABLES): string {
  checkMethods(methods, variables);
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    "<!-- Generated by scripts/generate-admin-nodeset.ts from src/admin/admin-model.ts. Do not edit. -->",
    `<UANodeSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" LastModified="${ADMIN_MODEL_PUBLICATION_DATE}" xmlns="http://opcfoundation.org/UA/2011/03/UANodeSet.xsd">`,
    "  <NamespaceUris>",
    `    <Uri>${escapeXml(ADMIN_NAMESPACE_URI)}</Uri>`,
    "  </NamespaceUris>",
    "  <Models>",
    `    <Model ModelUri="${escapeXml(ADMIN_NAMESPACE_URI)}" Version="${ADMIN_MODEL_VERSION}" PublicationDate="${ADMIN_MODEL_PUBLICATION_DATE}">`,
    `      <RequiredModel ModelUri="${UA_MODEL.uri}" XmlSchemaUri="${UA_MODEL.xmlSchemaUri}" Version="${UA_MODEL.version}" PublicationDate="${UA_MODEL.publicationDate}" />`,
    "    </Model>",
    "  </Models>",
    "  <Aliases>",
    '    <Alias Alias="Boolean">i=1</Alias>',
    '    <Alias Alias="UInt32">i=7</Alias>',
    '    <Alias Alias="DateTime">i=13</Alias>',
    '    <Alias Alias="String">i=12</Alias>',
    '    <Alias Alias="Organizes">i=35</Alias>',
    '    <Alias Alias="HasTypeDefinition">i=40</Alias>',
    '    <Alias Alias="HasProperty">i=46</Alias>',
    '    <Alias Alias="HasComponent">i=47</Alias>',
    '    <Alias Alias="Argument">i=296</Alias>',
    "  </Aliases>",
    `  <UAObject NodeId="${adminNode(ADMIN_OBJECT_ID)}" BrowseName="1:${escapeXml(ADMIN_OBJECT_BROWSE_NAME)}">`,
    `    <DisplayName>${escapeXml(ADMIN_OBJECT_BROWSE_NAME)}</DisplayName>`,
    `    <Description>${escapeXml(OBJECT_DESCRIPTION)}</Description>`,
    "    <References>",
    ...methods.map((m) => `      <Reference ReferenceType="HasComponent">${adminNode(m.id)}</Reference>`),
    ...variables.map((v) => `      <Reference ReferenceType="HasComponent">${adminNode(v.id)}</Reference>`),
    '      <Reference ReferenceType="HasTypeDefinition">i=58</Reference>',
    '      <Reference ReferenceType="Organizes" IsForward="false">i=85</Reference>',
    "    </References>",
    "  </UAObject>",
    ...methods.flatMap(methodXml),
    ...variables.flatMap(variableXml),
    "</UANodeSet>",
  ];
  return lines.join("\n") + "\n";
}

export function writeAdminNodeset(file: string = DEFAULT_ADMIN_NODESET_PATH): string {
  writeFileSync(file, generateAdminNodesetXml(), "utf8");
  return file;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const file = writeAdminNodeset(process.argv[2] ? resolve(process.argv[2]) : DEFAULT_ADMIN_NODESET_PATH);
  console.log(`wrote ${file}`);
}
