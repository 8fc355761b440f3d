/**
 * The pretrained-base cache (Node-only). The main job, the simulator and tests ask for "the tiny GPT
 * pretrained on Moby-Dick with this recipe" and get a checkpoint directory, trained on first use:
 *
 *   <cacheDir>/bases/<size>-<corpus>-<hash>/   model.safetensors, config.json, pretrain.json, training state
 *
 * - `cacheDir`: the option, else `FEDPEFT_CACHE_DIR`, else `$XDG_CACHE_HOME/fedpeft`, else `~/.cache/fedpeft`.
 * - The key hashes the full training identity (`trainingIdentity`), so a changed recipe is a different base.
 * - One trainer per key: an exclusive lock file (`file-lock.node.ts`); other callers wait and then reuse it.
 * - Atomic publication: training happens in `.partial-<key>` and is renamed into place only when complete, so
 *   a reader never sees a half-trained base. A crashed or interrupted run leaves its partial directory (with
 *   training state), and the next caller resumes it instead of starting over.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FedpeftError } from '../errors.ts';
import {
  parsePretrainConfig,
  trainingIdentity,
  type PretrainConfig,
  type PretrainConfigInput,
} from '../pretrain/pretrain-config.ts';
import {
  runPretraining,
  SUMMARY_FILE,
  type PretrainEvents,
  type PretrainSummary,
} from '../pretrain/pretrain-run.node.ts';
import { TRAINING_STATE_FILE } from '../pretrain/training-state.node.ts';
import { acquireLock, type LockOptions } from './file-lock.node.ts';

/** Default budget when a caller gives none: the design's "clearly learned in ~5 CPU-minutes". */
export const DEFAULT_BASE_MINUTES = 5;

export interface EnsureBaseOptions extends PretrainConfigInput {
  /** Overrides `FEDPEFT_CACHE_DIR` and the default location. */
  cacheDir?: string;
  /** Progress of the pretraining, when this call is the one that trains. */
  events?: PretrainEvents;
  /** One-line notices (cache hit, waiting for another process, resuming a partial run). */
  log?: (line: string) => void;
  lock?: LockOptions;
  /** Stop a pretraining this call started (its partial state is kept for the next caller). */
  signal?: AbortSignal;
}

export interface PretrainedBase {
  /** The checkpoint directory (`loadCheckpoint(dir)`). */
  dir: string;
  key: string;
  /** True when this call trained the base; false when it was already cached (or another process made it). */
  created: boolean;
  summary: PretrainSummary;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FEDPEFT_CACHE_DIR) return env.FEDPEFT_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fedpeft');
}

/** Config with the default budget applied when none is given. */
export function baseConfig(input: PretrainConfigInput): PretrainConfig {
  const withBudget =
    input.minutes === undefined && input.steps === undefined
      ? { ...input, minutes: DEFAULT_BASE_MINUTES }
      : input;
  return parsePretrainConfig(withBudget);
}

/** `<size>-<corpus>-<12 hex of sha256(identity)>`: readable, and distinct for every recipe. */
export function baseCacheKey(config: PretrainConfig): string {
  const identity = trainingIdentity(config);
  const canonical = JSON.stringify(identity, Object.keys(identity).sort());
  const hash = createHash('sha256').update(canonical).digest('hex').slice(0, 12);
  return `${config.size}-${config.corpus}-${hash}`;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readSummary(dir: string): Promise<PretrainSummary | null> {
  try {
    return JSON.parse(await readFile(join(dir, SUMMARY_FILE), 'utf8')) as PretrainSummary;
  } catch {
    return null;
  }
}

function splitOptions(options: EnsureBaseOptions): { input: PretrainConfigInput; cacheDir: string } {
  const { cacheDir, events: _events, log: _log, lock: _lock, signal: _signal, ...input } = options;
  return { input, cacheDir: cacheDir ?? defaultCacheDir() };
}

/** The cached base for this recipe, or null when it has not been trained yet. Never trains. */
export async function findPretrainedBase(options: EnsureBaseOptions = {}): Promise<PretrainedBase | null> {
  const { input, cacheDir } = splitOptions(options);
  const config = baseConfig(input);
  const key = baseCacheKey(config);
  const dir = join(cacheDir, 'bases', key);
  const summary = await readSummary(dir);
  return summary ? { dir, key, created: false, summary } : null;
}

export async function ensurePretrainedBase(options: EnsureBaseOptions = {}): Promise<PretrainedBase> {
  const { input, cacheDir } = splitOptions(options);
  const log = options.log ?? (() => undefined);
  const config = baseConfig(input);
  const key = baseCacheKey(config);
  const bases = join(cacheDir, 'bases');
  const dir = join(bases, key);

  const cached = await readSummary(dir);
  if (cached) return { dir, key, created: false, summary: cached };

  await mkdir(bases, { recursive: true });
  const lock = await acquireLock(join(bases, `${key}.lock`), {
    ...options.lock,
    onWait: (owner) => {
      log(`waiting for ${owner ? `pid ${owner.pid}` : 'another process'} to finish pretraining base ${key}`);
      options.lock?.onWait?.(owner);
    },
  });
  try {
    // Another process may have published it while we waited for the lock.
    const published = await readSummary(dir);
    if (published) return { dir, key, created: false, summary: published };

    const partial = join(bases, `.partial-${key}`);
    const resume = await exists(join(partial, TRAINING_STATE_FILE));
    if (resume) log(`resuming the interrupted pretraining of base ${key}`);
    else await rm(partial, { recursive: true, force: true });
    log(`pretraining base ${key} into the cache ${cacheDir}`);
    const result = await runPretraining({
      config,
      outDir: partial,
      resume,
      ...(options.events ? { events: options.events } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    result.model.dispose();
    if (result.stoppedBy !== 'budget') {
      throw new FedpeftError(
        'INTERRUPTED',
        `pretraining of base ${key} was interrupted at step ${result.steps}; the next call resumes it`,
      );
    }
    if (await exists(dir)) {
      await rm(partial, { recursive: true, force: true });
    } else {
      await rename(partial, dir);
    }
    const summary = await readSummary(dir);
    if (!summary) throw new Error(`base ${key} was published without ${SUMMARY_FILE}`);
    return { dir, key, created: true, summary };
  } finally {
    await lock.release();
  }
}
