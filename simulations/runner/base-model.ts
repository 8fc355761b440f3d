/**
 * The frozen base every client of a scenario fine-tunes: a GPT pretrained on `base.corpus` read from the base
 * cache (pretrained once, on first use, under the cache's lock), or the seeded initialisation
 * (`base.source: random`), or a Hugging Face folder converted into the cache (`base.source: hf`). Loaded once per process as host arrays; every trainer of that process copies them
 * into its own model, so the checkpoint is read once per worker, not once per client.
 */
import { ensurePretrainedBase, type PretrainedBase } from '../../shared/model-cache/base-cache.node.ts';
import { loadCheckpoint, parametersToHost } from '../../shared/model/checkpoint.ts';
import type { PretrainEvents } from '../../shared/pretrain/pretrain-run.node.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { GptSizeName } from '../../shared/model/zoo.ts';
import type { Scenario } from '../scenario.ts';
import { assertByteVocabulary, ensureHfBase, readHfBaseModel } from '../../shared/model/hf/hf-base.node.ts';

/**
 * With `base.source: hf` the folder's config.json is the model: `model` becomes the zoo kind it describes with
 * every field set from it (the scenario's `model.overrides` still apply on top, e.g. a shorter contextLength
 * for a Llama). Other scenarios are returned unchanged.
 */
export async function scenarioWithBaseModel(scenario: Scenario): Promise<Scenario> {
  if (scenario.base.source !== 'hf') return scenario;
  const model = await readHfBaseModel(scenario.base.dir!);
  assertByteVocabulary(model, `base.dir ${scenario.base.dir}`);
  return {
    ...scenario,
    model: { name: model.name, overrides: { ...model.config, ...scenario.model.overrides } },
  };
}

export interface ResolvedBase {
  /** The checkpoint directory, or null for the seeded initialisation. */
  dir: string | null;
  /** One line for logs and reports. */
  description: string;
  pretrained: PretrainedBase | null;
}

export interface ResolveBaseOptions {
  log?: (line: string) => void;
  /** Progress of a first-use pretraining (the CLI draws a progress bar from it). */
  pretrainEvents?: PretrainEvents;
  signal?: AbortSignal;
}

/** Finds (or pretrains into the cache) the scenario's base. */
export async function resolveBase(
  scenario: Scenario,
  options: ResolveBaseOptions = {},
): Promise<ResolvedBase> {
  if (scenario.base.source === 'hf') {
    const hf = await ensureHfBase(scenario.base.dir!, {
      ...(scenario.base.cacheDir !== undefined ? { cacheDir: scenario.base.cacheDir } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    return {
      dir: hf.dir,
      description: `Hugging Face ${hf.model.family} folder ${hf.source} (converted checkpoint ${hf.dir})`,
      pretrained: null,
    };
  }
  if (scenario.base.source === 'random') {
    return {
      dir: null,
      description: `${scenario.model.name}, seeded initialisation (seed ${scenario.seed})`,
      pretrained: null,
    };
  }
  const { corpus, minutes, steps, seed, cacheDir } = scenario.base;
  const base = await ensurePretrainedBase({
    size: scenario.model.name as GptSizeName,
    corpus,
    seed,
    ...(steps !== undefined ? { steps } : {}),
    ...(minutes !== undefined ? { minutes } : {}),
    ...(cacheDir !== undefined ? { cacheDir } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.pretrainEvents ? { events: options.pretrainEvents } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const v = base.summary.validation as { perplexity?: number } | undefined;
  return {
    dir: base.dir,
    description:
      `${scenario.model.name} pretrained on ${corpus} (${base.summary.steps} steps` +
      `${v?.perplexity ? `, validation perplexity ${v.perplexity.toFixed(2)}` : ''}; cache ${base.key})`,
    pretrained: base,
  };
}

/** The base weights as host arrays (null: the trainers build the seeded initialisation themselves). */
export async function loadBaseWeights(dir: string | null): Promise<HostTensorMap | null> {
  if (dir === null) return null;
  const model = await loadCheckpoint(dir);
  try {
    return parametersToHost(model);
  } finally {
    model.dispose();
  }
}
