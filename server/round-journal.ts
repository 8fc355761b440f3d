/**
 * The round journal: every update the coordinator accepts is written durably (its tensors as safetensors,
 * its weight and side information as metadata; temp file + fsync + rename) BEFORE its UpdateReceipt is sent.
 * An acknowledged update therefore survives a crash: `serve --resume` replays the journal of the round in
 * progress into a fresh aggregation. The journal is cleared once the round's checkpoint is published.
 *
 * Journaling whole updates (rather than the running sum) costs disk proportional to the round's clients, but
 * works with every strategy — including robust ones whose state is not a sum — and keeps replay exact.
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { parseSafetensors, serializeSafetensors } from '../shared/model/safetensors.ts';
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import { asBuffer } from '../shared/model/checkpoint.ts';

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

export class RoundJournal {
  readonly dir: string;
  private seq = 0;
  constructor(runDir: string) {
    this.dir = join(runDir, 'journal');
  }

  async append(entry: JournalEntry): Promise<void> {
    const dir = join(this.dir, `round-${entry.round}`);
    await mkdir(dir, { recursive: true });
    const { tensors, ...meta } = entry;
    const file = join(dir, `${String(this.seq++).padStart(6, '0')}-${entry.sessionId}.safetensors`);
    await writeFileAtomic(file, asBuffer(serializeSafetensors(tensors, { entry: JSON.stringify(meta) })), {
      fsync: true,
    });
  }

  /** The journaled updates of `round`, in acceptance order. */
  async read(round: number): Promise<JournalEntry[]> {
    const dir = join(this.dir, `round-${round}`);
    let files: string[];
    try {
      files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
    } catch {
      return [];
    }
    const out: JournalEntry[] = [];
    for (const f of files) {
      const parsed = parseSafetensors(await readFile(join(dir, f)), { source: f });
      const meta = JSON.parse(parsed.metadata.entry ?? '{}') as Omit<JournalEntry, 'tensors'>;
      out.push({ ...meta, tensors: parsed.tensors });
    }
    this.seq = Math.max(this.seq, files.length);
    return out;
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
      if (Number.isInteger(r) && r <= round) await rm(join(this.dir, d), { recursive: true, force: true });
    }
  }
}
