import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  DataType,
  LocalizedText,
  nodesets,
  NodeClass,
  OPCUACertificateManager,
  OPCUAServer,
  type UAMethod,
  type UAObject,
  type UAVariable,
} from "node-opcua";
import { generateAdminNodesetXml, writeAdminNodeset } from "../../scripts/generate-admin-nodeset.js";
import {
  ADMIN_METHODS,
  ADMIN_VARIABLES,
  ADMIN_NAMESPACE_URI,
  ADMIN_NODESET_FILE,
  ADMIN_OBJECT_BROWSE_NAME,
  ADMIN_OBJECT_ID,
} from "../../src/admin/admin-model.js";

const COMMITTED_XML = resolve("nodesets", ADMIN_NODESET_FILE);

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => ok(port));
    });
  });
}

describe("admin nodeset", () => {
  let tmp: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "gds-admin-nodeset-"));
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it("is up to date (run `npm run build && npx node dist/scripts/generate-admin-nodeset.js`)", () => {
    const file = writeAdminNodeset(join(tmp, ADMIN_NODESET_FILE));
    expect(readFileSync(file).equals(readFileSync(COMMITTED_XML))).toBe(true);
  });

  it("carries each method's Description", () => {
    const xml = readFileSync(COMMITTED_XML, "utf8");
    for (const m of ADMIN_METHODS) {
      expect(xml).toContain(`BrowseName="1:${m.name}" ParentNodeId="ns=1;i=${ADMIN_OBJECT_ID}">`);
      expect(xml).toContain(`<DisplayName>${m.name}</DisplayName>\n    <Description>${m.description.replace(/&/g, "&amp;")}</Description>`);
    }
  });

  it("refuses a table with colliding NodeIds", () => {
    const [first] = ADMIN_METHODS;
    expect(() => generateAdminNodesetXml([first, { ...first, name: "Other", id: first.id + 1 }])).toThrow(/collides/);
    // a variable on a method's argument NodeId, and two variables with one name
    expect(() => generateAdminNodesetXml([first], [{ name: "V", id: first.id + 2, dataType: "UInt32", description: "" }])).toThrow(/collides/);
    const [v] = ADMIN_VARIABLES;
    expect(() => generateAdminNodesetXml([first], [v, { ...v, id: 1399 }])).toThrow(/duplicate/);
  });

  it("keeps the variables in their id range (1300–1399) with their Description", () => {
    const xml = readFileSync(COMMITTED_XML, "utf8");
    expect(ADMIN_VARIABLES.length).toBeGreaterThanOrEqual(4);
    for (const v of ADMIN_VARIABLES) {
      expect(v.id).toBeGreaterThanOrEqual(1300);
      expect(v.id).toBeLessThanOrEqual(1399);
      expect(xml).toContain(`<UAVariable NodeId="ns=1;i=${v.id}" BrowseName="1:${v.name}" ParentNodeId="ns=1;i=${ADMIN_OBJECT_ID}" DataType="${v.dataType}"`);
      expect(xml).toContain(`<DisplayName>${v.name}</DisplayName>\n    <Description>${v.description.replace(/&/g, "&amp;").replace(/'/g, "&apos;")}</Description>`);
    }
    // the figures the issue names are there
    expect(ADMIN_VARIABLES.map((v) => v.name)).toEqual(expect.arrayContaining(["ApplicationCount", "PendingRequestCount", "ExpiringCertificateCount", "FailedPushCount"]));
  });

  it("loads into a node-opcua server with the object, every method and its arguments", async () => {
    const server = new OPCUAServer({
      port: await freePort(),
      nodeset_filename: [nodesets.standard, COMMITTED_XML],
      serverCertificateManager: new OPCUACertificateManager({
        rootFolder: join(tmp, "server-pki"),
        automaticallyAcceptUnknownCertificate: true,
      }),
      userCertificateManager: new OPCUACertificateManager({
        rootFolder: join(tmp, "user-pki"),
        automaticallyAcceptUnknownCertificate: true,
      }),
    });
    try {
      await server.initialize();
      const addressSpace = server.engine.addressSpace!;
      const ns = addressSpace.getNamespaceIndex(ADMIN_NAMESPACE_URI);
      expect(ns).toBeGreaterThan(0);

      const admin = addressSpace.findNode(`ns=${ns};i=${ADMIN_OBJECT_ID}`) as UAObject | null;
      expect(admin?.nodeClass).toBe(NodeClass.Object);
      expect(admin!.browseName.toString()).toBe(`${ns}:${ADMIN_OBJECT_BROWSE_NAME}`);
      expect(admin!.typeDefinitionObj.nodeId.toString()).toBe("ns=0;i=58");
      expect(admin!.description?.text).toBeTruthy();
      const objectsFolder = addressSpace.rootFolder.objects;
      expect(objectsFolder.getFolderElementByName(ADMIN_OBJECT_BROWSE_NAME, ns)?.nodeId.toString()).toBe(
        admin!.nodeId.toString(),
      );

      for (const m of ADMIN_METHODS) {
        const method = admin!.getMethodByName(m.name, ns) as UAMethod | null;
        expect(method?.nodeId.toString()).toBe(`ns=${ns};i=${m.id}`);
        // node-opcua 2.186's loader drops a UAMethod's <Description> (NodesetRecordApplier.applyNode,
        // NodeClass.Method); the file carries it for other tools, checked in the next test.

        const inputs = method!.getInputArguments();
        const outputs = method!.getOutputArguments();
        expect(inputs.map((a) => a.name)).toEqual(m.inputs.map((a) => a.name));
        expect(outputs.map((a) => a.name)).toEqual(m.outputs.map((a) => a.name));
        expect(method!.inputArguments?.nodeId.toString()).toBe(m.inputs.length ? `ns=${ns};i=${m.id + 1}` : undefined);
        expect(method!.outputArguments?.nodeId.toString()).toBe(m.outputs.length ? `ns=${ns};i=${m.id + 2}` : undefined);

        [...m.inputs, ...m.outputs].forEach((expected, i) => {
          const actual = [...inputs, ...outputs][i];
          const dataType = expected.type.replace("[]", "") as keyof typeof DataType;
          expect(actual.dataType.toString()).toBe(`ns=0;i=${DataType[dataType]}`);
          expect(actual.valueRank).toBe(expected.type.endsWith("[]") ? 1 : -1);
          expect(actual.description).toEqual(new LocalizedText({ locale: "en", text: expected.description }));
        });
      }

      for (const v of ADMIN_VARIABLES) {
        const variable = addressSpace.findNode(`ns=${ns};i=${v.id}`) as UAVariable | null;
        expect(variable?.nodeClass).toBe(NodeClass.Variable);
        expect(variable!.browseName.toString()).toBe(`${ns}:${v.name}`);
        expect(variable!.parent?.nodeId.toString()).toBe(admin!.nodeId.toString());
        expect(variable!.typeDefinitionObj.nodeId.toString()).toBe("ns=0;i=63");
        expect(variable!.dataType.toString()).toBe(`ns=0;i=${DataType[v.dataType]}`);
        expect(variable!.valueRank).toBe(-1);
        expect(variable!.accessLevel).toBe(1); // CurrentRead only
        expect(variable!.description?.text).toBe(v.description);
        expect(admin!.getComponentByName(v.name, ns)?.nodeId.toString()).toBe(variable!.nodeId.toString());
      }
    } finally {
      await server.shutdown();
    }
  });
});
