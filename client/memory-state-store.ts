/**
 * A `StateStore` in process memory: for the fleet simulator (thousands of virtual clients, no disk) and
 * tests. Values are deep-copied in and out so a caller mutating its tensors cannot change what is "on disk".
 */
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import type { ClientStateMeta, StateStore, StoredTensors, TensorSetName } from './state-store.ts';

function copyTensors(tensors: HostTensorMap): HostTensorMap {
  return new Map([...tensors].map(([name, t]) => [name, { shape: [...t.shape], data: t.data.slice() }]));
}

export class MemoryStateStore implements StateStore {
  readonly location: string;
  private meta: ClientStateMeta | null = null;
  private readonly sets = new Map<TensorSetName, StoredTensors>();

  constructor(label = 'memory') {
    this.location = label;
  }

  readMeta(): Promise<ClientStateMeta | null> {
    return Promise.resolve(this.meta ? structuredClone(this.meta) : null);
  }

  writeMeta(meta: ClientStateMeta): Promise<void> {
    this.meta = structuredClone(meta);
    return Promise.resolve();
  }

  readTensors(name: TensorSetName): Promise<StoredTensors | null> {
    const stored = this.sets.get(name);
    return Promise.resolve(stored ? { tensors: copyTensors(stored.tensors), tag: stored.tag } : null);
  }

  writeTensors(name: TensorSetName, tensors: HostTensorMap, tag = ''): Promise<void> {
    this.sets.set(name, { tensors: copyTensors(tensors), tag });
    return Promise.resolve();
  }

  deleteTensors(name: TensorSetName): Promise<void> {
    this.sets.delete(name);
    return Promise.resolve();
  }
}
