/**
 * The run's fold history (stateful methods; proto `FoldRequest`/`FoldHistory`). A chained method's clients
 * fold the final global of link i into their base when link i ends (fold i); a fresh-each-round method
 * (FLoRA) folds every aggregated round's stacked global (fold i = the global of the i-th aggregated round).
 * The coordinator keeps every fold, writes each atomically under `<runDir>/folds/` BEFORE the checkpoint of
 * its round (so a checkpoint never references a missing fold), and on resume keeps the folds of rounds the
 * restored checkpoint covers (a fold written for a round whose checkpoint never landed is made again).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LinkSchedule } from '../../shared/adapters/link-schedule.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { asBuffer } from '../../shared/model/checkpoint.ts';
import { parseSafetensors, serializeSafetensors } from '../../shared/model/safetensors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import { MAX_FOLDS_PER_REPLY } from '../../shared/wire/limits.ts';
import type { MessageBody, MessageInput } from '../../shared/wire/messages.ts';
import type { FoldKind } from '../method-state.ts';
import { makeDirectory, nodeStorageFs, writeDurably, type StorageFs } from '../durability/durable-fs.ts';
import { retryStorage, type StorageHealth } from '../durability/storage-health.ts';

/** Where folds are written and who hears about storage failures (the coordinator's StorageHealth). */
export interface FoldStorage {
  fs: StorageFs;
  health?: StorageHealth;
  stopped?: () => boolean;
}

interface FoldEntry {
  index: number;
  /** The link (chained) or round id (fresh-each-round) whose final global this fold is. */
  linkIndex: number;
  /** The round after which the fold was made (its checkpoint references it). */
  round: number;
}

const FOLD_TRANSFER = /^fold-(\d{1,9})$/;

export function foldTransferId(index: number): string {
  return `fold-${index}`;
}

export class FoldHistory {
  private readonly entries: FoldEntry[] = [];
  private readonly tensors: HostTensorMap[] = [];
  private readonly transfers = new Map<number, OutgoingTransfer>();
  private readonly dir: string;

  constructor(
    runDir: string,
    readonly kind: FoldKind,
    private readonly schedule: LinkSchedule | null,
    private readonly chunkBytes: number,
    private readonly storage: FoldStorage = { fs: nodeStorageFs },
  ) {
    this.dir = join(runDir, 'folds');
  }

  get count(): number {
    return this.entries.length;
  }

  /**
   * Called when round `round` (1-based) closed with `global` as the new global: records and persists the
   * fold it makes, if any (before the round's checkpoint is written).
   */
  async afterRound(round: number, aggregated: boolean, global: HostTensorMap): Promise<void> {
    let linkIndex: number | null = null;
    if (this.kind === 'chained' && this.schedule?.startsLink(round))
      linkIndex = this.schedule.linkAt(round - 1);
    if (this.kind === 'fresh-each-round' && aggregated) linkIndex = round;
    if (linkIndex === null) return;
    const entry = { index: this.entries.length, linkIndex, round };
    const entries = [...this.entries, entry];
    const bytes = asBuffer(serializeSafetensors(global));
    // Durable writes, retried with backoff on a full or read-only disk (server/durability/storage-health.ts).
    const write = async () => {
      await makeDirectory(this.storage.fs, this.dir);
      await writeDurably(this.storage.fs, join(this.dir, `fold-${entry.index}.safetensors`), bytes);
      await writeDurably(this.storage.fs, join(this.dir, 'index.json'), JSON.stringify(entries));
    };
    if (this.storage.health)
      await retryStorage(this.storage.health, 'the fold history', write, { stopped: this.storage.stopped });
    else await write();
    this.entries.push(entry);
    this.tensors.push(global);
  }

  /** Loads the folds made by rounds up to `throughRound` (the restored checkpoint's round). */
  async restore(throughRound: number): Promise<void> {
    let listed: FoldEntry[];
    try {
      listed = JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')) as FoldEntry[];
    } catch {
      return; // no fold made yet
    }
    for (const entry of listed) {
      if (entry.round > throughRound || entry.index !== this.entries.length) break;
      const file = join(this.dir, `fold-${entry.index}.safetensors`);
      this.tensors.push(parseSafetensors(await readFile(file), { source: file }).tensors);
      this.entries.push(entry);
    }
  }

  /** The download of fold `transferId` (`fold-<index>`), or undefined for any other id. */
  transfer(transferId: string): OutgoingTransfer | undefined {
    const m = FOLD_TRANSFER.exec(transferId);
    if (!m) return undefined;
    const index = Number(m[1]);
    if (index >= this.entries.length) return undefined;
    let t = this.transfers.get(index);
    if (!t) {
      t = OutgoingTransfer.fromHostTensors(foldTransferId(index), this.tensors[index]!, {
        chunkBytes: this.chunkBytes,
      });
      this.transfers.set(index, t);
    }
    return t;
  }

  /**
   * The reply to a FoldRequest for [fromIndex, toIndex). MALFORMED_MESSAGE for an inverted range or one
   * longer than MAX_FOLDS_PER_REPLY; UNEXPECTED_MESSAGE for folds that do not exist (yet).
   */
  answer(request: MessageBody<'foldRequest'>): { kind: 'foldHistory'; body: MessageInput<'foldHistory'> } {
    const { fromIndex, toIndex } = request;
    if (fromIndex > toIndex) {
      throw new FedpeftError('MALFORMED_MESSAGE', `fold range [${fromIndex}, ${toIndex}) is inverted`);
    }
    if (toIndex - fromIndex > MAX_FOLDS_PER_REPLY) {
      throw new FedpeftError(
        'MALFORMED_MESSAGE',
        `fold range [${fromIndex}, ${toIndex}) asks for more than ${MAX_FOLDS_PER_REPLY} folds; split the request`,
      );
    }
    if (toIndex > this.entries.length) {
      throw new FedpeftError(
        'UNEXPECTED_MESSAGE',
        `fold range [${fromIndex}, ${toIndex}) goes past the run's ${this.entries.length} fold(s)`,
      );
    }
    const folds = this.entries.slice(fromIndex, toIndex).map((e) => ({
      index: e.index,
      linkIndex: e.linkIndex,
      state: this.transfer(foldTransferId(e.index))!.manifest,
    }));
    return { kind: 'foldHistory', body: { folds } };
  }
}
