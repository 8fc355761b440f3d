/**
 * Pretraining state on disk (Node-only): `training-state.safetensors` in the run directory holds everything a
 * resume needs in ONE atomically written file — the model weights, the optimizer moments (keyed by stable
 * parameter names), the step/time/token counters and the run's config and history. Being one file is the
 * point: the published `model.safetensors` is written separately (also atomically), and a crash between the
 * two writes can never pair the weights of one step with the optimizer of another, because a resume reads
 * only this file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../errors.ts';
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import { parseSafetensors, serializeSafetensors } from '../model/safetensors.ts';
import { asBuffer, parametersToHost } from '../model/checkpoint.ts';
import type { AdaptableModel } from '../model/types.ts';
import type { LmTrainer, LmTrainerProgress } from './lm-trainer.ts';
import type { PretrainConfig } from './pretrain-config.ts';

export const TRAINING_STATE_FILE = 'training-state.safetensors';
const FORMAT = 'fedpeft-pretrain-state';
const VERSION = '1';
const MODEL_PREFIX = 'model/';

/** One periodic validation: where training was and what it scored. */
export interface EvalRecord {
  step: number;
  elapsedSeconds: number;
  trainLoss: number;
  validationLoss: number;
  validationBitsPerByte: number;
}

export interface SavedTrainingState {
  config: PretrainConfig;
  progress: LmTrainerProgress;
  history: EvalRecord[];
  weights: HostTensorMap;
  optimizer: HostTensorMap;
}

export async function saveTrainingState(
  dir: string,
  model: AdaptableModel,
  trainer: LmTrainer,
  config: PretrainConfig,
  history: readonly EvalRecord[],
): Promise<void> {
  const tensors: HostTensorMap = new Map();
  for (const [name, t] of parametersToHost(model)) tensors.set(`${MODEL_PREFIX}${name}`, t);
  for (const [name, t] of trainer.exportOptimizerState()) tensors.set(name, t);
  const metadata = {
    format: FORMAT,
    version: VERSION,
    config: JSON.stringify(config),
    // NaN (no step yet) is not JSON: store null.
    progress: JSON.stringify(trainer.progress, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? null : v,
    ),
    history: JSON.stringify(history),
  };
  await writeFileAtomic(join(dir, TRAINING_STATE_FILE), asBuffer(serializeSafetensors(tensors, metadata)));
}

export async function loadTrainingState(dir: string): Promise<SavedTrainingState> {
  const path = join(dir, TRAINING_STATE_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new FedpeftError(
      'CHECKPOINT_NOT_FOUND',
      `cannot resume: ${path} is missing or unreadable (${(err as Error).message}); start without --resume`,
    );
  }
  const file = parseSafetensors(bytes, { source: path });
  if (file.metadata.format !== FORMAT) {
    throw new FedpeftError('CHECKPOINT_MISMATCH', `${path} is not a fedpeft pretraining state`);
  }
  let config: PretrainConfig;
  let progress: LmTrainerProgress;
  let history: EvalRecord[];
  try {
    config = JSON.parse(file.metadata.config ?? '') as PretrainConfig;
    const raw = JSON.parse(file.metadata.progress ?? '') as Omit<LmTrainerProgress, 'lossEma'> & {
      lossEma: number | null;
    };
    progress = { ...raw, lossEma: raw.lossEma ?? NaN };
    history = JSON.parse(file.metadata.history ?? '[]') as EvalRecord[];
  } catch {
    throw new FedpeftError('CHECKPOINT_MISMATCH', `${path} has unreadable run metadata`);
  }
  const weights: HostTensorMap = new Map();
  const optimizer: HostTensorMap = new Map();
  for (const [name, t] of file.tensors) {
    if (name.startsWith(MODEL_PREFIX)) weights.set(name.slice(MODEL_PREFIX.length), t);
    else optimizer.set(name, t);
  }
  return { config, progress, history, weights, optimizer };
}
