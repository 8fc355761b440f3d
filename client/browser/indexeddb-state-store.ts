/**
 * The browser's `StateStore`: a client's session, in-flight upload, optimizer moments, private and personal
 * tensors in IndexedDB, so a reloaded tab (or a browser restarted later) carries on as the same federation
 * member. Nothing here is ever sent; the runtime uploads only `adapter.shared()`.
 *
 * One database per client (`fedpeft-client:<name>`), one object store of records keyed by `meta` and
 * `tensors/<set>`. Every write is one IndexedDB transaction, which is atomic, so the store gives the
 * single-write atomicity the `StateStore` contract asks for (the meta/tensor-set tag scheme in state-store.ts
 * covers the order between writes). Tensors are kept as Float32Arrays (structured clone), never as JSON.
 *
 * A page may keep a few records of its own next to the state (the text a person chose, the join token):
 * `readSetting` / `writeSetting`, under `setting/<key>`.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { ClientStateMeta, StateStore, StoredTensors, TensorSetName } from '../state-store.ts';

const OBJECT_STORE = 'records';
const DB_VERSION = 1;

interface StoredTensorSet {
  tag: string;
  /** An array, not a Map: the order of the tensors is part of the set (uploads are resent byte for byte). */
  tensors: Array<{ name: string; shape: number[]; data: Float32Array }>;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function storageError(what: string, err: unknown): FedpeftError {
  const message = err instanceof Error ? err.message : String(err);
  return new FedpeftError(
    'STATE_STORE_FAILED',
    `cannot ${what} in this browser's IndexedDB (${message}); private browsing or a full disk can cause ` +
      `this — allow site storage for this page and reload`,
  );
}

export class IndexedDbStateStore implements StateStore {
  readonly location: string;
  private readonly db: IDBDatabase;

  private constructor(db: IDBDatabase, location: string) {
    this.db = db;
    this.location = location;
  }

  /** The IndexedDB database name of a client. */
  static databaseName(clientName: string): string {
    return `fedpeft-client:${clientName}`;
  }

  /** Opens (creating on first use) the store of `clientName`. */
  static async open(
    clientName: string,
    factory: IDBFactory = globalThis.indexedDB,
  ): Promise<IndexedDbStateStore> {
    if (!factory) {
      throw new FedpeftError(
        'STATE_STORE_FAILED',
        'this browser offers no IndexedDB: the client cannot keep its private state across reloads',
      );
    }
    const name = IndexedDbStateStore.databaseName(clientName);
    const open = factory.open(name, DB_VERSION);
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains(OBJECT_STORE)) open.result.createObjectStore(OBJECT_STORE);
    };
    let db: IDBDatabase;
    try {
      db = await request(open);
    } catch (err) {
      throw storageError(`open ${name}`, err);
    }
    return new IndexedDbStateStore(db, `indexeddb:${name}`);
  }

  /** Deletes a client's whole database (a person leaving the run for good). */
  static async destroy(clientName: string, factory: IDBFactory = globalThis.indexedDB): Promise<void> {
    await request(factory.deleteDatabase(IndexedDbStateStore.databaseName(clientName)));
  }

  async readMeta(): Promise<ClientStateMeta | null> {
    return ((await this.get('meta')) as ClientStateMeta | undefined) ?? null;
  }

  writeMeta(meta: ClientStateMeta): Promise<void> {
    return this.put('meta', meta);
  }

  async readTensors(name: TensorSetName): Promise<StoredTensors | null> {
    const stored = (await this.get(`tensors/${name}`)) as StoredTensorSet | undefined;
    if (!stored) return null;
    const tensors: HostTensorMap = new Map(
      stored.tensors.map((t) => [t.name, { shape: [...t.shape], data: t.data }]),
    );
    return { tensors, tag: stored.tag };
  }

  writeTensors(name: TensorSetName, tensors: HostTensorMap, tag = ''): Promise<void> {
    const value: StoredTensorSet = {
      tag,
      // Copies: the caller may keep mutating its arrays after the write resolves.
      tensors: [...tensors].map(([n, t]) => ({ name: n, shape: [...t.shape], data: t.data.slice() })),
    };
    return this.put(`tensors/${name}`, value);
  }

  deleteTensors(name: TensorSetName): Promise<void> {
    return this.transact('readwrite', (store) => store.delete(`tensors/${name}`), `delete tensors/${name}`);
  }

  /** A page's own record (structured-cloneable), or undefined. */
  readSetting<T>(key: string): Promise<T | undefined> {
    return this.get(`setting/${key}`) as Promise<T | undefined>;
  }

  writeSetting(key: string, value: unknown): Promise<void> {
    return this.put(`setting/${key}`, value);
  }

  close(): void {
    this.db.close();
  }

  private async get(key: string): Promise<unknown> {
    try {
      const tx = this.db.transaction(OBJECT_STORE, 'readonly');
      return await request(tx.objectStore(OBJECT_STORE).get(key));
    } catch (err) {
      throw storageError(`read ${key}`, err);
    }
  }

  private put(key: string, value: unknown): Promise<void> {
    return this.transact('readwrite', (store) => store.put(value, key), `write ${key}`);
  }

  /** Resolves when the transaction has committed (not merely when its request succeeded). */
  private transact(
    mode: IDBTransactionMode,
    body: (store: IDBObjectStore) => IDBRequest,
    what: string,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      let tx: IDBTransaction;
      try {
        tx = this.db.transaction(OBJECT_STORE, mode);
        body(tx.objectStore(OBJECT_STORE));
      } catch (err) {
        reject(storageError(what, err));
        return;
      }
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(storageError(what, tx.error));
      tx.onerror = () => reject(storageError(what, tx.error));
    });
  }
}
