/**
 * `fedpeft export`: a run's global adapter after round N in the formats other tools load.
 *
 *   hf    the merged model as a Hugging Face model folder of the same family (config.json with model_type,
 *         model.safetensors in HF names and layouts, tokenizer files); `--round 0` is the run's base.
 *   peft  a standard PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) for every method whose
 *         update is low rank — LoRA family, PiCa, cLA family, PaCA, FFA-LoRA, chained methods with all their
 *         folded links stacked — attached to the run's base as an HF folder (`--base`, written when missing).
 *
 * Every file is computed in memory before the first one is written, so a refused export creates nothing, and a
 * failed write removes the folders it created.
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../../shared/errors.ts';
import { disposeFactors } from '../../shared/adapters/core/low-rank-factors.ts';
import { asBuffer } from '../../shared/model/checkpoint.ts';
import { serializeSafetensors } from '../../shared/model/safetensors.ts';
import { Gpt } from '../../shared/model/gpt.ts';
import { Llama } from '../../shared/model/llama.ts';
import type { ZooModel } from '../../shared/model/zoo.ts';
import type { HfFamily } from '../../shared/hf-export/family.ts';
import { gpt2Family } from '../../shared/hf-export/gpt2-family.ts';
import { llamaFamily } from '../../shared/hf-export/llama-family.ts';
import { buildPeftLora } from '../../shared/hf-export/peft-lora.ts';
import { byteTokenizerFiles } from '../../shared/hf-export/byte-tokenizer-files.ts';
import { HF_TOKENIZER_FILES } from '../../shared/model/hf/hf-base.node.ts';
import { allUpdates, buildBaseModel, readRunRecord, replayAdapter } from './run-replay.ts';
import type { RunAdapterRecord } from './run-adapter.ts';

export const EXPORT_FORMATS = ['hf', 'peft'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  runDir: string;
  /** Default: the last saved round. 0: the run's base (hf only). */
  round?: number;
  format: ExportFormat;
  outDir: string;
  /** peft only: the HF folder of the run's base the adapter attaches to. Default: `<outDir>-base`. */
  baseDir?: string;
}

export interface ExportResult {
  round: number;
  method: string;
  files: string[];
  /** peft: the base folder, and whether this export wrote it. */
  base?: { dir: string; written: boolean };
}

export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const HF_WEIGHTS_FILE = 'model.safetensors';
/** fedpeft's own metadata, beside (never inside) the files PEFT and transformers read. */
export const EXPORT_METADATA_FILE = 'fedpeft_export.json';

type Files = Map<string, string | Uint8Array>;

/** A family descriptor bound to one model, so the exports below need not know which family it is. */
type BoundFamily = HfFamily<unknown> & { vocabSize: number; contextLength: number };

function bind<M extends Gpt | Llama>(family: HfFamily<M>, model: M): BoundFamily {
  return {
    modelType: String(family.config(model).model_type),
    moduleOf: (linear) => family.moduleOf(linear, model),
    weights: () => family.weights(model),
    config: () => family.config(model),
    vocabSize: model.config.vocabSize,
    contextLength: model.config.contextLength,
  };
}

function familyOf(model: ZooModel): BoundFamily {
  if (model instanceof Gpt) return bind(gpt2Family, model);
  if (model instanceof Llama) return bind(llamaFamily, model);
  throw new FedpeftError(
    'NO_HF_FAMILY',
    `a ${model.kind} model has no Hugging Face model family to export to (GPT models export as gpt2, Llama models as llama or qwen2)`,
  );
}

/** The tokenizer files an `hf:<dir>` base brought along (kept beside its converted checkpoint). */
async function baseTokenizerFiles(record: RunAdapterRecord): Promise<Files> {
  const files: Files = new Map();
  if (record.baseDir === null) return files;
  for (const name of HF_TOKENIZER_FILES) {
    const bytes = await readFile(join(record.baseDir, name)).catch(() => null);
    if (bytes) files.set(name, new Uint8Array(bytes));
  }
  return files;
}

function hfFolderFiles(family: BoundFamily, metadata: Record<string, unknown>, tokenizer: Files): Files {
  const files: Files = new Map();
  files.set(HF_WEIGHTS_FILE, serializeSafetensors(family.weights(null), { format: 'pt' }));
  files.set('config.json', `${JSON.stringify(family.config(null), null, 2)}\n`);
  // The source model's own tokenizer wins; fedpeft's byte tokenizer is described when there is none.
  for (const [name, content] of tokenizer) files.set(name, content);
  if (tokenizer.size === 0 && family.vocabSize === 256) {
    for (const [name, text] of Object.entries(byteTokenizerFiles(family.contextLength)))
      files.set(name, text);
  }
  files.set(EXPORT_METADATA_FILE, `${JSON.stringify(metadata, null, 2)}\n`);
  return files;
}

function metadataOf(
  record: RunAdapterRecord,
  runDir: string,
  round: number,
  extra: Record<string, unknown> = {},
) {
  return {
    format: 'fedpeft-export',
    run: basename(runDir),
    method: record.method,
    methodConfig: record.methodConfig,
    round,
    model: record.model,
    seed: record.seed,
    ...extra,
  };
}

/** The name PEFT reads to find the base: relative to where the export ran, never an absolute cache path. */
function baseReference(baseDir: string): string {
  const rel = relative(process.cwd(), baseDir);
  return rel === '' ? '.' : isAbsolute(rel) ? baseDir : rel;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Writes every folder's files; on failure removes the folders this call created. */
async function writeFolders(folders: Map<string, Files>): Promise<void> {
  const created: string[] = [];
  try {
    for (const [dir, files] of folders) {
      if (!(await exists(dir))) {
        await mkdir(dir, { recursive: true });
        created.push(dir);
      }
      for (const [name, content] of files) {
        await writeFileAtomic(join(dir, name), typeof content === 'string' ? content : asBuffer(content));
      }
    }
  } catch (err) {
    for (const dir of created) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function resolveRound(
  record: RunAdapterRecord,
  runDir: string,
  format: ExportFormat,
  round?: number,
): number {
  if (round === 0) {
    if (format === 'peft')
      throw new FedpeftError(
        'NOTHING_TO_EXPORT',
        'round 0 is the base model, which has no adapter: use --format hf',
      );
    return 0;
  }
  if (record.rounds.length === 0)
    throw new FedpeftError('NOTHING_TO_EXPORT', `run ${runDir} saved no round (did it finish a round?)`);
  const chosen = round ?? Math.max(...record.rounds);
  if (!record.rounds.includes(chosen)) {
    throw new FedpeftError(
      'UNKNOWN_ROUND',
      `run ${runDir} has no round ${chosen}; saved rounds: 0 (the base), ${record.rounds.join(', ')}`,
    );
  }
  return chosen;
}

export async function exportRun(options: ExportOptions): Promise<ExportResult> {
  const runDir = resolve(options.runDir);
  const outDir = resolve(options.outDir);
  const record = await readRunRecord(runDir);
  const round = resolveRound(record, runDir, options.format, options.round);
  const zoo = await buildBaseModel(record);
  const tokenizer = await baseTokenizerFiles(record);
  try {
    const family = familyOf(zoo);
    const model = zoo;
    if (options.format === 'hf' && round === 0) {
      const files = hfFolderFiles(family, metadataOf(record, runDir, 0, { base: true }), tokenizer);
      await writeFolders(new Map([[outDir, files]]));
      return { round, method: record.method, files: [...files.keys()] };
    }
    // The base as HF files, before the replay folds links into the kernels.
    const baseFiles =
      options.format === 'peft'
        ? hfFolderFiles(family, metadataOf(record, runDir, 0, { base: true }), tokenizer)
        : null;
    const replayed = await replayAdapter(model, record, runDir, round);
    const { adapter } = replayed;
    try {
      if (options.format === 'hf') {
        adapter.merge();
        const files = hfFolderFiles(family, metadataOf(record, runDir, round), tokenizer);
        await writeFolders(new Map([[outDir, files]]));
        return { round, method: record.method, files: [...files.keys()] };
      }
      const update = adapter.lowRankUpdate?.() ?? {
        lowRank: false as const,
        reason: 'the method does not describe its update as factors',
      };
      if (!update.lowRank) {
        throw new FedpeftError(
          'NO_PEFT_EQUIVALENT',
          `method '${record.method}' has no PEFT LoRA equivalent: ${update.reason}; ` +
            'export the merged model with --format hf instead',
        );
      }
      let updates;
      try {
        updates = allUpdates(replayed, update.layers);
      } finally {
        disposeFactors(update.layers);
      }
      if (adapter.private().size > 0) {
        throw new FedpeftError(
          'NO_PEFT_EQUIVALENT',
          `method '${record.method}' keeps part of its adapter private on each client (${[...adapter.private().keys()][0]}, ...), ` +
            'so the global adapter is not the update any client applies; there is no global adapter to export',
        );
      }
      const baseDir = resolve(options.baseDir ?? join(dirname(outDir), `${basename(outDir)}-base`));
      const baseWritten = !(await exists(join(baseDir, HF_WEIGHTS_FILE)));
      if (!baseWritten) await assertSameBase(baseDir, baseFiles!.get(HF_WEIGHTS_FILE) as Uint8Array);
      const peft = buildPeftLora(family, null, updates, baseReference(baseDir));
      const files: Files = new Map();
      files.set(PEFT_WEIGHTS_FILE, serializeSafetensors(peft.weights, { format: 'pt' }));
      files.set(PEFT_CONFIG_FILE, `${JSON.stringify(peft.config, null, 2)}\n`);
      const links = Math.max(...[...updates.values()].map((u) => u.length));
      files.set(
        EXPORT_METADATA_FILE,
        `${JSON.stringify(metadataOf(record, runDir, round, { family: family.modelType, links, base: relative(outDir, baseDir) || '.', ranks: Object.fromEntries(peft.ranks) }), null, 2)}\n`,
      );
      const folders = new Map<string, Files>();
      if (baseWritten) folders.set(baseDir, baseFiles!);
      folders.set(outDir, files);
      await writeFolders(folders);
      return {
        round,
        method: record.method,
        files: [...files.keys()],
        base: { dir: baseDir, written: baseWritten },
      };
    } finally {
      adapter.detach();
    }
  } finally {
    zoo.dispose();
  }
}

/** An existing `--base` folder must hold this run's base, or the adapter would attach to the wrong weights. */
async function assertSameBase(baseDir: string, expected: Uint8Array): Promise<void> {
  const actual = await readFile(join(baseDir, HF_WEIGHTS_FILE));
  if (!Buffer.from(expected).equals(actual)) {
    throw new FedpeftError(
      'BASE_MISMATCH',
      `${baseDir} holds a different model than this run's base; give --base an empty folder or the run's own ` +
        '`fedpeft export --round 0 --format hf` output',
    );
  }
}
