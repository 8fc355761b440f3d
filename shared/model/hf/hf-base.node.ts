/**
 * `hf:<dir>` bases: a local Hugging Face model folder (GPT-2, Llama, Qwen2) as the base of a run.
 *
 * The folder is converted once into a fedpeft checkpoint in the cache, keyed by the sha-256 of its config.json
 * and weight files:
 *
 *   <cacheDir>/hf-bases/<sha256>/   model.safetensors, config.json (fedpeft format), tokenizer files, source.json
 *
 * Everything downstream then treats it as any other checkpoint directory: the coordinator fingerprints and
 * serves those exact bytes to clients, the fleet runner's workers load it, and `fedpeft export` rebuilds the
 * run's base from it. Converting costs one float32 copy on disk (16-bit folders double in size) and buys that
 * every party computes on bit-identical weights, whatever dtype the source folder stored.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../../errors.ts';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint.ts';
import { defaultCacheDir } from '../../model-cache/base-cache.node.ts';
import type { ZooModel } from '../zoo.ts';
import {
  gptConfigFromHf,
  isGpt2Config,
  llamaConfigFromHf,
  parseHfConfig,
  type HfConfig,
  type HfFamily,
} from './config-schema.ts';
import {
  HF_CONFIG_FILE,
  HF_INDEX_FILE,
  HF_WEIGHTS_FILE,
  modelFromHfFolder,
  readHfFolder,
} from './load-folder.ts';

export const HF_BASE_PREFIX = 'hf:';

/** Tokenizer files copied beside the converted checkpoint (exports hand them back; finetune reads them). */
export const HF_TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
] as const;

/** The folder of an `hf:<dir>` spec (resolved), or null when the spec is not one. */
export function hfBaseDir(spec: string): string | null {
  if (!spec.startsWith(HF_BASE_PREFIX)) return null;
  const dir = spec.slice(HF_BASE_PREFIX.length);
  if (dir.length === 0) throw new FedpeftError('INVALID_HF_FOLDER', "'hf:' needs a folder: hf:<dir>");
  return resolve(dir);
}

/** The zoo model (name + complete config) an HF config describes: what runs build before loading the weights. */
export interface HfBaseModel {
  family: HfFamily;
  /** A zoo name of the same kind; `config` sets every field, so the name only picks the kind. */
  name: 'tiny-gpt' | 'tiny-llama';
  config: Record<string, unknown>;
}

export function hfBaseModel(config: HfConfig): HfBaseModel {
  if (isGpt2Config(config))
    return { family: 'gpt2', name: 'tiny-gpt', config: { ...gptConfigFromHf(config) } };
  return { family: config.model_type, name: 'tiny-llama', config: { ...llamaConfigFromHf(config) } };
}

/** Reads and validates only `config.json` (cheap: no weights). */
export async function readHfBaseModel(dir: string): Promise<HfBaseModel> {
  const path = join(dir, HF_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new FedpeftError(
      'INVALID_HF_FOLDER',
      `${dir}: no readable ${HF_CONFIG_FILE} (${(err as Error).message}); hf:<dir> must be a Hugging Face model folder`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FedpeftError('INVALID_HF_FOLDER', `${path}: not valid JSON (${(err as Error).message})`);
  }
  return hfBaseModel(parseHfConfig(raw, path));
}

export interface HfBase {
  /** The converted fedpeft checkpoint directory (what runs, coordinators and exports use). */
  dir: string;
  /** The Hugging Face folder it came from. */
  source: string;
  model: HfBaseModel;
  /** sha-256 of the source folder's config.json and weight files (the cache key). */
  sourceSha256: string;
  /** `tokenizer.json` beside the checkpoint, or null when the source folder has none. */
  tokenizerFile: string | null;
  /** True when this call converted the folder (false: found in the cache). */
  created: boolean;
}

export interface EnsureHfBaseOptions {
  /** Default: `FEDPEFT_CACHE_DIR`, else ~/.cache/fedpeft. */
  cacheDir?: string;
  log?: (line: string) => void;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Hashes config.json and every weight file the folder uses (the index and its shards, or the one file). */
async function sourceSha256(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const files = [HF_CONFIG_FILE];
  if (await exists(join(dir, HF_WEIGHTS_FILE))) files.push(HF_WEIGHTS_FILE);
  else {
    files.push(HF_INDEX_FILE);
    const folder = await readHfFolder(dir);
    files.push(...folder.weightFiles);
  }
  for (const name of files) {
    hash.update(`${name}\0`);
    hash.update(await readFile(join(dir, name)));
  }
  return hash.digest('hex');
}

/** Converts (once) and returns the fedpeft checkpoint of a Hugging Face folder. */
export async function ensureHfBase(sourceDir: string, options: EnsureHfBaseOptions = {}): Promise<HfBase> {
  const source = resolve(sourceDir);
  const model = await readHfBaseModel(source);
  const sha = await sourceSha256(source);
  const dir = join(options.cacheDir ?? defaultCacheDir(), 'hf-bases', sha);
  const tokenizerFile = (await exists(join(source, 'tokenizer.json'))) ? join(dir, 'tokenizer.json') : null;
  if (await exists(join(dir, 'source.json'))) {
    // source.json is written last: its presence means the conversion finished (loadCheckpoint verifies bytes).
    return { dir, source, model, sourceSha256: sha, tokenizerFile, created: false };
  }
  options.log?.(`converting Hugging Face folder ${source} (${model.family}) into ${dir}`);
  const partial = `${dir}.partial-${process.pid}-${Date.now()}`;
  await mkdir(partial, { recursive: true });
  let loaded: ZooModel | null = null;
  try {
    loaded = modelFromHfFolder(await readHfFolder(source));
    await saveCheckpoint(partial, loaded, { source: 'hf', family: model.family });
    for (const name of HF_TOKENIZER_FILES)
      if (await exists(join(source, name))) await copyFile(join(source, name), join(partial, name));
    await writeFileAtomic(
      join(partial, 'source.json'),
      `${JSON.stringify({ format: 'fedpeft-hf-base', source, family: model.family, sha256: sha }, null, 2)}\n`,
    );
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  } finally {
    loaded?.dispose();
  }
  return { dir, source, model, sourceSha256: sha, tokenizerFile, created: true };
}

/** Loads an `hf:<dir>` base as a model (converting it into the cache on first use). */
export async function loadHfBase(
  sourceDir: string,
  options: EnsureHfBaseOptions = {},
): Promise<{ base: HfBase; model: ZooModel }> {
  const base = await ensureHfBase(sourceDir, options);
  return { base, model: await loadCheckpoint(base.dir) };
}

/**
 * A `--base` value as a checkpoint directory: `hf:<dir>` converted (once) into the cache, anything else as
 * given. Converting is deterministic, so a client's `--base hf:<dir>` has the same fingerprint as the
 * coordinator's `model.base: hf:<dir>` of the same folder.
 */
export async function checkpointDirOf(spec: string, options: EnsureHfBaseOptions = {}): Promise<string> {
  const hf = hfBaseDir(spec);
  return hf === null ? spec : (await ensureHfBase(hf, options)).dir;
}

/** Runs whose clients read their data as UTF-8 bytes (simulate, serve/join) need a byte-vocabulary model. */
export function assertByteVocabulary(model: HfBaseModel, source: string): void {
  if (model.config.vocabSize === 256) return;
  // Byte ids into another vocabulary would train on nonsense without failing.
  throw new FedpeftError(
    'UNSUPPORTED_BASE',
    `${source} has a ${String(model.config.vocabSize)}-token vocabulary; federated runs feed clients UTF-8 ` +
      'bytes and take byte-level (vocabulary 256) Hugging Face bases only for now — ' +
      'use fedpeft finetune --base hf:<dir> for models with their own tokenizer',
  );
}
