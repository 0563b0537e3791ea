/**
 * In-memory test double of the Store persistence seam (src/store/store.ts). Values are kept as
 * JSON text, so callers can neither share nor mutate stored objects, and non-serialisable values
 * fail like they would on disk. Commits are asynchronous (they resolve on a later macrotask) so
 * concurrency bugs show up in tests; `failNextCommit` makes the next commit reject.
 */
import type { Store, StoreMutation } from "../../../src/store/store.js";

export class MemoryStore implements Store {
  private readonly collections = new Map<string, Map<string, string>>();
  private closed = false;
  /** Every committed batch, in order (for assertions). */
  readonly commits: StoreMutation[][] = [];
  /** When set, the next commit rejects with this error and changes nothing. */
  failNextCommit: Error | null = null;

  async open(): Promise<void> {}

  async get<T>(collection: string, key: string): Promise<T | undefined> {
    const text = this.collections.get(collection)?.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async values<T>(collection: string): Promise<T[]> {
    const c = this.collections.get(collection);
    return c ? [...c.values()].map((text) => JSON.parse(text) as T) : [];
  }

  async commit(mutations: StoreMutation[]): Promise<void> {
    if (this.closed) throw new Error("MemoryStore: closed");
    // Serialise first so a bad value rejects the whole batch.
    const encoded = mutations.map((m) => ({ ...m, text: m.value === null ? null : JSON.stringify(m.value) }));
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (this.failNextCommit) {
      const e = this.failNextCommit;
      this.failNextCommit = null;
      throw e;
    }
    for (const m of encoded) {
      let c = this.collections.get(m.collection);
      if (!c) this.collections.set(m.collection, (c = new Map()));
      if (m.text === null) c.delete(m.key);
      else c.set(m.key, m.text);
    }
    this.commits.push(mutations.map((m) => ({ ...m, value: m.value === null ? null : JSON.parse(JSON.stringify(m.value)) })));
  }

  async isWritable(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
