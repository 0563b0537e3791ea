/**
 * The persistence seam. State is a set of named collections of JSON records keyed by string.
 * Reads come from the store's view of committed state; `commit` applies a batch of mutations
 * atomically and resolves only once the batch is durable on disk (fsync'd), so a caller may
 * acknowledge a request as soon as `commit` resolves.
 *
 * Records returned by `get`/`values` are deeply frozen and shared with the store, not copies
 * (cloning 10,000 records costs 20-40 ms per `values` call): copy before modifying, e.g.
 * `{ ...rec, updatedAt }` or `structuredClone(rec)`. Values passed to `commit` are copied through
 * JSON, so they hold exactly what survives a restart (Dates become ISO strings, undefined
 * properties vanish) and the caller may keep changing its own objects afterwards.
 *
 * Implementations: LowdbStore (embedded default). A PostgreSQL store would map a collection to
 * a table with a jsonb column.
 */
export interface StoreMutation {
  collection: string;
  key: string;
  /** The new record; `null` deletes the key. Must be JSON-serialisable. */
  value: unknown | null;
}

export interface Store {
  /** Loads state from disk; throws StoreCorruptError if the files are unreadable or damaged. */
  open(): Promise<void>;
  get<T>(collection: string, key: string): Promise<T | undefined>;
  /** All records of a collection (order unspecified). */
  values<T>(collection: string): Promise<T[]>;
  /**
   * Atomic, durable batch: all mutations or none survive a crash. Commits are applied in call
   * order; once `commit` resolves, `get`/`values` see the batch.
   */
  commit(mutations: StoreMutation[]): Promise<void>;
  /**
   * Rewrites the store's files so that no value overwritten or deleted before the call remains in
   * any of them (a journal or log keeps old commits until it is compacted). Called after a secret
   * is deleted. Optional: a store that never keeps old values on disk need not have it.
   */
  compact?(): Promise<void>;
  /** Tests whether the store can still write (used by health checks). */
  isWritable(): Promise<boolean>;
  /** Flushes and releases files. Further commits are refused. */
  close(): Promise<void>;
}

export class StoreCorruptError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "StoreCorruptError";
  }
}
