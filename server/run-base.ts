/**
 * The run's base checkpoint as the coordinator knows it (`model.base`): a directory given in the config, a
 * Hugging Face folder (`hf:<dir>`, converted into the cache) or a base from the pretrained-base cache, its weights (for `describeMethod`) and its fingerprint (what clients
 * must match, and the name it is served under). A pretraining under a time budget is not reproducible across
 * machines, so the coordinator distributes these exact bytes instead of asking clients to recompute them.
 */
import { resolve } from 'node:path';
import { checkpointFingerprint, loadCheckpoint, parametersToHost } from '../shared/model/checkpoint.ts';
import { ensurePretrainedBase, type EnsureBaseOptions } from '../shared/model-cache/base-cache.node.ts';
import type { CoordinatorConfig } from './config.ts';
import {
  assertByteVocabulary,
  ensureHfBase,
  hfBaseDir,
  readHfBaseModel,
  type HfBaseModel,
} from '../shared/model/hf/hf-base.node.ts';
import type { RunBaseWeights } from './method-state.ts';

export type BaseSpec = NonNullable<CoordinatorConfig['model']['base']>;

export interface RunBase extends RunBaseWeights {
  /** The checkpoint directory the base route streams from. */
  dir: string;
  /** `hf:<dir>` bases: the model the folder's config.json describes (the run's model.name / model.config). */
  model?: { name: string; config: Record<string, unknown> };
}

export interface ResolveRunBaseOptions {
  /** Pretrained-base cache location (default: `FEDPEFT_CACHE_DIR` / ~/.cache/fedpeft). */
  cacheDir?: string;
  /** One-line notices (e.g. "pretraining base ... into the cache"). */
  log?: (line: string) => void;
  /** Progress of a first-use pretraining (the CLI draws a progress bar from it). */
  events?: EnsureBaseOptions['events'];
}

/** Find (or pretrain) the base, fingerprint its weights file and load its parameters to the host. */
export async function resolveRunBase(spec: BaseSpec, options: ResolveRunBaseOptions = {}): Promise<RunBase> {
  let dir: string;
  let hfModel: HfBaseModel | undefined;
  const hfDir = typeof spec === 'string' ? hfBaseDir(spec) : null;
  if (hfDir !== null) {
    hfModel = await readHfBaseModel(hfDir);
    assertByteVocabulary(hfModel, `model.base ${spec as string}`);
    dir = (
      await ensureHfBase(hfDir, {
        ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
        ...(options.log ? { log: options.log } : {}),
      })
    ).dir;
  } else if (typeof spec === 'string') {
    dir = resolve(spec);
  } else {
    const { corpus, size, minutes, steps } = spec.pretrained;
    const pretrained = await ensurePretrainedBase({
      corpus,
      size,
      ...(minutes !== undefined ? { minutes } : {}),
      ...(steps !== undefined ? { steps } : {}),
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.log ? { log: options.log } : {}),
      ...(options.events ? { events: options.events } : {}),
    } as EnsureBaseOptions);
    dir = pretrained.dir;
  }
  // Hash first: the weights loaded below come from the same file, so a checkpoint rewritten in between
  // would at worst be caught by clients' verification, never silently served under a stale name.
  const fingerprint = await checkpointFingerprint(dir);
  const model = await loadCheckpoint(dir);
  try {
    return {
      dir,
      weights: parametersToHost(model),
      config: { ...model.config },
      sha256: fingerprint.sha256,
      bytes: fingerprint.bytes,
      source: dir,
      ...(hfModel ? { model: { name: hfModel.name, config: hfModel.config } } : {}),
    };
  } finally {
    model.dispose();
  }
}
