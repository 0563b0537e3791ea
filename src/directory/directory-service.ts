/**
 * The Directory: registered applications (OPC 10000-12 §6.6 / digest §2–3), their persistence and
 * the FindApplications / QueryApplications / QueryServers lookups. Plain TypeScript; the OPC UA
 * layer maps NodeIds to applicationId strings and GdsError names to StatusCodes.
 *
 * State lives in the store collection "applications" (key = applicationId, value = the record)
 * and "meta"/"directory" ({ lastRecordId }). The whole directory is also held in memory, indexed
 * by id, by ApplicationUri (case-insensitive, unique) and by recordId order for paging; reads
 * never touch the store. Mutations are serialised by an internal mutex and commit one store batch
 * each; the in-memory indexes change only after the commit resolved, so a failed commit leaves
 * the directory as it was.
 */
import { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.types.js";
import type { Clock } from "../clock.js";
import { GdsError } from "../errors.js";
import type { Store, StoreMutation } from "../store/store.js";
import { ApplicationKind, type ApplicationInput, type ApplicationRecord, type LocalizedName } from "./application-record.js";
import type {
  QueryApplicationsRequest,
  QueryApplicationsResult,
  QueryServersRequest,
  QueryServersResult,
  ServerOnNetworkEntry,
} from "./directory-service.types.js";
import { compileLikePattern, type LikeMatcher } from "./like-pattern.js";
import { DEFAULT_MAX_RECORDS_PER_QUERY, MAX_SERVER_CAPABILITIES } from "./limits.js";
import { QueryScheduler, type ScanStep } from "./query-scheduler.js";
import { absoluteUriProblem, isReverseConnectUrl, validateApplication } from "./validate-application.js";

/** Store collection of application records, keyed by applicationId. */
export const APPLICATIONS_COLLECTION = "applications";
/** Store collection and key of the directory's counters. */
export const META_COLLECTION = "meta";
export const DIRECTORY_META_KEY = "directory";

export interface DirectoryMeta {
  /** The highest recordId ever handed out (never decreases, also across unregistrations). */
  lastRecordId: number;
}

export interface DirectoryServiceOptions {
  store: Store;
  clock: Clock;
  /** When the record counter started (the store's creation time); reported as LastCounterResetTime. */
  counterResetTime: Date;
  /** Registration changes are audited here (with who made them) when given. */
  audit?: AuditLog;
  /** Most records one QueryApplications/QueryServers call returns (default DEFAULT_MAX_RECORDS_PER_QUERY). */
  maxRecordsPerQuery?: number;
  /** Runs the async queries in slices (default: a QueryScheduler of its own). */
  scheduler?: QueryScheduler;
}

interface PreparedQuery<T> {
  step: ScanStep;
  result(): T;
}

/**
 * Runs before an unregistration is committed; throwing aborts the unregistration. `actor` is who unregistered it (a user name, `app:<id>` for ApplicationSelfAdmin, or "system").
 */
export type UnregisterListener = (record: ApplicationRecord, actor: string) => Promise<void>;

const MAX_UINT32 = 0xffffffff;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

interface Entry {
  /** Deep-frozen; handed out as is. */
  record: ApplicationRecord;
  uriKey: string;
  /** Upper-cased capabilities. */
  caps: ReadonlySet<string>;
  defaultName: string;
}

interface CompiledFilter {
  name: LikeMatcher | null;
  uri: LikeMatcher | null;
  productUri: LikeMatcher | null;
  caps: string[];
}

function uriKey(uri: string): string {
  return uri.toLowerCase();
}

function excerpt(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

function freezeRecord(r: ApplicationRecord): ApplicationRecord {
  const names: LocalizedName[] = (r.applicationNames ?? []).map((n) =>
    Object.freeze({ locale: n.locale ?? null, text: n.text }),
  );
  return Object.freeze({
    applicationId: r.applicationId.toLowerCase(),
    recordId: r.recordId,
    applicationUri: r.applicationUri,
    applicationType: r.applicationType,
    applicationNames: Object.freeze(names) as LocalizedName[],
    productUri: r.productUri,
    discoveryUrls: Object.freeze([...(r.discoveryUrls ?? [])]) as string[],
    serverCapabilities: Object.freeze([...(r.serverCapabilities ?? [])]) as string[],
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  });
}

function makeEntry(r: ApplicationRecord): Entry {
  const record = freezeRecord(r);
  return {
    record,
    uriKey: uriKey(record.applicationUri),
    caps: new Set(record.serverCapabilities.map((c) => c.toUpperCase())),
    defaultName: record.applicationNames[0]?.text ?? "",
  };
}

function uint32(value: unknown, field: string): number {
  if (value === null || value === undefined) return 0;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_UINT32) {
    throw new GdsError("BadInvalidArgument", `${field}: must be an unsigned 32-bit integer`);
  }
  return value;
}

function compileFilterPattern(pattern: unknown, field: string): LikeMatcher | null {
  if (pattern === null || pattern === undefined || pattern === "") return null;
  if (typeof pattern !== "string") throw new GdsError("BadInvalidArgument", `${field}: must be a string`);
  try {
    return compileLikePattern(pattern);
  } catch (e) {
    if (e instanceof GdsError) throw new GdsError(e.statusName, `${field}: ${e.message}`);
    throw e;
  }
}

function compileCapabilities(requested: unknown): string[] {
  if (requested === null || requested === undefined) return [];
  if (!Array.isArray(requested)) throw new GdsError("BadInvalidArgument", "ServerCapabilities: must be an array");
  if (requested.length > MAX_SERVER_CAPABILITIES) {
    throw new GdsError(
      "BadInvalidArgument",
      `ServerCapabilities: at most ${MAX_SERVER_CAPABILITIES} entries are allowed (got ${requested.length})`,
    );
  }
  const caps = new Set<string>();
  for (const c of requested) {
    if (c === null || c === undefined || c === "") continue;
    if (typeof c !== "string") throw new GdsError("BadInvalidArgument", "ServerCapabilities: entries must be strings");
    caps.add(c.toUpperCase());
  }
  if (caps.has("NA") && caps.size > 1) {
    throw new GdsError("BadInvalidArgument", "ServerCapabilities: NA cannot be combined with other capabilities");
  }
  return [...caps];
}

export class DirectoryService {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly counterResetTime: Date;
  private readonly byId = new Map<string, Entry>();
  private readonly byUri = new Map<string, Entry>();
  /** Ascending recordId. */
  private ordered: Entry[] = [];
  private lastRecordId = 0;
  private ready = false;
  private readonly listeners: UnregisterListener[] = [];
  private mutexTail: Promise<unknown> = Promise.resolve();
  private readonly audit: AuditLog | undefined;
  readonly maxRecordsPerQuery: number;
  private readonly scheduler: QueryScheduler;

  constructor(opts: DirectoryServiceOptions) {
    const cap = opts.maxRecordsPerQuery ?? DEFAULT_MAX_RECORDS_PER_QUERY;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`maxRecordsPerQuery must be a positive integer, got ${cap}`);
    this.maxRecordsPerQuery = cap;
    this.scheduler = opts.scheduler ?? new QueryScheduler();
    this.store = opts.store;
    this.clock = opts.clock;
    this.counterResetTime = new Date(opts.counterResetTime.getTime());
    this.audit = opts.audit;
  }

  /** Loads the directory from the store. Must resolve before any other call. */
  async init(): Promise<void> {
    await this.exclusive(async () => {
      const records = await this.store.values<ApplicationRecord>(APPLICATIONS_COLLECTION);
      const meta = await this.store.get<DirectoryMeta>(META_COLLECTION, DIRECTORY_META_KEY);
      this.byId.clear();
      this.byUri.clear();
      const ordered: Entry[] = [];
      let maxRecordId = 0;
      for (const r of records) {
        const entry = makeEntry(r);
        const clash = this.byUri.get(entry.uriKey);
        if (clash) {
          throw new GdsError(
            "BadConfigurationError",
            `store: applications ${clash.record.applicationId} and ${entry.record.applicationId} share ApplicationUri ${excerpt(entry.record.applicationUri)}`,
          );
        }
        this.byId.set(entry.record.applicationId, entry);
        this.byUri.set(entry.uriKey, entry);
        ordered.push(entry);
        maxRecordId = Math.max(maxRecordId, entry.record.recordId);
      }
      ordered.sort((a, b) => a.record.recordId - b.record.recordId);
      this.ordered = ordered;
      // The counter never goes back, even if the meta record was lost.
      this.lastRecordId = Math.max(meta?.lastRecordId ?? 0, maxRecordId);
      this.ready = true;
    });
  }

  /**
   * RegisterApplication: validates, refuses a second registration of an ApplicationUri
   * (case-insensitive) with BadEntryExists, assigns a new applicationId (GUID) and recordId.
   */
  async register(input: unknown, actor = "system"): Promise<ApplicationRecord> {
    this.assertReady();
    const app = validateApplication(input);
    return this.exclusive(async () => {
      const existing = this.byUri.get(uriKey(app.applicationUri));
      if (existing) {
        throw new GdsError(
          "BadEntryExists",
          `ApplicationUri: ${excerpt(app.applicationUri)} is already registered (ApplicationId ${existing.record.applicationId})`,
        );
      }
      const now = this.clock.now().toISOString();
      const record: ApplicationRecord = {
        applicationId: randomUUID(),
        recordId: this.nextRecordId(),
        ...app,
        createdAt: now,
        updatedAt: now,
      };
      await this.store.commit(this.upsertMutations(record));
      const result = this.afterUpsert(record, undefined);
      await this.audited("ApplicationRegistered", result, actor);
      return result;
    });
  }

  /**
   * UpdateApplication: BadNotFound for an unknown id, BadInvalidArgument for invalid input,
   * BadWriteNotSupported if the ApplicationUri is not exactly the registered one. The record gets
   * a new recordId (so it moves to the end of the paging order) and a new updatedAt.
   */
  async update(applicationId: string, input: unknown, actor = "system"): Promise<ApplicationRecord> {
    this.assertReady();
    return this.exclusive(async () => {
      const existing = this.lookup(applicationId);
      const app: ApplicationInput = validateApplication(input);
      if (app.applicationUri !== existing.record.applicationUri) {
        throw new GdsError(
          "BadWriteNotSupported",
          `ApplicationUri: cannot be changed (registered ${excerpt(existing.record.applicationUri)}, got ${excerpt(app.applicationUri)})`,
        );
      }
      const record: ApplicationRecord = {
        applicationId: existing.record.applicationId,
        recordId: this.nextRecordId(),
        ...app,
        createdAt: existing.record.createdAt,
        updatedAt: this.clock.now().toISOString(),
      };
      await this.store.commit(this.upsertMutations(record));
      const result = this.afterUpsert(record, existing);
      await this.audited("ApplicationUpdated", result, actor);
      return result;
    });
  }

  /**
   * UnregisterApplication: BadNotFound for an unknown id. The onUnregister listeners run first
   * (in registration order, inside the directory's mutex, so they must not call mutating
   * directory methods); if one throws, nothing is deleted and its error is rethrown.
   */
  async unregister(applicationId: string, actor = "system"): Promise<ApplicationRecord> {
    this.assertReady();
    return this.exclusive(async () => {
      const entry = this.lookup(applicationId);
      for (const listener of [...this.listeners]) await listener(entry.record, actor);
      await this.store.commit([{ collection: APPLICATIONS_COLLECTION, key: entry.record.applicationId, value: null }]);
      this.byId.delete(entry.record.applicationId);
      this.byUri.delete(entry.uriKey);
      this.removeOrdered(entry);
      await this.audited("ApplicationUnregistered", entry.record, actor);
      return entry.record;
    });
  }

  /** Registers a hook run before each unregistration is committed. Returns a function removing it. */
  onUnregister(listener: UnregisterListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** GetApplication. Anything that is not a known GUID (any hex case) → BadNotFound. */
  get(applicationId: string): ApplicationRecord {
    this.assertReady();
    return this.lookup(applicationId).record;
  }

  /**
   * FindApplications: the record whose ApplicationUri equals `uri` case-insensitively, as a list of
   * 0 or 1. An empty, over-long or non-URI argument → BadInvalidArgument.
   */
  findByUri(uri: string): ApplicationRecord[] {
    this.assertReady();
    if (typeof uri !== "string") throw new GdsError("BadInvalidArgument", "ApplicationUri: must be a string");
    const problem = absoluteUriProblem(uri);
    if (problem) throw new GdsError("BadInvalidArgument", `ApplicationUri: ${problem}`);
    const entry = this.byUri.get(uriKey(uri));
    return entry ? [entry.record] : [];
  }

  /**
   * QueryApplications. Filters are ANDed; an empty string or array is no filter. ApplicationName
   * (matched against the default, i.e. first, name), ApplicationUri and ProductUri are LIKE
   * patterns (case-insensitive, each compiled once per query); every requested capability must be
   * present (case-insensitive). ApplicationType mask: 0 and 3 all, 1 servers (all but Client),
   * 2 clients (Client and ClientAndServer). Client records are returned only if they have the RCP
   * capability.
   *
   * Paging by ascending recordId: records with recordId ≥ StartingRecordId are returned (so both
   * "NextRecordId" and "last RecordId + 1" continue without gaps). At most maxRecordsPerQuery
   * records per call: MaxRecordsToReturn 0 (no limit asked) or larger means that cap. NextRecordId
   * is the recordId of the first matching record not returned, 0 when there is none.
   *
   * This runs the whole scan at once; the OPC UA layer uses queryApplicationsAsync.
   */
  queryApplications(req: QueryApplicationsRequest): QueryApplicationsResult {
    const q = this.prepareApplicationsQuery(req);
    q.step(() => false);
    return q.result();
  }

  /** queryApplications in slices through the scheduler (see QueryScheduler); `onTurn` as there. */
  async queryApplicationsAsync(req: QueryApplicationsRequest, onTurn?: (ms: number) => void): Promise<QueryApplicationsResult> {
    const started = this.scheduler.now();
    const q = this.prepareApplicationsQuery(req);
    onTurn?.(this.scheduler.now() - started); // compiling the filter is work too
    await this.scheduler.run(q.step, onTurn);
    return q.result();
  }

  /**
   * QueryServers. Same filters and paging as queryApplications (without a type mask); Client
   * records are never returned. Each matching record yields one ServerOnNetwork entry per
   * DiscoveryUrl (ServerName = default name, RecordId = the record's), skipping `rcp+` URLs.
   * MaxRecordsToReturn counts RECORDS (capped like queryApplications), and a record's URLs are
   * never split across pages, so a page may hold more entries than records. QueryServers has no
   * NextRecordId: the next page starts at the last RecordId + 1.
   */
  queryServers(req: QueryServersRequest): QueryServersResult {
    const q = this.prepareServersQuery(req);
    q.step(() => false);
    return q.result();
  }

  /** queryServers in slices through the scheduler (see QueryScheduler); `onTurn` as there. */
  async queryServersAsync(req: QueryServersRequest, onTurn?: (ms: number) => void): Promise<QueryServersResult> {
    const started = this.scheduler.now();
    const q = this.prepareServersQuery(req);
    onTurn?.(this.scheduler.now() - started); // compiling the filter is work too
    await this.scheduler.run(q.step, onTurn);
    return q.result();
  }

  /** The effective page size: MaxRecordsToReturn, with 0 (no limit asked) and anything larger capped. */
  pageSize(maxRecordsToReturn: number): number {
    return maxRecordsToReturn === 0 || maxRecordsToReturn > this.maxRecordsPerQuery ? this.maxRecordsPerQuery : maxRecordsToReturn;
  }

  private prepareApplicationsQuery(req: QueryApplicationsRequest): PreparedQuery<QueryApplicationsResult> {
    this.assertReady();
    const start = uint32(req.startingRecordId, "StartingRecordId");
    const max = this.pageSize(uint32(req.maxRecordsToReturn, "MaxRecordsToReturn"));
    const mask = uint32(req.applicationType, "ApplicationType");
    if (mask > 3) {
      throw new GdsError(
        "BadInvalidArgument",
        `ApplicationType: must be 0 (all), 1 (servers), 2 (clients) or 3 (all); got ${mask}`,
      );
    }
    const filter = this.compileFilter(req.applicationName, req.applicationUri, req.productUri, req.serverCapabilities);
    const applications: ApplicationRecord[] = [];
    let nextRecordId = 0;
    const step = this.scanner(start, (entry) => {
      const type = entry.record.applicationType;
      if (type === ApplicationKind.Client && !entry.caps.has("RCP")) return false;
      if (mask === 1 && type === ApplicationKind.Client) return false;
      if (mask === 2 && type !== ApplicationKind.Client && type !== ApplicationKind.ClientAndServer) return false;
      if (!this.matches(entry, filter)) return false;
      if (applications.length >= max) {
        nextRecordId = entry.record.recordId;
        return true;
      }
      applications.push(entry.record);
      return false;
    });
    return {
      step,
      result: () => ({ lastCounterResetTime: new Date(this.counterResetTime.getTime()), nextRecordId, applications }),
    };
  }

  private prepareServersQuery(req: QueryServersRequest): PreparedQuery<QueryServersResult> {
    this.assertReady();
    const start = uint32(req.startingRecordId, "StartingRecordId");
    const max = this.pageSize(uint32(req.maxRecordsToReturn, "MaxRecordsToReturn"));
    const filter = this.compileFilter(req.applicationName, req.applicationUri, req.productUri, req.serverCapabilities);
    const servers: ServerOnNetworkEntry[] = [];
    let records = 0;
    const step = this.scanner(start, (entry) => {
      if (records >= max) return true;
      const r = entry.record;
      if (r.applicationType === ApplicationKind.Client) return false;
      if (!this.matches(entry, filter)) return false;
      let emitted = false;
      for (const url of r.discoveryUrls) {
        if (isReverseConnectUrl(url)) continue;
        servers.push({
          recordId: r.recordId,
          serverName: entry.defaultName,
          discoveryUrl: url,
          serverCapabilities: r.serverCapabilities.slice(),
        });
        emitted = true;
      }
      if (emitted) records++;
      return false;
    });
    return { step, result: () => ({ lastCounterResetTime: new Date(this.counterResetTime.getTime()), servers }) };
  }

  /**
   * A resumable scan in recordId order from `start`: `visit` returns true to stop. Between turns
   * the scan remembers the next recordId, not an index, so registrations, updates and
   * unregistrations in between neither skip nor repeat a record that stays where it was.
   */
  private scanner(start: number, visit: (entry: Entry) => boolean): ScanStep {
    let from = start;
    let finished = false;
    return (shouldYield) => {
      if (finished) return true;
      const ordered = this.ordered;
      for (let i = this.lowerBound(from), n = 0; i < ordered.length; i++, n++) {
        if ((n & 15) === 15 && shouldYield()) {
          from = ordered[i]!.record.recordId;
          return false;
        }
        if (visit(ordered[i]!)) break;
      }
      finished = true;
      return true;
    };
  }

  /** All records in recordId order. */
  list(): ApplicationRecord[] {
    this.assertReady();
    return this.ordered.map((e) => e.record);
  }

  count(): number {
    this.assertReady();
    return this.ordered.length;
  }

  // -------------------------------------------------------------------------------------------

  private async audited(event: "ApplicationRegistered" | "ApplicationUpdated" | "ApplicationUnregistered", record: ApplicationRecord, actor: string): Promise<void> {
    await this.audit?.record({ event, actor, outcome: "Good", applicationId: record.applicationId, applicationUri: record.applicationUri });
  }

  private assertReady(): void {
    if (!this.ready) throw new GdsError("BadInvalidState", "directory: init() has not completed");
  }

  /** Serialises mutations: each runs after the previous one settled. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.mutexTail.then(fn, fn);
    this.mutexTail = run.catch(() => undefined);
    return run;
  }

  private nextRecordId(): number {
    if (this.lastRecordId >= MAX_UINT32) {
      throw new GdsError("BadOutOfRange", "directory: record ids exhausted (UInt32)");
    }
    return this.lastRecordId + 1;
  }

  private upsertMutations(record: ApplicationRecord): StoreMutation[] {
    return [
      { collection: APPLICATIONS_COLLECTION, key: record.applicationId, value: record },
      { collection: META_COLLECTION, key: DIRECTORY_META_KEY, value: { lastRecordId: record.recordId } satisfies DirectoryMeta },
    ];
  }

  /** Applies a committed create/update to the indexes. */
  private afterUpsert(record: ApplicationRecord, previous: Entry | undefined): ApplicationRecord {
    this.lastRecordId = record.recordId;
    const entry = makeEntry(record);
    if (previous) this.removeOrdered(previous);
    this.byId.set(entry.record.applicationId, entry);
    this.byUri.set(entry.uriKey, entry);
    this.ordered.push(entry); // the newest recordId: stays sorted
    return entry.record;
  }

  private lookup(applicationId: string): Entry {
    if (typeof applicationId !== "string" || applicationId.length !== 36 || !GUID.test(applicationId)) {
      const shown = typeof applicationId === "string" ? excerpt(applicationId) : String(applicationId);
      throw new GdsError("BadNotFound", `ApplicationId ${shown}: not a known application`);
    }
    const entry = this.byId.get(applicationId.toLowerCase());
    if (!entry) throw new GdsError("BadNotFound", `ApplicationId ${applicationId}: not a known application`);
    return entry;
  }

  /** Index of the first entry with recordId ≥ recordId. */
  private lowerBound(recordId: number): number {
    let lo = 0;
    let hi = this.ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ordered[mid]!.record.recordId < recordId) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private removeOrdered(entry: Entry): void {
    let i = this.lowerBound(entry.record.recordId);
    while (i < this.ordered.length && this.ordered[i] !== entry) i++;
    if (i < this.ordered.length) this.ordered.splice(i, 1);
  }

  private compileFilter(name: unknown, uri: unknown, productUri: unknown, caps: unknown): CompiledFilter {
    return {
      name: compileFilterPattern(name, "ApplicationName"),
      uri: compileFilterPattern(uri, "ApplicationUri"),
      productUri: compileFilterPattern(productUri, "ProductUri"),
      caps: compileCapabilities(caps),
    };
  }

  private matches(entry: Entry, f: CompiledFilter): boolean {
    for (const c of f.caps) if (!entry.caps.has(c)) return false;
    if (f.uri && !f.uri(entry.record.applicationUri)) return false;
    if (f.productUri && !f.productUri(entry.record.productUri)) return false;
    if (f.name && !f.name(entry.defaultName)) return false;
    return true;
  }
}
