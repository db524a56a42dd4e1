// The tuner's cache in a web page: one IndexedDB object store holding key -> variant name, so a page on
// the same GPU reuses the choices it timed before (the Node CLI keeps them in a JSON file, node.ts).
// Browser-safe; a page without IndexedDB (or where it is blocked) tunes again each visit, with a note.
import type { TuneCache } from "./tuner.js";

// The few IndexedDB types used here, declared structurally: the toolkit compiles without the DOM library.
interface IDBRequest<T> {
  result: T;
  error: Error | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IDBObjectStore {
  getAllKeys(): IDBRequest<unknown[]>;
  getAll(): IDBRequest<unknown[]>;
  put(value: unknown, key: string): IDBRequest<unknown>;
}
interface IDBTransaction {
  objectStore(name: string): IDBObjectStore;
  error: Error | null;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}
interface IDBDatabase {
  transaction(store: string, mode: "readonly" | "readwrite"): IDBTransaction;
  createObjectStore(name: string): unknown;
}
interface IDBOpenRequest extends IDBRequest<IDBDatabase> {
  onupgradeneeded: (() => void) | null;
  onblocked: (() => void) | null;
}
/** The page's `indexedDB`, as far as this file uses it. */
export interface IDBFactory {
  open(name: string, version: number): IDBOpenRequest;
}

const STORE = "choices";

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error("IndexedDB request failed"));
  });
}

export class IdbTuneCache implements TuneCache {
  readonly where: string;
  private db: Promise<IDBDatabase> | null = null;

  /** `factory`: the page's indexedDB (injectable for tests); `name`: the database. */
  constructor(private readonly factory: IDBFactory | undefined = (globalThis as { indexedDB?: IDBFactory }).indexedDB,
    private readonly name = "alexnet-ts-webgpu-tuning") {
    this.where = `IndexedDB ${name}`;
  }

  private open(): Promise<IDBDatabase> {
    if (!this.factory) return Promise.reject(new Error("this page has no IndexedDB"));
    this.db ??= new Promise((resolve, reject) => {
      const r = this.factory!.open(this.name, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error("IndexedDB open failed"));
      r.onblocked = () => reject(new Error("IndexedDB open blocked by another tab"));
    });
    return this.db;
  }

  async load(warn: (line: string) => void): Promise<Record<string, string>> {
    try {
      const db = await this.open();
      const store = db.transaction(STORE, "readonly").objectStore(STORE);
      const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
      const out: Record<string, string> = {};
      keys.forEach((k, i) => {
        if (typeof k === "string" && typeof values[i] === "string") out[k] = values[i] as string;
      });
      return out;
    } catch (e) {
      warn(`alexnet: tuned GPU kernel choices not read from ${this.where}: ${(e as Error).message}`);
      return {};
    }
  }

  async save(entries: Record<string, string>): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    for (const [k, v] of Object.entries(entries)) store.put(v, k);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB write failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB write aborted"));
    });
  }
}
