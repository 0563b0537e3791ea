// The flooding side of the query-flood benchmark, run as its own process so that decoding the
// flood's answers does not delay the measuring client. FLOOD_SESSIONS anonymous sessions
// (Basic256Sha256 SignAndEncrypt) each keep FLOOD_IN_FLIGHT worst-case QueryServers /
// QueryApplications calls in flight (MaxRecordsToReturn 0, long list-heavy LIKE patterns).
// Prints `listening` once every session has had an answer; on SIGTERM prints one JSON line
// `{"floodStats": …}` and exits.
import { BenchClient } from "./bench-client.js";
import { tempDir } from "./child.js";

const endpointUrl = process.env.FLOOD_ENDPOINT!;
const SESSIONS = Number(process.env.FLOOD_SESSIONS) || 8;
const IN_FLIGHT = Number(process.env.FLOOD_IN_FLIGHT) || 3;

/** Patterns that make a naive matcher work hard; none or all of the names match. */
const WORST_NAME_PATTERNS = [`%${"[^ab]".repeat(200)}z%`, `${"%[^ab]".repeat(170)}%`, `%${"_".repeat(248)}z`];
const WORST_URI_PATTERN = `%${"[^ab]".repeat(200)}%`;

const statuses: Record<string, number> = {};
let maxRecords = 0;
let calls = 0;
let stop = false;
const started = performance.now();

const clients: BenchClient[] = [];
const pki = tempDir("gds-bench-flood-pki-");
for (let i = 0; i < SESSIONS; i++) clients.push(await BenchClient.connect(endpointUrl, null, pki));

const answered = new Array<boolean>(SESSIONS).fill(false);
let announced = false;
const loops = clients.flatMap((c, si) =>
  Array.from({ length: IN_FLIGHT }, async (_, k) => {
    for (let n = 0; !stop; n++) {
      const pattern = WORST_NAME_PATTERNS[(n + k) % WORST_NAME_PATTERNS.length]!;
      const method = (n + k) % 2 === 0 ? "QueryServers" : "QueryApplications";
      const r = await c.query(method, { max: 0, name: pattern, uri: WORST_URI_PATTERN }).catch((err: unknown) => ({ status: `error: ${String(err).slice(0, 40)}`, records: 0 }));
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      maxRecords = Math.max(maxRecords, r.records);
      calls++;
      answered[si] = true;
      if (!announced && answered.every(Boolean)) {
        announced = true;
        process.stdout.write(`listening: ${SESSIONS} sessions x ${IN_FLIGHT} in flight are flooding\n`);
      }
    }
  }),
);

process.once("SIGTERM", () => {
  stop = true;
  const seconds = (performance.now() - started) / 1000;
  void Promise.race([Promise.allSettled(loops), new Promise((r) => setTimeout(r, 5000))]).then(async () => {
    process.stdout.write(`${JSON.stringify({ floodStats: { statuses, maxRecords, calls, seconds } })}\n`);
    await Promise.race([Promise.allSettled(clients.map((c) => c.close())), new Promise((r) => setTimeout(r, 3000))]);
    process.exit(0);
  });
});
