/**
 * Rebuild a run's global adapter after round N from its run folder: the base model, the method attached with the
 * run seed, every saved round installed in order (chained methods switch links on the coordinator's schedule
 * first, FLoRA folds each round's stacked global as it arrives). Every update folded into the base on the way
 * is kept as host factors, so an export can hand back all of it, not only the last link.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../../shared/tensor/tf.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { attachAdapter } from '../../shared/adapters/registry.ts';
import type { Adapter, LowRankFactors } from '../../shared/adapters/types.ts';
import { LinkSchedule } from '../../shared/adapters/link-schedule.ts';
import { DEFAULT_ROUNDS_PER_LINK } from '../../shared/adapters/method-schedule.ts';
import { loadCheckpoint } from '../../shared/model/checkpoint.ts';
import { parseSafetensors } from '../../shared/model/safetensors.ts';
import { createModel, type ZooModel } from '../../shared/model/zoo.ts';
import { fromHostMap, toHost, type HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { HostFactors } from '../../shared/hf-export/peft-lora.ts';
import { ADAPTER_FILE, adapterRoundFile, type RunAdapterRecord } from './run-adapter.ts';

export async function readRunRecord(runDir: string): Promise<RunAdapterRecord> {
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

export async function buildBaseModel(record: RunAdapterRecord): Promise<ZooModel> {
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

export interface ReplayedAdapter {
  adapter: Adapter;
  /** Per Linear, every update folded into the base kernels during the replay, oldest first. */
  folds: Map<string, HostFactors[]>;
}

function hostFactors(f: LowRankFactors): HostFactors {
  return { P: toHost(f.P), Q: toHost(f.Q) };
}

/**
 * The adapter at the end of `round`, on `model` (whose kernels then hold the folded links). Every round is
 * installed, not just the last: for plain methods the last overwrite wins anyway, and chained and fresh-each-
 * round methods need the whole history.
 */
export async function replayAdapter(
  model: ZooModel,
  record: RunAdapterRecord,
  runDir: string,
  round: number,
): Promise<ReplayedAdapter> {
  const folds = new Map<string, HostFactors[]>();
  const adapter = attachAdapter(model, record.method, record.methodConfig, {
    seed: record.seed,
    onFold: (layers) => {
      for (const [name, f] of layers) folds.set(name, [...(folds.get(name) ?? []), hostFactors(f)]);
    },
  });
  try {
    const schedule = new LinkSchedule(record.roundsPerLink ?? DEFAULT_ROUNDS_PER_LINK);
    for (let r = 1; r <= round; r++) {
      if (adapter.currentLink !== undefined && adapter.setLink) adapter.setLink(schedule.linkAt(r - 1));
      const tensors = fromHostMap(await readRound(runDir, r));
      try {
        adapter.setShared(tensors);
      } finally {
        tf.dispose([...tensors.values()]);
      }
    }
  } catch (err) {
    adapter.detach();
    throw err;
  }
  return { adapter, folds };
}

/** The folded updates followed by the current one, per Linear: the whole global update as factor pairs. */
export function allUpdates(
  replayed: ReplayedAdapter,
  current: ReadonlyMap<string, LowRankFactors>,
): Map<string, HostFactors[]> {
  const out = new Map<string, HostFactors[]>();
  for (const [name, list] of replayed.folds) out.set(name, [...list]);
  for (const [name, f] of current) {
    const piece = hostFactors(f);
    const earlier = out.get(name) ?? [];
    // A link or FLoRA round that has not trained yet (Q = 0) adds rank and nothing else.
    if (earlier.length > 0 && piece.Q.data.every((v) => v === 0)) continue;
    out.set(name, [...earlier, piece]);
  }
  return out;
}
