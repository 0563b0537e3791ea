import { beforeEach, describe, expect, it } from "@jest/globals";
import type { ApplicationRecord } from "../../src/directory/application-record.js";
import {
  APPLICATIONS_COLLECTION,
  DIRECTORY_META_KEY,
  DirectoryService,
  META_COLLECTION,
} from "../../src/directory/directory-service.js";
import type { QueryApplicationsRequest, QueryServersRequest } from "../../src/directory/directory-service.types.js";
import { GdsError, type GdsStatusName } from "../../src/errors.js";
import { MemoryStore } from "./helpers/memory-store.js";
import { rejectsGdsError, throwsGdsError } from "./helpers/gds-error.js";
import { ManualClock } from "./helpers/manual-clock.js";

const RESET_TIME = new Date("2026-01-01T00:00:00.000Z");
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function app(n: number | string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    applicationUri: `urn:test:server:${n}`,
    applicationType: 0,
    applicationNames: [{ locale: "en", text: `Server ${n}` }],
    productUri: `http://example.com/product/${n}`,
    discoveryUrls: [`opc.tcp://host${n}:4840`],
    serverCapabilities: ["DA"],
    ...overrides,
  };
}

function client(n: number | string, rcp: boolean): Record<string, unknown> {
  return app(`client${n}`, {
    applicationType: 1,
    applicationNames: [{ locale: "en", text: `Client ${n}` }],
    discoveryUrls: rcp ? [`rcp+opc.tcp://client${n}:4841`] : [],
    serverCapabilities: rcp ? ["RCP"] : [],
  });
}

function appsQuery(overrides: Partial<QueryApplicationsRequest> = {}): QueryApplicationsRequest {
  return {
    startingRecordId: 0,
    maxRecordsToReturn: 0,
    applicationName: "",
    applicationUri: "",
    applicationType: 0,
    productUri: "",
    serverCapabilities: [],
    ...overrides,
  };
}

function serversQuery(overrides: Partial<QueryServersRequest> = {}): QueryServersRequest {
  return {
    startingRecordId: 0,
    maxRecordsToReturn: 0,
    applicationName: "",
    applicationUri: "",
    productUri: "",
    serverCapabilities: [],
    ...overrides,
  };
}

const rejectsWith = (p: Promise<unknown>, status: GdsStatusName, fragment?: string) => rejectsGdsError(p, status, ...(fragment ? [fragment] : []));
const throwsWith = (fn: () => unknown, status: GdsStatusName, fragment?: string) => throwsGdsError(fn, status, ...(fragment ? [fragment] : []));

let store: MemoryStore;
let clock: ManualClock;
let dir: DirectoryService;

async function newDirectory(): Promise<DirectoryService> {
  const d = new DirectoryService({ store, clock, counterResetTime: RESET_TIME });
  await d.init();
  return d;
}

beforeEach(async () => {
  store = new MemoryStore();
  clock = new ManualClock(Date.parse("2026-03-01T10:00:00.000Z"));
  dir = await newDirectory();
});

describe("DirectoryService: lifecycle", () => {
  it("refuses calls before init()", async () => {
    const d = new DirectoryService({ store, clock, counterResetTime: RESET_TIME });
    throwsWith(() => d.list(), "BadInvalidState");
    throwsWith(() => d.get("00000000-0000-0000-0000-000000000000"), "BadInvalidState");
    await rejectsWith(d.register(app(1)), "BadInvalidState");
  });

  it("starts empty", () => {
    expect(dir.count()).toBe(0);
    expect(dir.list()).toEqual([]);
    expect(dir.queryApplications(appsQuery())).toEqual({
      lastCounterResetTime: RESET_TIME,
      nextRecordId: 0,
      applications: [],
    });
  });
});

describe("DirectoryService.register", () => {
  it("assigns a GUID and recordId, stamps times and commits record + counter in one batch", async () => {
    const r = await dir.register(app(1, { applicationId: "should-be-ignored" }));
    expect(r.applicationId).toMatch(GUID);
    expect(r.recordId).toBe(1);
    expect(r.createdAt).toBe("2026-03-01T10:00:00.000Z");
    expect(r.updatedAt).toBe(r.createdAt);
    expect(r.applicationUri).toBe("urn:test:server:1");
    expect(store.commits).toHaveLength(1);
    expect(store.commits[0]).toEqual([
      { collection: APPLICATIONS_COLLECTION, key: r.applicationId, value: { ...r } },
      { collection: META_COLLECTION, key: DIRECTORY_META_KEY, value: { lastRecordId: 1 } },
    ]);
    const r2 = await dir.register(app(2));
    expect(r2.recordId).toBe(2);
    expect(r2.applicationId).not.toBe(r.applicationId);
    expect(dir.count()).toBe(2);
  });

  it("rejects invalid input with BadInvalidArgument and commits nothing", async () => {
    await rejectsWith(dir.register(app(1, { applicationUri: "not a uri" })), "BadInvalidArgument", "ApplicationUri:");
    await rejectsWith(dir.register(null), "BadInvalidArgument");
    expect(store.commits).toHaveLength(0);
    expect(dir.count()).toBe(0);
  });

  it("rejects a duplicate ApplicationUri, case-insensitively, with BadEntryExists", async () => {
    const first = await dir.register(app(1));
    const err = await rejectsWith(dir.register(app(1, { productUri: "http://other" })), "BadEntryExists", "ApplicationUri:");
    expect(err.message).toContain(first.applicationId);
    await rejectsWith(dir.register(app(1, { applicationUri: "URN:TEST:SERVER:1" })), "BadEntryExists");
    expect(dir.count()).toBe(1);
  });

  it("lets exactly one of concurrent registrations of the same URI succeed", async () => {
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => dir.register(app(1))));
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(4);
    for (const f of failed) expect((f.reason as GdsError).statusName).toBe("BadEntryExists");
    expect(dir.count()).toBe(1);
    expect((await store.values(APPLICATIONS_COLLECTION)).length).toBe(1);
  });

  it("gives concurrent registrations distinct, strictly increasing record ids", async () => {
    const records = await Promise.all(Array.from({ length: 20 }, (_, i) => dir.register(app(i))));
    const ids = records.map((r) => r.recordId);
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(dir.list().map((r) => r.recordId)).toEqual(ids);
  });

  it("leaves the directory unchanged when the commit fails", async () => {
    await dir.register(app(1));
    store.failNextCommit = new Error("disk full");
    await expect(dir.register(app(2))).rejects.toThrow("disk full");
    expect(dir.count()).toBe(1);
    expect(dir.findByUri("urn:test:server:2")).toEqual([]);
    const r = await dir.register(app(2));
    expect(r.recordId).toBe(2);
  });

  it("returns records that cannot be used to change the directory", async () => {
    const r = await dir.register(app(1));
    expect(Object.isFrozen(r)).toBe(true);
    expect(() => {
      (r as { applicationUri: string }).applicationUri = "urn:hacked";
    }).toThrow(TypeError);
    expect(() => r.discoveryUrls.push("opc.tcp://evil:1")).toThrow(TypeError);
    expect(() => {
      (r.applicationNames[0] as { text: string }).text = "hacked";
    }).toThrow(TypeError);
    const listed = dir.list();
    listed.pop();
    expect(dir.count()).toBe(1);
    const got = dir.get(r.applicationId);
    expect(got.applicationUri).toBe("urn:test:server:1");
    expect(got.discoveryUrls).toEqual(["opc.tcp://host1:4840"]);
  });
});

describe("DirectoryService.get", () => {
  it("returns a registered record, accepting upper-case GUIDs", async () => {
    const r = await dir.register(app(1));
    expect(dir.get(r.applicationId)).toEqual(r);
    expect(dir.get(r.applicationId.toUpperCase())).toEqual(r);
  });

  it("answers BadNotFound for unknown or malformed ids", async () => {
    await dir.register(app(1));
    throwsWith(() => dir.get("3f2504e0-4f89-11d3-9a0c-0305e82c3301"), "BadNotFound");
    for (const id of ["", "not-a-guid", "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}", "3f2504e04f8911d39a0c0305e82c3301", "x".repeat(1_000_000)]) {
      throwsWith(() => dir.get(id), "BadNotFound");
    }
    throwsWith(() => dir.get(null as unknown as string), "BadNotFound");
    throwsWith(() => dir.get(42 as unknown as string), "BadNotFound");
  });
});

describe("DirectoryService.findByUri", () => {
  it("finds 0 or 1 record, case-insensitively", async () => {
    const r = await dir.register(app(1));
    await dir.register(app(2));
    expect(dir.findByUri("urn:test:server:1")).toEqual([r]);
    expect(dir.findByUri("URN:Test:Server:1")).toEqual([r]);
    expect(dir.findByUri("urn:test:server:3")).toEqual([]);
    // FindApplications is not a LIKE query: a bare % is just an invalid URI.
    throwsWith(() => dir.findByUri("urn:test:server:%"), "BadInvalidArgument", "malformed %-escape");
  });

  it("rejects empty, over-long and non-URI arguments with BadInvalidArgument", () => {
    throwsWith(() => dir.findByUri(""), "BadInvalidArgument", "ApplicationUri:");
    throwsWith(() => dir.findByUri("urn:" + "a".repeat(2000)), "BadInvalidArgument", "longer than 1024");
    throwsWith(() => dir.findByUri("no scheme"), "BadInvalidArgument");
    throwsWith(() => dir.findByUri(null as unknown as string), "BadInvalidArgument");
  });
});

describe("DirectoryService.update", () => {
  it("replaces the fields, renews recordId and updatedAt and keeps id and createdAt", async () => {
    const a = await dir.register(app(1));
    const b = await dir.register(app(2));
    clock.advance(60_000);
    const u = await dir.update(a.applicationId, app(1, { applicationNames: [{ locale: "de", text: "Neu" }], serverCapabilities: ["HD"] }));
    expect(u.applicationId).toBe(a.applicationId);
    expect(u.recordId).toBe(3);
    expect(u.createdAt).toBe(a.createdAt);
    expect(u.updatedAt).toBe("2026-03-01T10:01:00.000Z");
    expect(u.applicationNames).toEqual([{ locale: "de", text: "Neu" }]);
    expect(u.serverCapabilities).toEqual(["HD"]);
    expect(dir.get(a.applicationId)).toEqual(u);
    // Moves to the end of the paging order.
    expect(dir.list().map((r) => r.applicationId)).toEqual([b.applicationId, a.applicationId]);
    expect(dir.queryApplications(appsQuery()).applications.map((r) => r.recordId)).toEqual([2, 3]);
    expect(dir.count()).toBe(2);
    expect(store.commits.at(-1)).toEqual([
      { collection: APPLICATIONS_COLLECTION, key: a.applicationId, value: { ...u } },
      { collection: META_COLLECTION, key: DIRECTORY_META_KEY, value: { lastRecordId: 3 } },
    ]);
  });

  it("accepts the id in upper case and ignores an applicationId in the input", async () => {
    const a = await dir.register(app(1));
    const u = await dir.update(a.applicationId.toUpperCase(), app(1, { applicationId: "other" }));
    expect(u.applicationId).toBe(a.applicationId);
  });

  it("answers BadNotFound for an unknown id, before looking at the input", async () => {
    await rejectsWith(dir.update("3f2504e0-4f89-11d3-9a0c-0305e82c3301", app(1)), "BadNotFound");
    await rejectsWith(dir.update("junk", app(1)), "BadNotFound");
    await rejectsWith(dir.update("3f2504e0-4f89-11d3-9a0c-0305e82c3301", { applicationUri: "bad" }), "BadNotFound");
  });

  it("answers BadInvalidArgument for invalid input", async () => {
    const a = await dir.register(app(1));
    await rejectsWith(dir.update(a.applicationId, app(1, { applicationType: 9 })), "BadInvalidArgument", "ApplicationType:");
    expect(dir.get(a.applicationId)).toEqual(a);
  });

  it("answers BadWriteNotSupported when the ApplicationUri changes, even only in case", async () => {
    const a = await dir.register(app(1));
    await rejectsWith(dir.update(a.applicationId, app(1, { applicationUri: "urn:test:server:1update" })), "BadWriteNotSupported", "ApplicationUri:");
    await rejectsWith(dir.update(a.applicationId, app(1, { applicationUri: "URN:test:server:1" })), "BadWriteNotSupported");
    expect(dir.get(a.applicationId)).toEqual(a);
  });
});

describe("DirectoryService.unregister", () => {
  it("removes and returns the record; a second unregister is BadNotFound", async () => {
    const a = await dir.register(app(1));
    const b = await dir.register(app(2));
    const removed = await dir.unregister(a.applicationId);
    expect(removed).toEqual(a);
    expect(dir.count()).toBe(1);
    throwsWith(() => dir.get(a.applicationId), "BadNotFound");
    expect(dir.findByUri("urn:test:server:1")).toEqual([]);
    expect(dir.list()).toEqual([b]);
    expect(await store.get(APPLICATIONS_COLLECTION, a.applicationId)).toBeUndefined();
    await rejectsWith(dir.unregister(a.applicationId), "BadNotFound");
    await rejectsWith(dir.unregister("nope"), "BadNotFound");
    // The URI can be registered again, with a fresh id.
    const again = await dir.register(app(1));
    expect(again.applicationId).not.toBe(a.applicationId);
    expect(again.recordId).toBe(3);
  });

  it("runs onUnregister listeners before the delete is committed", async () => {
    const a = await dir.register(app(1));
    const seen: string[] = [];
    dir.onUnregister(async (record) => {
      seen.push(`first:${record.applicationId}`);
      expect(await store.get(APPLICATIONS_COLLECTION, record.applicationId)).toBeDefined();
    });
    dir.onUnregister(async (record) => {
      seen.push(`second:${record.applicationUri}`);
    });
    await dir.unregister(a.applicationId);
    expect(seen).toEqual([`first:${a.applicationId}`, "second:urn:test:server:1"]);
  });

  it("fails and keeps the record when a listener throws", async () => {
    const a = await dir.register(app(1));
    const off = dir.onUnregister(async () => {
      throw new GdsError("BadInternalError", "revocation failed");
    });
    await rejectsWith(dir.unregister(a.applicationId), "BadInternalError", "revocation failed");
    expect(dir.get(a.applicationId)).toEqual(a);
    expect(await store.get(APPLICATIONS_COLLECTION, a.applicationId)).toBeDefined();
    off();
    await dir.unregister(a.applicationId);
    expect(dir.count()).toBe(0);
  });

  it("keeps the record when the delete commit fails", async () => {
    const a = await dir.register(app(1));
    store.failNextCommit = new Error("io");
    await expect(dir.unregister(a.applicationId)).rejects.toThrow("io");
    expect(dir.get(a.applicationId)).toEqual(a);
  });
});

describe("DirectoryService: persistence", () => {
  it("a new service on the same store sees the same records and ids", async () => {
    const a = await dir.register(app(1));
    const b = await dir.register(app(2, { applicationType: 3, serverCapabilities: ["LDS"] }));
    const u = await dir.update(a.applicationId, app(1, { productUri: "urn:p" }));
    const again = await newDirectory();
    expect(again.list()).toEqual([b, u]);
    expect(again.get(a.applicationId)).toEqual(u);
    expect(again.findByUri("URN:TEST:SERVER:2")).toEqual([b]);
    await rejectsWith(again.register(app(2)), "BadEntryExists");
    expect((await again.register(app(3))).recordId).toBe(4);
  });

  it("never reuses record ids after the newest record is unregistered", async () => {
    await dir.register(app(1));
    const newest = await dir.register(app(2));
    await dir.unregister(newest.applicationId);
    const again = await newDirectory();
    const r = await again.register(app(3));
    expect(r.recordId).toBe(3);
  });

  it("takes the highest recordId in the store if the counter is behind", async () => {
    await dir.register(app(1));
    await dir.register(app(2));
    await store.commit([{ collection: META_COLLECTION, key: DIRECTORY_META_KEY, value: { lastRecordId: 1 } }]);
    const again = await newDirectory();
    expect((await again.register(app(3))).recordId).toBe(3);
  });

  it("refuses to load a store holding two records with the same ApplicationUri", async () => {
    const a = await dir.register(app(1));
    const twin: ApplicationRecord = { ...a, applicationId: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", applicationUri: "URN:test:server:1", recordId: 9 };
    await store.commit([{ collection: APPLICATIONS_COLLECTION, key: twin.applicationId, value: twin }]);
    const d = new DirectoryService({ store, clock, counterResetTime: RESET_TIME });
    await rejectsWith(d.init(), "BadConfigurationError", "share ApplicationUri");
  });
});

describe("DirectoryService.queryApplications: filters", () => {
  let s1: ApplicationRecord;
  let s2: ApplicationRecord;
  let cs: ApplicationRecord;
  let ds: ApplicationRecord;
  let rcpClient: ApplicationRecord;

  beforeEach(async () => {
    s1 = await dir.register(
      app("alpha", {
        applicationNames: [{ locale: "en", text: "Alpha Server" }, { locale: "de", text: "Zweitname" }],
        productUri: "http://vendor-a.com/plc",
        serverCapabilities: ["DA", "HD"],
      }),
    );
    s2 = await dir.register(app("beta", { productUri: "http://vendor-b.com/scada", serverCapabilities: ["DA"] }));
    cs = await dir.register(
      app("gamma", {
        applicationType: 2,
        discoveryUrls: ["opc.tcp://gamma:4840", "rcp+opc.tcp://gamma:4840"],
        serverCapabilities: ["RCP", "AC"],
      }),
    );
    ds = await dir.register(app("lds", { applicationType: 3, serverCapabilities: ["LDS"] }));
    await dir.register(client(1, false));
    rcpClient = await dir.register(client(2, true));
  });

  const ids = (rs: ApplicationRecord[]): number[] => rs.map((r) => r.recordId);

  it("returns everything (except clients without RCP) with no filter", () => {
    const res = dir.queryApplications(appsQuery());
    expect(ids(res.applications)).toEqual(ids([s1, s2, cs, ds, rcpClient]));
    expect(res.nextRecordId).toBe(0);
    expect(res.lastCounterResetTime).toEqual(RESET_TIME);
  });

  it("filters by ApplicationType mask", () => {
    expect(ids(dir.queryApplications(appsQuery({ applicationType: 0 })).applications)).toEqual(ids([s1, s2, cs, ds, rcpClient]));
    expect(ids(dir.queryApplications(appsQuery({ applicationType: 1 })).applications)).toEqual(ids([s1, s2, cs, ds]));
    expect(ids(dir.queryApplications(appsQuery({ applicationType: 2 })).applications)).toEqual(ids([cs, rcpClient]));
    expect(ids(dir.queryApplications(appsQuery({ applicationType: 3 })).applications)).toEqual(ids([s1, s2, cs, ds, rcpClient]));
    throwsWith(() => dir.queryApplications(appsQuery({ applicationType: 4 })), "BadInvalidArgument", "ApplicationType:");
    throwsWith(() => dir.queryApplications(appsQuery({ applicationType: -1 })), "BadInvalidArgument", "ApplicationType:");
  });

  it("matches ApplicationName (default name only) with LIKE, case-insensitively", () => {
    expect(ids(dir.queryApplications(appsQuery({ applicationName: "Alpha Server" })).applications)).toEqual(ids([s1]));
    expect(ids(dir.queryApplications(appsQuery({ applicationName: "alpha%" })).applications)).toEqual(ids([s1]));
    expect(ids(dir.queryApplications(appsQuery({ applicationName: "Serve%" })).applications)).toEqual(ids([s2, cs, ds]));
    expect(ids(dir.queryApplications(appsQuery({ applicationName: "Zweitname" })).applications)).toEqual([]);
    expect(ids(dir.queryApplications(appsQuery({ applicationName: "Client _" })).applications)).toEqual(ids([rcpClient]));
  });

  it("matches ApplicationUri and ProductUri with LIKE", () => {
    expect(ids(dir.queryApplications(appsQuery({ applicationUri: "urn:test:server:beta" })).applications)).toEqual(ids([s2]));
    expect(ids(dir.queryApplications(appsQuery({ applicationUri: "URN:TEST:SERVER:[a-g]%" })).applications)).toEqual(ids([s1, s2, cs, rcpClient]));
    expect(ids(dir.queryApplications(appsQuery({ productUri: "%vendor-_.com%" })).applications)).toEqual(ids([s1, s2]));
    expect(ids(dir.queryApplications(appsQuery({ productUri: "%scada" })).applications)).toEqual(ids([s2]));
  });

  it("requires every requested capability, case-insensitively", () => {
    expect(ids(dir.queryApplications(appsQuery({ serverCapabilities: ["DA"] })).applications)).toEqual(ids([s1, s2]));
    expect(ids(dir.queryApplications(appsQuery({ serverCapabilities: ["da", "hd"] })).applications)).toEqual(ids([s1]));
    expect(ids(dir.queryApplications(appsQuery({ serverCapabilities: ["rcp"] })).applications)).toEqual(ids([cs, rcpClient]));
    expect(ids(dir.queryApplications(appsQuery({ serverCapabilities: ["DA", "XX"] })).applications)).toEqual([]);
    expect(ids(dir.queryApplications(appsQuery({ serverCapabilities: ["NA"] })).applications)).toEqual([]);
    expect(ids(dir.queryApplications(appsQuery({ serverCapabilities: [""] })).applications)).toHaveLength(5);
    throwsWith(() => dir.queryApplications(appsQuery({ serverCapabilities: ["NA", "DA"] })), "BadInvalidArgument", "NA");
    throwsWith(
      () => dir.queryApplications(appsQuery({ serverCapabilities: new Array(65).fill("DA") })),
      "BadInvalidArgument",
      "at most 64",
    );
  });

  it("ANDs the filters", () => {
    expect(
      ids(dir.queryApplications(appsQuery({ applicationName: "%Server", productUri: "%vendor%", serverCapabilities: ["HD"] })).applications),
    ).toEqual(ids([s1]));
    expect(
      ids(dir.queryApplications(appsQuery({ applicationName: "Server%", applicationType: 2 })).applications),
    ).toEqual(ids([cs]));
  });

  it("treats null filter values like empty ones", () => {
    const res = dir.queryApplications({
      startingRecordId: null,
      maxRecordsToReturn: null,
      applicationName: null,
      applicationUri: null,
      applicationType: null,
      productUri: null,
      serverCapabilities: null,
    } as unknown as QueryApplicationsRequest);
    expect(res.applications).toHaveLength(5);
  });

  it("rejects malformed LIKE patterns naming the field", () => {
    throwsWith(() => dir.queryApplications(appsQuery({ applicationName: "[abc" })), "BadInvalidArgument", "ApplicationName: LIKE pattern: unclosed '['");
    throwsWith(() => dir.queryApplications(appsQuery({ applicationUri: "urn\\" })), "BadInvalidArgument", "ApplicationUri:");
    throwsWith(() => dir.queryApplications(appsQuery({ productUri: "x".repeat(1025) })), "BadInvalidArgument", "ProductUri:");
    throwsWith(() => dir.queryServers(serversQuery({ applicationName: "[" })), "BadInvalidArgument", "ApplicationName:");
  });

  it("rejects record counters that are not UInt32", () => {
    throwsWith(() => dir.queryApplications(appsQuery({ startingRecordId: -1 })), "BadInvalidArgument", "StartingRecordId:");
    throwsWith(() => dir.queryApplications(appsQuery({ maxRecordsToReturn: 1.5 })), "BadInvalidArgument", "MaxRecordsToReturn:");
    throwsWith(() => dir.queryServers(serversQuery({ startingRecordId: 2 ** 32 })), "BadInvalidArgument", "StartingRecordId:");
  });
});

describe("DirectoryService: paging", () => {
  beforeEach(async () => {
    for (let i = 1; i <= 10; i++) await dir.register(app(i));
    // Make gaps and reorder: unregister 3, update 5 (5 → recordId 11), add a non-matching client.
    await dir.unregister(dir.findByUri("urn:test:server:3")[0]!.applicationId);
    await dir.update(dir.findByUri("urn:test:server:5")[0]!.applicationId, app(5));
    await dir.register(client(1, false)); // recordId 12, never returned
    await dir.register(app(13)); // recordId 13
  });
  const expected = [1, 2, 4, 6, 7, 8, 9, 10, 11, 13];

  it("QueryApplications: limits records and reports NextRecordId", () => {
    const page = dir.queryApplications(appsQuery({ maxRecordsToReturn: 3 }));
    expect(page.applications.map((r) => r.recordId)).toEqual([1, 2, 4]);
    expect(page.nextRecordId).toBe(6);
    const last = dir.queryApplications(appsQuery({ startingRecordId: 10, maxRecordsToReturn: 3 }));
    expect(last.applications.map((r) => r.recordId)).toEqual([10, 11, 13]);
    expect(last.nextRecordId).toBe(0); // the client at 12 does not match, so nothing follows
    const beyond = dir.queryApplications(appsQuery({ startingRecordId: 14 }));
    expect(beyond).toMatchObject({ applications: [], nextRecordId: 0 });
    const startInGap = dir.queryApplications(appsQuery({ startingRecordId: 3, maxRecordsToReturn: 1 }));
    expect(startInGap.applications.map((r) => r.recordId)).toEqual([4]);
    expect(startInGap.nextRecordId).toBe(6);
  });

  it("QueryApplications: NextRecordId skips non-matching records", () => {
    const page = dir.queryApplications(appsQuery({ applicationUri: "%:1%", maxRecordsToReturn: 1 }));
    expect(page.applications.map((r) => r.recordId)).toEqual([1]);
    expect(page.nextRecordId).toBe(10);
  });

  for (const size of [1, 2, 3, 4, 7, 100]) {
    it(`QueryApplications: walking with NextRecordId (page ${size}) visits every record once`, () => {
      const seen: number[] = [];
      let start = 0;
      for (let guard = 0; guard < 100; guard++) {
        const page = dir.queryApplications(appsQuery({ startingRecordId: start, maxRecordsToReturn: size }));
        expect(page.applications.length).toBeLessThanOrEqual(size);
        seen.push(...page.applications.map((r) => r.recordId));
        if (page.nextRecordId === 0) break;
        start = page.nextRecordId;
      }
      expect(seen).toEqual(expected);
    });

    it(`QueryApplications: walking with last RecordId + 1 (page ${size}) visits every record once`, () => {
      const seen: number[] = [];
      let start = 0;
      for (let guard = 0; guard < 100; guard++) {
        const page = dir.queryApplications(appsQuery({ startingRecordId: start, maxRecordsToReturn: size }));
        if (page.applications.length === 0) break;
        seen.push(...page.applications.map((r) => r.recordId));
        start = page.applications.at(-1)!.recordId + 1;
      }
      expect(seen).toEqual(expected);
    });

    it(`QueryServers: walking with last RecordId + 1 (page ${size}) visits every record once`, () => {
      const seen: number[] = [];
      let start = 0;
      for (let guard = 0; guard < 100; guard++) {
        const page = dir.queryServers(serversQuery({ startingRecordId: start, maxRecordsToReturn: size }));
        if (page.servers.length === 0) break;
        seen.push(...page.servers.map((s) => s.recordId));
        start = page.servers.at(-1)!.recordId + 1;
      }
      expect(seen).toEqual(expected);
    });
  }

  it("QueryServers: a one-record query per RecordId returns that record", () => {
    for (const id of expected) {
      const page = dir.queryServers(serversQuery({ startingRecordId: id, maxRecordsToReturn: 1 }));
      expect(page.servers.map((s) => s.recordId)).toEqual([id]);
    }
  });
});

describe("DirectoryService.queryServers", () => {
  it("emits one entry per non-rcp+ DiscoveryUrl, never Clients, and keeps records whole on a page", async () => {
    const a = await dir.register(
      app("a", {
        applicationNames: [{ locale: "en", text: "A" }, { locale: "de", text: "A-de" }],
        discoveryUrls: ["opc.tcp://a:4840", "https://a:443/disco"],
        serverCapabilities: ["DA", "HD"],
      }),
    );
    const cs = await dir.register(
      app("cs", {
        applicationType: 2,
        discoveryUrls: ["rcp+opc.tcp://cs:1", "opc.tcp://cs:1"],
        serverCapabilities: ["RCP"],
      }),
    );
    await dir.register(client(1, true));
    const b = await dir.register(app("b", { discoveryUrls: ["opc.tcp://b:1", "opc.tcp://b:2", "opc.tcp://b:3"] }));

    const all = dir.queryServers(serversQuery());
    expect(all.lastCounterResetTime).toEqual(RESET_TIME);
    expect(all.servers).toEqual([
      { recordId: a.recordId, serverName: "A", discoveryUrl: "opc.tcp://a:4840", serverCapabilities: ["DA", "HD"] },
      { recordId: a.recordId, serverName: "A", discoveryUrl: "https://a:443/disco", serverCapabilities: ["DA", "HD"] },
      { recordId: cs.recordId, serverName: "Server cs", discoveryUrl: "opc.tcp://cs:1", serverCapabilities: ["RCP"] },
      { recordId: b.recordId, serverName: "Server b", discoveryUrl: "opc.tcp://b:1", serverCapabilities: ["DA"] },
      { recordId: b.recordId, serverName: "Server b", discoveryUrl: "opc.tcp://b:2", serverCapabilities: ["DA"] },
      { recordId: b.recordId, serverName: "Server b", discoveryUrl: "opc.tcp://b:3", serverCapabilities: ["DA"] },
    ]);
    // The capability arrays handed out are copies.
    all.servers[0]!.serverCapabilities.push("X");
    expect(dir.get(a.applicationId).serverCapabilities).toEqual(["DA", "HD"]);

    const page = dir.queryServers(serversQuery({ maxRecordsToReturn: 1 }));
    expect(page.servers.map((s) => s.discoveryUrl)).toEqual(["opc.tcp://a:4840", "https://a:443/disco"]);
    const page2 = dir.queryServers(serversQuery({ startingRecordId: cs.recordId, maxRecordsToReturn: 2 }));
    expect(page2.servers.map((s) => s.recordId)).toEqual([cs.recordId, b.recordId, b.recordId, b.recordId]);

    expect(dir.queryServers(serversQuery({ applicationName: "Client%" })).servers).toEqual([]);
    expect(dir.queryServers(serversQuery({ applicationName: "a-de" })).servers).toEqual([]);
    expect(dir.queryServers(serversQuery({ applicationUri: "urn:test:server:_" })).servers.map((s) => s.recordId)).toEqual([
      a.recordId,
      a.recordId,
      b.recordId,
      b.recordId,
      b.recordId,
    ]);
    expect(dir.queryServers(serversQuery({ serverCapabilities: ["hd"] })).servers).toHaveLength(2);
    expect(dir.queryServers(serversQuery({ productUri: "http://example.com/product/cs" })).servers).toHaveLength(1);
    throwsWith(() => dir.queryServers(serversQuery({ serverCapabilities: ["NA", "DA"] })), "BadInvalidArgument");
  });
});

describe("DirectoryService: query cost on 10,000 records", () => {
  async function seed(n: number): Promise<DirectoryService> {
    const mutations = [];
    for (let i = 1; i <= n; i++) {
      const record: ApplicationRecord = {
        applicationId: `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
        recordId: i,
        applicationUri: `urn:plant${i % 50}:line${i % 7}:server${i}`,
        applicationType: i % 10 === 0 ? 2 : 0,
        applicationNames: [{ locale: "en", text: `Station ${i} Controller` }],
        productUri: `http://vendor${i % 13}.example.com/product/${i % 5}`,
        discoveryUrls: [`opc.tcp://station${i}.plant.local:4840/UA`, `opc.https://station${i}.plant.local:443/`],
        serverCapabilities: i % 3 === 0 ? ["DA", "HD"] : ["DA"],
        createdAt: "2026-01-01T00:00:00.000Z",
        updatedAt: "2026-01-01T00:00:00.000Z",
      };
      mutations.push({ collection: APPLICATIONS_COLLECTION, key: record.applicationId, value: record });
    }
    mutations.push({ collection: META_COLLECTION, key: DIRECTORY_META_KEY, value: { lastRecordId: n } });
    await store.commit(mutations);
    return newDirectory();
  }

  it("QueryServers with LIKE filters stays well under 50 ms", async () => {
    const big = await seed(10_000);
    expect(big.count()).toBe(10_000);
    big.queryServers(serversQuery({ applicationName: "%3_ Controller" })); // warm-up (JIT)
    const t0 = performance.now();
    const res = big.queryServers(serversQuery({ applicationName: "%3_ Controller", productUri: "http://vendor1%" }));
    const t1 = performance.now();
    const res2 = big.queryServers(serversQuery({ applicationUri: "urn:plant1[0-9]:%:server%7" }));
    const t2 = performance.now();
    expect(res.servers.length).toBeGreaterThan(0);
    expect(res2.servers.length).toBeGreaterThan(0);
    for (const s of res.servers) expect(s.serverName).toMatch(/3. Controller$/);
    expect(t1 - t0).toBeLessThan(50);
    expect(t2 - t1).toBeLessThan(50);
  });

  it("a hostile 1024-character pattern over 10,000 records completes in < 200 ms", async () => {
    const big = await seed(10_000);
    const patterns = [
      ("%a".repeat(511) + "b").slice(0, 1024),
      "%" + "_".repeat(1022) + "%",
      "%" + "[a-z0-9:]_".repeat(102) + "%b",
      ("%s%t%a%t%i%o%n".repeat(80)).slice(0, 1024),
    ];
    for (const p of patterns) {
      expect(p.length).toBeLessThanOrEqual(1024);
      const t0 = performance.now();
      big.queryServers(serversQuery({ applicationName: p }));
      big.queryApplications(appsQuery({ applicationUri: p }));
      expect(performance.now() - t0).toBeLessThan(200);
    }
  });
});
