// A flood of worst-case directory queries from anonymous sessions must not starve the server:
// another session's Read stays responsive, no call returns more than the per-call cap, paging
// still returns every record exactly once, and a session that scans too much is throttled with
// BadTooManyOperations while other sessions are still served.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { AttributeIds, StatusCodes } from "node-opcua";
import { connect, startTestGds, type TestGds, type TestSession } from "../integration/helpers/gds-harness.js";
import { queryApplications, queryServers } from "../integration/helpers/directory-client.js";
import { percentile } from "../../scripts/bench/stats.js";

const APPS = 1000;
const CAP = 250;
const FLOOD_SESSIONS = 8;
/** Pipelined calls per flooding session: as many as a session may have running (more are refused at once). */
const IN_FLIGHT = 2;
const READ_SAMPLES = 40;
const READ_P99_BOUND_MS = 1000;

/** 250 non-ASCII characters (CJK, Cyrillic, Greek), different for each application. */
function longName(i: number): string {
  let s = "";
  for (let k = 0; s.length < 250; k++) {
    const base = [0x4e00, 0x0410, 0x0391][(i + k) % 3]!;
    s += String.fromCodePoint(base + ((i * 31 + k * 7) % (base === 0x4e00 ? 3000 : 30)));
  }
  return s.slice(0, 250);
}

/** Patterns that make a naive matcher work hard: long lists of `[^ab]`, many `%`, long `_` runs; none or all match. */
const WORST_NAME_PATTERNS = [
  `%${"[^ab]".repeat(200)}z%`, // scans every name to the end, matches nothing
  `${"%[^ab]".repeat(170)}%`, // matches every name (full pages)
  `%${"_".repeat(248)}z`,
];
const WORST_URI_PATTERN = `%${"[^ab]".repeat(200)}%`;

describe("worst-case directory queries from anonymous sessions", () => {
  let t: TestGds;

  beforeAll(async () => {
    t = await startTestGds({ maxRecordsPerQuery: CAP });
    for (let i = 0; i < APPS; i++) {
      await t.gds.directory.register({
        applicationUri: `urn:flood:${"ü".repeat(200)}:${i}`,
        applicationType: 0,
        applicationNames: [{ text: longName(i), locale: "zh" }],
        productUri: "urn:flood:product",
        discoveryUrls: [`opc.tcp://flood-${i}.local:4840`],
        serverCapabilities: ["DA"],
      });
    }
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it("pages through every record exactly once: MaxRecordsToReturn 0 gets the cap, NextRecordId (or last RecordId + 1) continues", async () => {
    const pager = await connect(t.endpointUrl, { user: null });
    try {
      const seen: number[] = [];
      let start = 0;
      let pages = 0;
      do {
        const r = await queryApplications(pager, { start, max: 0, name: "%" });
        expect(r.statusCode.name).toBe("Good");
        const apps = (r.outputs[2]!.value ?? []) as { applicationUri: string }[];
        expect(apps.length).toBeLessThanOrEqual(CAP);
        seen.push(...apps.map((a) => Number(a.applicationUri.split(":").at(-1))));
        start = r.outputs[1]!.value as number;
        pages++;
      } while (start !== 0 && pages < 100);
      expect(pages).toBe(Math.ceil(APPS / CAP));
      expect(seen.length).toBe(APPS);
      expect(new Set(seen).size).toBe(APPS);

      // QueryServers pages by last RecordId + 1.
      const servers = new Set<number>();
      let from = 0;
      for (let page = 0; page < 100; page++) {
        const r = await queryServers(pager, { start: from, max: 0 });
        expect(r.statusCode.name).toBe("Good");
        const list = (r.outputs[1]!.value ?? []) as { recordId: number }[];
        if (list.length === 0) break;
        expect(new Set(list.map((e) => e.recordId)).size).toBeLessThanOrEqual(CAP);
        for (const e of list) {
          expect(servers.has(e.recordId)).toBe(false);
          servers.add(e.recordId);
        }
        from = list.at(-1)!.recordId + 1;
      }
      expect(servers.size).toBe(APPS);
    } finally {
      await pager.close();
    }
  });

  it("keeps another session's Read responsive, and caps every page under the flood", async () => {
    const flooders: TestSession[] = [];
    for (let i = 0; i < FLOOD_SESSIONS; i++) flooders.push(await connect(t.endpointUrl, { user: null }));
    const reader = await connect(t.endpointUrl, { user: null });
    const statuses = new Map<string, number>();
    let maxRecordsInAPage = 0;
    const callsDone = new Array<number>(FLOOD_SESSIONS).fill(0);
    let stop = false;
    try {
      const flood = flooders.flatMap((s, si) =>
        Array.from({ length: IN_FLIGHT }, async (_, k) => {
          for (let n = 0; !stop; n++) {
            const pattern = WORST_NAME_PATTERNS[(n + k) % WORST_NAME_PATTERNS.length]!;
            const r =
              (n + k) % 2 === 0
                ? await queryServers(s, { max: 0, name: pattern, uri: WORST_URI_PATTERN })
                : await queryApplications(s, { max: 0, name: pattern, uri: WORST_URI_PATTERN });
            statuses.set(r.statusCode.name, (statuses.get(r.statusCode.name) ?? 0) + 1);
            if (r.statusCode.value === StatusCodes.Good.value) {
              const list = (r.outputs.length === 2 ? r.outputs[1]!.value : r.outputs[2]!.value) as unknown[] | null;
              maxRecordsInAPage = Math.max(maxRecordsInAPage, list?.length ?? 0);
            }
            callsDone[si]!++;
          }
        }),
      );

      // Wait until every flooding session has had answers, so the flood is in full swing.
      const read = async () => {
        const t0 = performance.now();
        const dv = await reader.session.read({ nodeId: "ns=0;i=2258", attributeId: AttributeIds.Value });
        expect(dv.statusCode.value).toBe(StatusCodes.Good.value);
        return performance.now() - t0;
      };
      while (callsDone.some((c) => c === 0)) await read();

      const latencies: number[] = [];
      for (let i = 0; i < READ_SAMPLES; i++) latencies.push(await read());
      stop = true;
      await Promise.all(flood);

      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      process.stdout.write(
        `query flood: Read p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; flood answers ${JSON.stringify(Object.fromEntries(statuses))}; largest page ${maxRecordsInAPage}\n`,
      );
      expect(p99).toBeLessThan(READ_P99_BOUND_MS);
      // Only answers and throttling: no errors, no timeouts.
      for (const name of statuses.keys()) expect(["Good", "BadTooManyOperations"]).toContain(name);
      expect(statuses.get("Good") ?? 0).toBeGreaterThan(0);
      expect(maxRecordsInAPage).toBeLessThanOrEqual(CAP);
    } finally {
      stop = true;
      for (const s of flooders) await s.close();
      await reader.close();
    }
  }, 180_000);
});

describe("per-session query budget", () => {
  let t: TestGds;

  beforeAll(async () => {
    // 20 ms of scanning per second per session (bursts of 200 ms); an address gets 4 sessions' worth.
    t = await startTestGds({ queryBudgetMs: 20 });
    for (let i = 0; i < 300; i++) {
      await t.gds.directory.register({
        applicationUri: `urn:budget:${i}`,
        applicationType: 0,
        applicationNames: [{ text: longName(i), locale: "zh" }],
        productUri: "urn:budget:product",
        discoveryUrls: [`opc.tcp://budget-${i}.local:4840`],
        serverCapabilities: ["DA"],
      });
    }
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it("refuses a session that used up its budget with BadTooManyOperations, serves another session, and serves it again later", async () => {
    const greedy = await connect(t.endpointUrl, { user: null });
    const other = await connect(t.endpointUrl, { user: null });
    try {
      let refused: { text: string | null } | undefined;
      for (let n = 0; n < 500 && !refused; n++) {
        const r = await queryServers(greedy, { name: WORST_NAME_PATTERNS[0], uri: WORST_URI_PATTERN });
        if (r.statusCode.value === StatusCodes.BadTooManyOperations.value) refused = r;
        else expect(r.statusCode.name).toBe("Good");
      }
      expect(refused).toBeDefined();
      expect(refused!.text).toMatch(/budget of this session.*retry in \d+ ms/);

      // Pipelining more than 2 queries on one session: the extra ones are refused at once.
      const burst = await Promise.all(Array.from({ length: 6 }, () => queryServers(other, { name: WORST_NAME_PATTERNS[0], uri: WORST_URI_PATTERN })));
      const extra = burst.filter((r) => r.statusCode.value === StatusCodes.BadTooManyOperations.value);
      expect(extra.length).toBeGreaterThan(0);
      expect(extra.some((r) => /already has 2 directory queries running/.test(r.text ?? ""))).toBe(true);

      // Another session (same address: its bucket is larger) is still served.
      expect((await queryServers(other, { name: "%x%" })).statusCode.name).toBe("Good");

      // The greedy session earns budget back over time.
      let again = false;
      for (let n = 0; n < 200 && !again; n++) {
        await new Promise((r) => setTimeout(r, 100));
        again = (await queryServers(greedy, { name: "%x%" })).statusCode.value === StatusCodes.Good.value;
      }
      expect(again).toBe(true);
    } finally {
      await greedy.close();
      await other.close();
    }
  }, 120_000);
});
