/**
 * A local Hugging Face model folder -> a fedpeft model (Node). The folder holds `config.json` and either
 * `model.safetensors` or a sharded `model.safetensors.index.json` + its shards; F32/F16/BF16 weights become
 * float32 on load. Families: `gpt2` (through `gpt2-checkpoint.ts`), `llama` and `qwen2` (the `Llama` model).
 *
 * Folders come from strangers: the index may only name shard files inside the folder, every tensor the index
 * lists must be in the shard it names, and every tensor present must be one the model uses (or a known
 * non-weight buffer) — a folder of another architecture fails loudly instead of loading half.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FedpeftError } from '../../errors.ts';
import { hostTensor, type HostTensor, type HostTensorMap } from '../../tensor/host-tensor.ts';
import { parseSafetensors } from '../safetensors.ts';
import { assignParameters } from '../parameters.ts';
import { gptFromGpt2Tensors } from '../gpt2-checkpoint.ts';
import { Llama } from '../llama.ts';
import type { Gpt } from '../gpt.ts';
import {
  gptConfigFromHf,
  isGpt2Config,
  llamaConfigFromHf,
  parseHfConfig,
  type HfConfig,
  type HfFamily,
} from './config-schema.ts';
import { IGNORED_HF_TENSORS, llamaHfTensorName } from './names.ts';

export const HF_CONFIG_FILE = 'config.json';
export const HF_WEIGHTS_FILE = 'model.safetensors';
export const HF_INDEX_FILE = 'model.safetensors.index.json';

export interface HfFolder {
  dir: string;
  family: HfFamily;
  config: HfConfig;
  /** Every weight tensor of the folder as float32, by its HF name. */
  tensors: HostTensorMap;
  /** The weight files read, in a stable order (what a fingerprint hashes, with config.json). */
  weightFiles: string[];
}

function fail(source: string, message: string): FedpeftError {
  return new FedpeftError('INVALID_HF_FOLDER', `${source}: ${message}`);
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return null;
    throw fail(path, `cannot read: ${(err as Error).message}`);
  }
}

/** The shard files an index names, checked to be plain file names inside the folder. */
function parseIndex(bytes: Uint8Array, source: string): Map<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw fail(source, `not valid JSON (${(err as Error).message})`);
  }
  const map = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw fail(source, 'has no "weight_map" object (tensor name -> shard file)');
  }
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (
      typeof file !== 'string' ||
      file !== basename(file) ||
      file.startsWith('.') ||
      !file.endsWith('.safetensors')
    ) {
      throw fail(
        source,
        `tensor '${name}' maps to ${JSON.stringify(file)}, not a .safetensors file in this folder`,
      );
    }
    out.set(name, file);
  }
  return out;
}

/** Reads and validates a folder's config and weights (no model is built). */
export async function readHfFolder(dir: string): Promise<HfFolder> {
  const configPath = join(dir, HF_CONFIG_FILE);
  const configBytes = await readOrNull(configPath);
  if (!configBytes) throw fail(dir, `no ${HF_CONFIG_FILE} (is this a Hugging Face model folder?)`);
  let rawConfig: unknown;
  try {
    rawConfig = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (err) {
    throw fail(configPath, `not valid JSON (${(err as Error).message})`);
  }
  const config = parseHfConfig(rawConfig, configPath);
  const tensors: HostTensorMap = new Map();
  const single = await readOrNull(join(dir, HF_WEIGHTS_FILE));
  let weightFiles: string[];
  if (single) {
    const file = parseSafetensors(single, { source: join(dir, HF_WEIGHTS_FILE), skipUnsupported: true });
    for (const [name, t] of file.tensors) tensors.set(name, t);
    weightFiles = [HF_WEIGHTS_FILE];
  } else {
    const indexPath = join(dir, HF_INDEX_FILE);
    const indexBytes = await readOrNull(indexPath);
    if (!indexBytes) throw fail(dir, `neither ${HF_WEIGHTS_FILE} nor ${HF_INDEX_FILE} is present`);
    const index = parseIndex(indexBytes, indexPath);
    weightFiles = [...new Set(index.values())].sort();
    for (const shard of weightFiles) {
      const path = join(dir, shard);
      const bytes = await readOrNull(path);
      if (!bytes) throw fail(indexPath, `names shard ${shard}, which is missing`);
      const file = parseSafetensors(bytes, { source: path, skipUnsupported: true });
      for (const [name, t] of file.tensors) {
        if (index.get(name) !== shard) throw fail(path, `holds '${name}', which the index places elsewhere`);
        tensors.set(name, t);
      }
    }
    const missing = [...index.keys()].filter((n) => !tensors.has(n) && !IGNORED_HF_TENSORS.test(n));
    if (missing.length)
      throw fail(indexPath, `lists tensors no shard holds: ${missing.slice(0, 5).join(', ')}`);
  }
  return { dir, family: config.model_type, config, tensors, weightFiles };
}

function transposeHost(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[row + c] as number;
  }
  return hostTensor([cols, rows], out);
}

/** Builds a fedpeft Llama from Llama/Qwen2 tensors under HF names. */
export function llamaFromHfTensors(folder: Pick<HfFolder, 'config' | 'tensors' | 'dir'>): Llama {
  if (isGpt2Config(folder.config)) throw new Error('llamaFromHfTensors: this is a gpt2 folder');
  const source = folder.dir;
  const model = new Llama(llamaConfigFromHf(folder.config), { seed: 0, initialize: false });
  try {
    const used = new Set<string>();
    const out: HostTensorMap = new Map();
    for (const param of model.parameters().keys()) {
      const { hf, transpose } = llamaHfTensorName(param);
      const t = folder.tensors.get(hf);
      if (!t) throw fail(source, `missing tensor '${hf}' (fedpeft '${param}')`);
      if (transpose && t.shape.length !== 2)
        throw fail(source, `'${hf}' must be 2-D, got ${JSON.stringify(t.shape)}`);
      used.add(hf);
      out.set(param, transpose ? transposeHost(t) : t);
    }
    // A tied checkpoint may still store lm_head.weight (a copy of the embedding): it is redundant, not foreign.
    if (model.config.tiedHead) used.add('lm_head.weight');
    const unknown = [...folder.tensors.keys()].filter((n) => !used.has(n) && !IGNORED_HF_TENSORS.test(n));
    if (unknown.length) {
      throw fail(
        source,
        `tensors this ${folder.config.model_type} model does not use: ${unknown.slice(0, 8).join(', ')}`,
      );
    }
    assignParameters(model, out, source);
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** Loads a Hugging Face folder as the fedpeft model of its family. */
export async function loadHfFolder(dir: string): Promise<Gpt | Llama> {
  const folder = await readHfFolder(dir);
  return modelFromHfFolder(folder);
}

export function modelFromHfFolder(folder: HfFolder): Gpt | Llama {
  const c = folder.config;
  if (isGpt2Config(c)) {
    const g = gptConfigFromHf(c);
    return gptFromGpt2Tensors(folder.tensors, {
      heads: g.heads,
      tiedHead: g.tiedHead ?? true,
      layerNormEps: g.layerNormEps ?? 1e-5,
      source: folder.dir,
    });
  }
  return llamaFromHfTensors(folder);
}
