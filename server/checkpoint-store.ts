/**
 * Checkpoints of the coordinator, one per completed round, each a directory written under a temporary name
 * and renamed into place (a rename is atomic on POSIX), then published by rewriting `LATEST` atomically
 * (write-file-atomic: temp file, fsync, rename). A crash at any moment leaves either the previous or the new
 * checkpoint, never a torn one.
 *
 * Contents: `global.safetensors` (the global shared tensors), `strategy-<depth>.safetensors` (server optimizer
 * tensors of the strategy and of each wrapped inner strategy), `state.json` (round, run, link schedule,
 * strategy values, client sessions, signature reference, RNG state) and `manifest.json` (the SHA-256 of every
 * other file, written last; checkpoint-manifest.ts).
 *
 * Loading trusts nothing it has not verified: the newest folder whose manifest checks out wins, so a flipped
 * byte, a truncated file, a missing folder or a damaged, emptied or deleted `LATEST` falls back to the newest
 * good checkpoint with one log line — never to "start from round 0" while checkpoint folders exist. Temporary
 * folders of an interrupted save are removed when the store opens a run (`loadLatest`, `removeTemporary`).
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { ManifestBuilder, MANIFEST_FILE, readVerified } from './checkpoint-manifest.ts';
import { join } from 'node:path';
import {
  makeDirectory,
  nodeStorageFs,
  removeDurably,
  renameDurably,
  writeDurably,
  type StorageFs,
} from './durability/durable-fs.ts';
import { FedpeftError } from '../shared/errors.ts';
import { parseSafetensors, serializeSafetensors } from '../shared/model/safetensors.ts';
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import type { StrategyState } from './strategies/strategy.ts';
import { asBuffer } from '../shared/model/checkpoint.ts';

export interface SessionRecord {
  id: string;
  /** SHA-256 of the session token (the token itself is never stored). */
  tokenDigest: string;
  /** Digest of the join token that admitted the session (revoking it ends the session). */
  joinTokenDigest: string;
  clientName: string;
  lastCommittedRound: number;
}

export interface CheckpointState {
  version: 1;
  runId: string;
  /** Rounds completed; the next round is `round + 1`. */
  round: number;
  seed: number;
  method: string;
  model: string;
  /** Link schedule of chained methods (rounds per link) or null. */
  linkSchedule: { roundsPerLink: number } | null;
  strategy: { name: string; values: Record<string, number>; depth: number; names: string[] };
  sessions: SessionRecord[];
  /** The run's signature reference (the coordinator's own, or the first accepted client's), as numbers. */
  signatureReference: number[] | null;
  /** Coordinator randomness is derived from (seed, round) and crypto; the seed is the whole RNG state. */
  rng: { seed: number };
  savedAt: string;
}

export interface Checkpoint {
  state: CheckpointState;
  global: HostTensorMap;
  strategyState: StrategyState;
}

const LATEST = 'LATEST';
const ROUND_DIR = /^round-(\d{6,})$/;
const TEMP_DIR = /^\.round-\d+\.tmp-/;
/** A temporary file of an interrupted durable write (`LATEST`'s). */
const TEMP_FILE = /^\..+\.tmp$/;

function flattenStrategy(state: StrategyState): StrategyState[] {
  const out: StrategyState[] = [];
  for (let s: StrategyState | undefined = state; s; s = s.inner) out.push(s);
  return out;
}

export interface CheckpointStoreOptions {
  /** Where the one line about a fallback (damaged newest checkpoint, bad pointer) goes. Default: stderr. */
  log?: (line: string) => void;
  /** The filesystem checkpoints are written through (a failing one in tests). Default: node's. */
  fs?: StorageFs;
}

export class CheckpointStore {
  readonly dir: string;
  private readonly log: (line: string) => void;
  private readonly fs: StorageFs;
  constructor(
    runDir: string,
    private readonly keep = 2,
    options: CheckpointStoreOptions = {},
  ) {
    this.dir = join(runDir, 'checkpoints');
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.fs = options.fs ?? nodeStorageFs;
  }

  async save(
    state: Omit<CheckpointState, 'strategy' | 'version' | 'savedAt'>,
    global: HostTensorMap,
    strategyState: StrategyState,
  ): Promise<string> {
    // Every write goes through writeDurably (full length checked, fsync of file and folder); any failure is
    // a StorageError and leaves the published checkpoints as they were (the caller retries the whole save).
    await makeDirectory(this.fs, this.dir);
    const name = `round-${String(state.round).padStart(6, '0')}`;
    const final = join(this.dir, name);
    const tmp = join(this.dir, `.${name}.tmp-${process.pid}`);
    await removeDurably(this.fs, tmp);
    await makeDirectory(this.fs, tmp);
    const levels = flattenStrategy(strategyState);
    const full: CheckpointState = {
      version: 1,
      ...state,
      strategy: {
        name: strategyState.strategy,
        values: strategyState.values,
        depth: levels.length,
        names: levels.map((l) => l.strategy),
      },
      savedAt: new Date().toISOString(),
    };
    const manifest = new ManifestBuilder();
    const write = async (file: string, bytes: Buffer | string) => {
      manifest.add(file, bytes);
      await writeDurably(this.fs, join(tmp, file), bytes);
    };
    await write('global.safetensors', asBuffer(serializeSafetensors(global)));
    for (const [i, level] of levels.entries()) {
      await write(`strategy-${i}.safetensors`, asBuffer(serializeSafetensors(level.tensors)));
      await write(`strategy-${i}.json`, JSON.stringify(level.values));
    }
    await write('state.json', JSON.stringify(full, null, 2));
    await writeDurably(this.fs, join(tmp, MANIFEST_FILE), manifest.toJson());
    await removeDurably(this.fs, final);
    await renameDurably(this.fs, tmp, final);
    await writeDurably(this.fs, join(this.dir, LATEST), name);
    // Pruning is housekeeping: the new checkpoint is published, so a failure here must not fail the save.
    await this.prune(name).catch((err: unknown) =>
      this.log(`checkpoint: could not remove old checkpoints (${(err as Error).message})`),
    );
    return final;
  }

  /** Names of the completed checkpoint folders, newest first. */
  async list(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch {
      return [];
    }
    return entries.filter((e) => ROUND_DIR.test(e)).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  }

  /** Removes folders an interrupted save left behind (they were never published). */
  async removeTemporary(): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch {
      return;
    }
    for (const e of entries.filter((x) => TEMP_DIR.test(x) || TEMP_FILE.test(x)))
      await rm(join(this.dir, e), { recursive: true, force: true }).catch((err: unknown) =>
        this.log(`checkpoint: could not remove the temporary ${e} (${(err as Error).message})`),
      );
  }

  /**
   * The newest checkpoint that verifies, or null when the run has no checkpoint folder at all. When that is
   * not the one `LATEST` names (pointer damaged, emptied, deleted, or naming a damaged folder), one line says
   * what was skipped and why. Every folder damaged is an error: resuming from round 0 would discard the run.
   */
  async loadLatest(): Promise<Checkpoint | null> {
    await this.removeTemporary();
    const names = await this.list();
    if (names.length === 0) return null;
    const pointer = await this.readPointer();
    const skipped: string[] = [];
    for (const name of names) {
      try {
        const checkpoint = await this.loadVerified(name);
        if (skipped.length > 0 || pointer.name !== name) {
          const why = [...skipped, ...(pointer.problem && skipped.length === 0 ? [pointer.problem] : [])];
          this.log(
            `checkpoint: resuming from ${name} (round ${checkpoint.state.round}); skipped: ${why.join('; ') || `LATEST names ${pointer.name}`}`,
          );
        }
        return checkpoint;
      } catch (err) {
        skipped.push(`${name} is damaged (${(err as Error).message})`);
      }
    }
    throw new FedpeftError(
      'CHECKPOINT_UNREADABLE',
      `no checkpoint in ${this.dir} can be read: ${skipped.join('; ')}`,
    );
  }

  private async readPointer(): Promise<{ name: string | null; problem: string | null }> {
    let text: string;
    try {
      text = (await readFile(join(this.dir, LATEST), 'utf8')).trim();
    } catch {
      return { name: null, problem: `${LATEST} is missing` };
    }
    if (!ROUND_DIR.test(text)) return { name: null, problem: `${LATEST} is empty or damaged` };
    return { name: text, problem: null };
  }

  private async loadVerified(name: string): Promise<Checkpoint> {
    const dir = join(this.dir, name);
    const files = await readVerified(dir);
    const file = (f: string): Buffer => {
      const bytes = files.get(f);
      if (!bytes) throw new Error(`${f} is not in the manifest`);
      return bytes;
    };
    const state = JSON.parse(file('state.json').toString('utf8')) as CheckpointState;
    if (state.version !== 1) throw new Error(`unsupported checkpoint version ${String(state.version)}`);
    const global = parseSafetensors(file('global.safetensors'), { source: dir }).tensors;
    let strategyState: StrategyState | undefined;
    for (let i = state.strategy.depth - 1; i >= 0; i--) {
      const tensors = parseSafetensors(file(`strategy-${i}.safetensors`)).tensors;
      const values = JSON.parse(file(`strategy-${i}.json`).toString('utf8')) as Record<string, number>;
      strategyState = {
        strategy: state.strategy.names[i]!,
        tensors,
        values,
        ...(strategyState ? { inner: strategyState } : {}),
      };
    }
    return { state, global, strategyState: strategyState! };
  }

  private async prune(current: string): Promise<void> {
    const entries = (await this.list()).reverse();
    const drop = entries.filter((e) => e !== current).slice(0, Math.max(0, entries.length - this.keep));
    for (const e of drop) await removeDurably(this.fs, join(this.dir, e));
  }
}
