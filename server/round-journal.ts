/**
 * The round journal, and the coordinator's write-ahead rule (docs/durability.md): an update is written to
 * the journal completely and durably — every byte written and the size checked, the file and its directory
 * fsynced (server/durability/durable-fs.ts) — BEFORE it is folded into the round's aggregate and before its
 * UpdateReceipt is sent. A storage failure refuses the update with STORAGE_UNAVAILABLE (retryable) and leaves
 * the aggregate unchanged; an update the aggregate then refuses has its entry removed again. An acknowledged
 * update therefore survives a crash: `serve --resume` replays the journal of the round in progress into a
 * fresh aggregation. The journal is cleared once the round's checkpoint is published.
 *
 * Journaling whole updates (rather than the running sum) costs disk proportional to the round's clients, but
 * works with every strategy — including robust ones whose state is not a sum — and keeps replay exact.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSafetensors, serializeSafetensors } from '../shared/model/safetensors.ts';
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import { asBuffer } from '../shared/model/checkpoint.ts';
import {
  makeDirectory,
  nodeStorageFs,
  removeDurably,
  writeDurably,
  isStorageError,
  type StorageFs,
} from './durability/durable-fs.ts';
import { retryStorage, type StorageHealth } from './durability/storage-health.ts';

export interface RoundJournalOptions {
  /** The filesystem entries are written through (a failing one in tests). */
  fs?: StorageFs;
  /** Told about every durable write, so storage failures are logged once and shown on /status. */
  health?: StorageHealth;
  /** Where a damaged entry found on replay, or a journal that could not be removed, is reported. */
  warn?: (message: string) => void;
}

export interface JournalEntry {
  round: number;
  sessionId: string;
  transferId: string;
  weight: number;
  numExamples: number;
  trainedExtents: Record<string, number>;
  /** HetLoRA's per-tensor norms (absent in journals written before they existed). */
  norms?: Record<string, number>;
  trainLoss: number | null;
  globalValLoss: number | null;
  personalValLoss: number | null;
  tensors: HostTensorMap;
}

/** A journaled update; `discard` removes it when the aggregate refused the update after all. */
export interface JournalReceipt {
  file: string;
  discard(): Promise<void>;
}

const SAMPLE_FILE = 'sampled.json';

/** SHA-256 over every tensor's name, shape and values, in name order (a flipped byte changes it). */
function tensorDigest(tensors: HostTensorMap): string {
  const hash = createHash('sha256');
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name)!;
    hash.update(`${name}:${t.shape.join('x')}:`);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return hash.digest('hex');
}

export class RoundJournal {
  readonly dir: string;
  private seq = 0;
  private readonly fs: StorageFs;
  private readonly health: StorageHealth | undefined;
  private readonly warn: (message: string) => void;
  constructor(runDir: string, options: RoundJournalOptions = {}) {
    this.dir = join(runDir, 'journal');
    this.fs = options.fs ?? nodeStorageFs;
    this.health = options.health;
    this.warn = options.warn ?? ((m) => process.stderr.write(`${m}\n`));
  }

  /** Runs a durable write, telling the storage health how it went. */
  private async tracked<T>(what: string, write: () => Promise<T>): Promise<T> {
    try {
      const out = await write();
      this.health?.succeeded();
      return out;
    } catch (err) {
      if (isStorageError(err)) this.health?.failed(err, { writing: what });
      throw err;
    }
  }

  /** Durably journals `entry`, or throws a StorageError (nothing is left under the entry's name). */
  async append(entry: JournalEntry): Promise<JournalReceipt> {
    const dir = join(this.dir, `round-${entry.round}`);
    const { tensors, ...meta } = entry;
    const file = join(dir, `${String(this.seq++).padStart(6, '0')}-${entry.sessionId}.safetensors`);
    const bytes = asBuffer(
      serializeSafetensors(tensors, { entry: JSON.stringify(meta), sha256: tensorDigest(tensors) }),
    );
    await this.tracked(`the journal entry of ${entry.sessionId} (round ${entry.round})`, async () => {
      await makeDirectory(this.fs, dir);
      await writeDurably(this.fs, file, bytes);
    });
    return { file, discard: () => removeDurably(this.fs, file) };
  }

  /** The journaled updates of `round`, in acceptance order (a damaged entry is reported and skipped). */
  async read(round: number): Promise<JournalEntry[]> {
    const dir = join(this.dir, `round-${round}`);
    let files: string[];
    try {
      // Temporary files of an interrupted write start with '.' and never end in .safetensors.
      const all = await readdir(dir);
      for (const f of all.filter((x) => x.startsWith('.') && x.endsWith('.tmp')))
        await rm(join(dir, f), { force: true }).catch(() => undefined);
      files = all.filter((f) => f.endsWith('.safetensors') && !f.startsWith('.')).sort();
    } catch {
      return [];
    }
    const out: JournalEntry[] = [];
    for (const f of files) {
      try {
        const parsed = parseSafetensors(await readFile(join(dir, f)), { source: f });
        // Entries written before digests existed have none; a present digest must match.
        const digest = parsed.metadata.sha256;
        if (digest !== undefined && digest !== tensorDigest(parsed.tensors))
          throw new Error('its tensors do not match their SHA-256');
        const meta = JSON.parse(parsed.metadata.entry ?? '{}') as Omit<JournalEntry, 'tensors'>;
        out.push({ ...meta, tensors: parsed.tensors });
      } catch (err) {
        this.warn(`journal: skipping damaged entry ${join(dir, f)} (${(err as Error).message})`);
      }
    }
    this.seq = Math.max(this.seq, files.length);
    return out;
  }

  /** Durably records the sample (and per-client settings) of `round`, so a resumed round keeps it. */
  async writeSample(round: number, settings: Record<string, unknown>): Promise<void> {
    const dir = join(this.dir, `round-${round}`);
    const write = async () => {
      await makeDirectory(this.fs, dir);
      await writeDurably(this.fs, join(dir, SAMPLE_FILE), JSON.stringify(settings));
    };
    // Nothing is acknowledged yet, so waiting for the disk is safe: retry until it takes the write.
    if (this.health) await retryStorage(this.health, `the sample of round ${round}`, write);
    else await write();
  }

  /** The sample of `round` written by `writeSample`, or null. */
  async readSample<T>(round: number): Promise<Record<string, T> | null> {
    try {
      return JSON.parse(await readFile(join(this.dir, `round-${round}`, SAMPLE_FILE), 'utf8')) as Record<
        string,
        T
      >;
    } catch {
      return null;
    }
  }

  /** Drops the journals of every round up to `round` (its checkpoint holds them now). */
  async clearThrough(round: number): Promise<void> {
    let dirs: string[];
    try {
      dirs = await readdir(this.dir);
    } catch {
      return;
    }
    for (const d of dirs) {
      const r = Number(d.replace('round-', ''));
      if (!Number.isInteger(r) || r > round) continue;
      // Best effort: a journal left behind is ignored on resume (only the round after the checkpoint replays).
      await removeDurably(this.fs, join(this.dir, d)).catch((err: unknown) =>
        this.warn(`journal: could not remove ${d} (${(err as Error).message})`),
      );
    }
  }
}
