/**
 * `fedpeft export`: a run's global adapter after round N, in a form other tools load.
 *
 *   safetensors  the merged model: base kernels + the adapter folded in (`adapter.merge()`), written as a
 *                fedpeft checkpoint (model.safetensors + config.json; `loadCheckpoint` reads it back)
 *   peft         Hugging Face PEFT's LoRA layout, for methods whose global state *is* a LoRA adapter
 *                (per-layer A and B, shared or derived from the seed: lora, lora-plus, ffa-lora, hetlora):
 *                adapter_config.json + adapter_model.safetensors with
 *                `base_model.model.<module>.lora_A.weight` = Aᵀ [r, in] and `lora_B.weight` = Bᵀ [out, r]
 *                (PyTorch keeps Linear weights as [out, in]; fedpeft kernels are [in, out]).
 *
 * Methods without a PEFT equivalent (PiCa's role-shared B over SVD projectors, cLA windows, chained links,
 * LoSA masks, FedSA's private B) are refused for `peft` with the reason; `safetensors` works for all of them.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { tf } from '../../shared/tensor/tf.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { attachAdapter } from '../../shared/adapters/registry.ts';
import type { Adapter } from '../../shared/adapters/types.ts';
import { LinkSchedule } from '../../shared/adapters/link-schedule.ts';
import { asBuffer, loadCheckpoint, saveCheckpoint } from '../../shared/model/checkpoint.ts';
import { parseSafetensors, serializeSafetensors } from '../../shared/model/safetensors.ts';
import { createModel, type ZooModel } from '../../shared/model/zoo.ts';
import { fromHostMap, toHost, type HostTensor, type HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { DEFAULT_ROUNDS_PER_LINK } from '../../shared/adapters/method-schedule.ts';
import { ADAPTER_FILE, adapterRoundFile, type RunAdapterRecord } from './run-adapter.ts';

export const EXPORT_FORMATS = ['safetensors', 'peft'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  runDir: string;
  /** Default: the last saved round. */
  round?: number;
  format: ExportFormat;
  outDir: string;
}

export interface ExportResult {
  round: number;
  method: string;
  files: string[];
}

export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
export const PEFT_CONFIG_FILE = 'adapter_config.json';

async function readRecord(runDir: string): Promise<RunAdapterRecord> {
  const path = join(runDir, ADAPTER_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new FedpeftError(
      'NOT_A_RUN',
      `${runDir} has no ${ADAPTER_FILE}: give --run a run folder written by fedpeft simulate (runs/<id>)`,
    );
  }
  const record = JSON.parse(text) as RunAdapterRecord;
  if (record.format !== 'fedpeft-run-adapter')
    throw new FedpeftError('NOT_A_RUN', `${path} is not a fedpeft run adapter record`);
  return record;
}

async function readRound(runDir: string, round: number): Promise<HostTensorMap> {
  const bytes = await readFile(join(runDir, adapterRoundFile(round)));
  return parseSafetensors(bytes, { source: adapterRoundFile(round) }).tensors;
}

async function buildModel(record: RunAdapterRecord): Promise<ZooModel> {
  if (record.baseDir === null) return createModel(record.model, { seed: record.seed, ...record.modelConfig });
  try {
    return await loadCheckpoint(record.baseDir);
  } catch (err) {
    throw new FedpeftError(
      'BASE_NOT_FOUND',
      `the run's base checkpoint ${record.baseDir} cannot be read (${(err as Error).message}); ` +
        're-run the scenario once to put the base back into the cache',
    );
  }
}

function install(adapter: Adapter, shared: HostTensorMap): void {
  const tensors = fromHostMap(shared);
  try {
    adapter.setShared(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

/** The adapter at the end of `round`: chained methods replay every earlier round so finished links are folded. */
async function adapterAt(
  model: ZooModel,
  record: RunAdapterRecord,
  runDir: string,
  round: number,
): Promise<Adapter> {
  const adapter = attachAdapter(model, record.method, record.methodConfig, { seed: record.seed });
  if (adapter.currentLink !== undefined && adapter.setLink) {
    const schedule = new LinkSchedule(record.roundsPerLink ?? DEFAULT_ROUNDS_PER_LINK);
    for (let r = 1; r <= round; r++) {
      adapter.setLink(schedule.linkAt(r - 1));
      install(adapter, await readRound(runDir, r));
    }
  } else {
    install(adapter, await readRound(runDir, round));
  }
  return adapter;
}

/** Per adapted module, its LoRA factors, or the reason the method is not a PEFT LoRA adapter. */
function loraFactors(adapter: Adapter): Map<string, { A: HostTensor; B: HostTensor }> | string {
  if (adapter.currentLink !== undefined)
    return 'its links are folded into the base kernels as training goes on';
  if (adapter.private().size > 0) return 'part of its adapter stays private on each client';
  const tensors = new Map<string, tf.Tensor>([...adapter.derived(), ...adapter.shared()]);
  const modules = new Map<string, { A?: HostTensor; B?: HostTensor }>();
  for (const [name, t] of tensors) {
    const m = /^(.*)\.(A|B)$/.exec(name);
    if (!m) return `its tensor '${name}' is not a per-layer LoRA factor`;
    const entry = modules.get(m[1]!) ?? {};
    entry[m[2] as 'A' | 'B'] = toHost(t);
    modules.set(m[1]!, entry);
  }
  const out = new Map<string, { A: HostTensor; B: HostTensor }>();
  for (const [module, f] of modules) {
    if (!f.A || !f.B) return `module '${module}' lacks one of its factors`;
    out.set(module, { A: f.A, B: f.B });
  }
  return out.size > 0 ? out : 'it has no LoRA factors';
}

function transpose(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[j * rows + i] = t.data[i * cols + j]!;
  return { shape: [cols, rows], data };
}

export async function exportRun(options: ExportOptions): Promise<ExportResult> {
  const runDir = resolve(options.runDir);
  const record = await readRecord(runDir);
  if (record.rounds.length === 0)
    throw new FedpeftError('NOTHING_TO_EXPORT', `run ${runDir} saved no round (did it finish a round?)`);
  const round = options.round ?? Math.max(...record.rounds);
  if (!record.rounds.includes(round)) {
    throw new FedpeftError(
      'UNKNOWN_ROUND',
      `run ${runDir} has no round ${round}; saved rounds: ${record.rounds.join(', ')}`,
    );
  }
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const model = await buildModel(record);
  try {
    const adapter = await adapterAt(model, record, runDir, round);
    try {
      if (options.format === 'safetensors') {
        adapter.merge();
        await saveCheckpoint(outDir, model, {
          fedpeft_method: record.method,
          fedpeft_round: String(round),
        });
        return { round, method: record.method, files: ['model.safetensors', 'config.json'] };
      }
      const factors = loraFactors(adapter);
      if (typeof factors === 'string') {
        throw new FedpeftError(
          'NO_PEFT_EQUIVALENT',
          `method '${record.method}' has no PEFT LoRA equivalent (${factors}); export the merged model with --format safetensors`,
        );
      }
      const config = adapter.config as { r?: number; alpha?: number };
      const r = config.r ?? [...factors.values()][0]!.A.shape[1]!;
      const weights: HostTensorMap = new Map();
      for (const [module, f] of factors) {
        weights.set(`base_model.model.${module}.lora_A.weight`, transpose(f.A));
        weights.set(`base_model.model.${module}.lora_B.weight`, transpose(f.B));
      }
      await writeFileAtomic(
        join(outDir, PEFT_WEIGHTS_FILE),
        asBuffer(serializeSafetensors(weights, { format: 'pt' })),
      );
      const suffixes = [...new Set([...factors.keys()].map((m) => m.split('.').slice(-2).join('.')))];
      const peftConfig = {
        peft_type: 'LORA',
        task_type: 'CAUSAL_LM',
        r,
        lora_alpha: config.alpha ?? r,
        lora_dropout: 0,
        bias: 'none',
        fan_in_fan_out: false,
        target_modules: suffixes,
        inference_mode: true,
        base_model_name_or_path:
          record.baseDir ?? `${record.model} (seeded initialisation, seed ${record.seed})`,
        fedpeft: { method: record.method, round, model: record.model, seed: record.seed },
      };
      await writeFileAtomic(join(outDir, PEFT_CONFIG_FILE), `${JSON.stringify(peftConfig, null, 2)}\n`);
      return { round, method: record.method, files: [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE] };
    } finally {
      adapter.detach();
    }
  } finally {
    model.dispose();
  }
}
