/**
 * Checkpoints of the coordinator, one per completed round, each a directory written under a temporary name
 * and renamed into place (a rename is atomic on POSIX), then published by rewriting `LATEST` atomically
 * (write-file-atomic: temp file, fsync, rename). A crash at any moment leaves either the previous or the new
 * checkpoint, never a torn one.
 *
 * Contents: `global.safetensors` (the global shared tensors), `strategy-<depth>.safetensors` (server optimizer
 * tensors of the strategy and of each wrapped inner strategy), `state.json` (round, run, link schedule,
 * strategy values, client sessions, signature reference, RNG state).
 */
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
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
  /** Reference signature (first accepted client's), as numbers. */
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

function flattenStrategy(state: StrategyState): StrategyState[] {
  const out: StrategyState[] = [];
  for (let s: StrategyState | undefined = state; s; s = s.inner) out.push(s);
  return out;
}

export class CheckpointStore {
  readonly dir: string;
  constructor(
    runDir: string,
    private readonly keep = 2,
  ) {
    this.dir = join(runDir, 'checkpoints');
  }

  async save(
    state: Omit<CheckpointState, 'strategy' | 'version' | 'savedAt'>,
    global: HostTensorMap,
    strategyState: StrategyState,
  ): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const name = `round-${String(state.round).padStart(6, '0')}`;
    const final = join(this.dir, name);
    const tmp = join(this.dir, `.${name}.tmp-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
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
    await writeFileAtomic(join(tmp, 'global.safetensors'), asBuffer(serializeSafetensors(global)));
    for (const [i, level] of levels.entries()) {
      await writeFileAtomic(
        join(tmp, `strategy-${i}.safetensors`),
        asBuffer(serializeSafetensors(level.tensors)),
      );
      await writeFileAtomic(join(tmp, `strategy-${i}.json`), JSON.stringify(level.values));
    }
    await writeFileAtomic(join(tmp, 'state.json'), JSON.stringify(full, null, 2));
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    await writeFileAtomic(join(this.dir, LATEST), name);
    await this.prune(name);
    return final;
  }

  /** The newest published checkpoint, or null when the run has none yet. */
  async loadLatest(): Promise<Checkpoint | null> {
    let name: string;
    try {
      name = (await readFile(join(this.dir, LATEST), 'utf8')).trim();
    } catch {
      return null;
    }
    const dir = join(this.dir, name);
    try {
      const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as CheckpointState;
      if (state.version !== 1) throw new Error(`unsupported checkpoint version ${String(state.version)}`);
      const global = parseSafetensors(await readFile(join(dir, 'global.safetensors')), {
        source: dir,
      }).tensors;
      let strategyState: StrategyState | undefined;
      for (let i = state.strategy.depth - 1; i >= 0; i--) {
        const tensors = parseSafetensors(await readFile(join(dir, `strategy-${i}.safetensors`))).tensors;
        const values = JSON.parse(await readFile(join(dir, `strategy-${i}.json`), 'utf8')) as Record<
          string,
          number
        >;
        strategyState = {
          strategy: state.strategy.names[i]!,
          tensors,
          values,
          ...(strategyState ? { inner: strategyState } : {}),
        };
      }
      return { state, global, strategyState: strategyState! };
    } catch (err) {
      throw new FedpeftError(
        'CHECKPOINT_UNREADABLE',
        `checkpoint ${dir} cannot be read: ${(err as Error).message}`,
      );
    }
  }

  private async prune(current: string): Promise<void> {
    const entries = (await readdir(this.dir)).filter((e) => e.startsWith('round-')).sort();
    const drop = entries.filter((e) => e !== current).slice(0, Math.max(0, entries.length - this.keep));
    for (const e of drop) await rm(join(this.dir, e), { recursive: true, force: true });
  }
}
