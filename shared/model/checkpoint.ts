/**
 * Model checkpoints on disk (Node): one directory holding `model.safetensors` (every `parameters()` tensor,
 * F32) and `config.json` (a readable copy of the model kind and config).
 *
 * The safetensors file is the checkpoint: its `__metadata__` carries the kind and config too, and it is
 * written atomically (temp file + rename, via write-file-atomic), so a crash mid-save leaves the previous
 * checkpoint whole rather than a mix of old and new. `config.json` is written after it, for people and tools.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../errors.ts';
import { parseSafetensors, serializeSafetensors } from './safetensors.ts';
import { createModelFromConfig, type ZooModel } from './zoo.ts';
import { assignParameters, parametersToHost, type CheckpointableModel } from './parameters.ts';

export const WEIGHTS_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';
const FORMAT = 'fedpeft-model';
const FORMAT_VERSION = '1';

// Browser-safe (no file system): they live in parameters.ts so the client trainer bundles for browsers.
export { assignParameters, parametersToHost, type CheckpointableModel };

export async function saveCheckpoint(
  dir: string,
  model: CheckpointableModel,
  metadata: Record<string, string> = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const header = {
    ...metadata,
    format: FORMAT,
    version: FORMAT_VERSION,
    kind: model.kind,
    config: JSON.stringify(model.config),
  };
  await writeFileAtomic(
    join(dir, WEIGHTS_FILE),
    asBuffer(serializeSafetensors(parametersToHost(model), header)),
  );
  const readable = {
    format: FORMAT,
    version: Number(FORMAT_VERSION),
    kind: model.kind,
    config: model.config,
  };
  await writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(readable, null, 2)}\n`);
}

async function readWeights(dir: string): Promise<ReturnType<typeof parseSafetensors>> {
  const path = join(dir, WEIGHTS_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new FedpeftError('CHECKPOINT_NOT_FOUND', `cannot read ${path}: ${(err as Error).message}`);
  }
  const file = parseSafetensors(bytes, { source: path });
  if (file.metadata.format !== FORMAT) {
    throw new FedpeftError(
      'CHECKPOINT_MISMATCH',
      `${path} is not a fedpeft model checkpoint (for Hugging Face GPT-2 files use the gpt2 loader)`,
    );
  }
  return file;
}

/** Rebuild the model a checkpoint directory describes and load its weights. */
export async function loadCheckpoint(dir: string): Promise<ZooModel> {
  const file = await readWeights(dir);
  let config: unknown;
  try {
    config = JSON.parse(file.metadata.config ?? '');
  } catch {
    throw new FedpeftError('CHECKPOINT_MISMATCH', `${join(dir, WEIGHTS_FILE)} has no readable model config`);
  }
  // Weights are overwritten right away: skip the random initialisation.
  const model = createModelFromConfig(file.metadata.kind ?? '', config, { initialize: false });
  try {
    assignParameters(model, file.tensors, join(dir, WEIGHTS_FILE));
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/** Load a checkpoint's weights into an existing model of the same architecture. */
export async function loadCheckpointInto(dir: string, model: CheckpointableModel): Promise<void> {
  const file = await readWeights(dir);
  assignParameters(model, file.tensors, join(dir, WEIGHTS_FILE));
}

export interface CheckpointFingerprint {
  /** Lowercase hex sha-256 of the checkpoint's `model.safetensors` bytes. */
  sha256: string;
  /** Size of that file in bytes. */
  bytes: number;
}

/**
 * The identity of a checkpoint: the sha-256 of its weights file. The file (weights plus the header carrying
 * the model kind and config) is exactly what a coordinator distributes, so hashing the file rather than a
 * re-serialisation means a downloaded copy can be checked without parsing it. Streamed: bases can be large.
 */
export async function checkpointFingerprint(dir: string): Promise<CheckpointFingerprint> {
  const path = join(dir, WEIGHTS_FILE);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  } catch (err) {
    throw new FedpeftError('CHECKPOINT_NOT_FOUND', `cannot read ${path}: ${(err as Error).message}`);
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** A Buffer view of the same bytes (write-file-atomic's types take Buffer or string; no copy is made). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
