/**
 * The state store of a virtual client: what a real device keeps on disk between rounds (session, the
 * method's private tensors, AdamW moments, its personal adapter, an upload in flight), in memory, and
 * movable as a plain snapshot — the runner keeps every client's snapshot and hands it to whichever worker
 * runs that client next, so rounds can be balanced over workers and workers hold no per-client state.
 *
 * Compact on purpose: the last global state (`global`), which a device keeps to skip a re-download, is not
 * kept — a virtual client that returns in a later round downloads the then-current global state anyway, and
 * one copy per client would make memory grow with the fleet instead of with the round.
 */
import { MemoryStateStore } from '../../client/memory-state-store.ts';
import {
  TENSOR_SETS,
  type ClientStateMeta,
  type StateStore,
  type StoredTensors,
  type TensorSetName,
} from '../../client/state-store.ts';
import type { HostTensor, HostTensorMap } from '../../shared/tensor/host-tensor.ts';

const NOT_KEPT: ReadonlySet<TensorSetName> = new Set(['global']);

/** Structured-clone friendly (crosses `process.send` with advanced serialization). */
export interface ClientStateSnapshot {
  meta: ClientStateMeta | null;
  sets: Array<{ name: TensorSetName; tag: string; tensors: Array<[string, HostTensor]> }>;
}

/** Bytes of tensor data in a snapshot. */
export function snapshotBytes(snapshot: ClientStateSnapshot): number {
  let total = 0;
  for (const set of snapshot.sets) for (const [, t] of set.tensors) total += t.data.byteLength;
  return total;
}

export class CompactStateStore implements StateStore {
  readonly location: string;
  private readonly inner: MemoryStateStore;

  constructor(label: string) {
    this.location = label;
    this.inner = new MemoryStateStore(label);
  }

  static async fromSnapshot(
    label: string,
    snapshot: ClientStateSnapshot | undefined,
  ): Promise<CompactStateStore> {
    const store = new CompactStateStore(label);
    if (!snapshot) return store;
    if (snapshot.meta) await store.inner.writeMeta(snapshot.meta);
    for (const set of snapshot.sets) await store.inner.writeTensors(set.name, new Map(set.tensors), set.tag);
    return store;
  }

  async snapshot(): Promise<ClientStateSnapshot> {
    const sets: ClientStateSnapshot['sets'] = [];
    for (const name of TENSOR_SETS) {
      const stored = await this.inner.readTensors(name);
      if (stored) sets.push({ name, tag: stored.tag, tensors: [...stored.tensors] });
    }
    return { meta: await this.inner.readMeta(), sets };
  }

  /**
   * Drops an unfinished upload. A device that vanished mid-round comes back after that round closed: the
   * coordinator would refuse the stale update anyway, so the simulation does not replay that exchange.
   */
  async forgetUpload(): Promise<void> {
    const meta = await this.inner.readMeta();
    if (meta) await this.inner.writeMeta({ ...meta, upload: null });
    await this.inner.deleteTensors('upload');
  }

  readMeta(): Promise<ClientStateMeta | null> {
    return this.inner.readMeta();
  }

  writeMeta(meta: ClientStateMeta): Promise<void> {
    return this.inner.writeMeta(meta);
  }

  readTensors(name: TensorSetName): Promise<StoredTensors | null> {
    return this.inner.readTensors(name);
  }

  async writeTensors(name: TensorSetName, tensors: HostTensorMap, tag?: string): Promise<void> {
    if (NOT_KEPT.has(name)) return;
    await this.inner.writeTensors(name, tensors, tag);
  }

  deleteTensors(name: TensorSetName): Promise<void> {
    return this.inner.deleteTensors(name);
  }
}
