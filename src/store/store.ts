/**
 * The persistence seam. State is a set of named collections of JSON records keyed by string.
 * Reads come from the store's view of committed state; `commit` applies a batch of mutations
 * atomically and resolves only once the batch is durable on disk (fsync'd), so a caller may
 * acknowledge a request as soon as `commit` resolves.
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
  /** Atomic, durable batch: all mutations or none survive a crash. */
  commit(mutations: StoreMutation[]): Promise<void>;
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
