/**
 * The clients of a scenario and their data: the corpus partitioned by `data.partition`, narrowed to
 * `clients.ids` / a seeded sample of `clients.count`, and each client's documents as a `LocalLmData` (training
 * stream + fixed held-out validation windows). A pure function of the scenario, so the coordinator's process
 * and every worker process derive exactly the same clients and windows without shipping any text around.
 *
 * Validation uses the partition's own held-out documents (whole speeches never trained on), so "global" and
 * "personal" perplexity are measured on text no client saw.
 */
import { FedpeftError } from '../../shared/errors.ts';
import { loadCorpus } from '../../shared/data/corpora.ts';
import { partitionCorpus, type ClientData } from '../../shared/data/partition.ts';
import { GPT_SIZES, LLAMA_SIZES } from '../../shared/model/zoo.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { LocalLmData } from '../../client/local-lm-data.ts';
import type { LocalTrainingData } from '../../client/local-training-data.ts';
import type { Scenario } from '../scenario.ts';
import { clientClassificationData, scenarioTask } from './classification-data.ts';

export interface FederationClients {
  /** Client ids, sorted (the order every seeded choice is made in). */
  ids: string[];
  byId: ReadonlyMap<string, ClientData>;
  /** Partitioning notes (clients dropped for having too few documents). */
  warnings: string[];
}

/** The scenario's clients (documents only; no token streams yet). */
export function federationClients(scenario: Scenario): FederationClients {
  const corpus = loadCorpus(scenario.data.dataset);
  const partition = partitionCorpus(
    { name: corpus.name, documents: corpus.documents, labelAttribute: corpus.labelAttribute },
    scenario.data.partition,
  );
  const all = new Map(partition.clients.map((c) => [c.clientId, c]));
  let ids = [...all.keys()].sort();
  const { count, ids: wanted } = scenario.clients;
  if (wanted) {
    const unknown = wanted.filter((id) => !all.has(id));
    if (unknown.length > 0) {
      throw new FedpeftError(
        'INVALID_SCENARIO',
        `clients.ids names ${unknown.map((u) => JSON.stringify(u)).join(', ')}, not clients of this partition; ` +
          `valid ids: ${ids.slice(0, 12).join(', ')}${ids.length > 12 ? `, ... (${ids.length} in all)` : ''}`,
      );
    }
    ids = [...new Set(wanted)].sort();
  } else if (count !== undefined && count < ids.length) {
    const order = new Rng(scenario.seed).fork('clients:select').permutation(ids.length);
    ids = Array.from({ length: count }, (_, i) => ids[order[i] as number] as string).sort();
  }
  return {
    ids,
    byId: new Map(ids.map((id) => [id, all.get(id) as ClientData])),
    warnings: partition.warnings,
  };
}

/** The context length of the scenario's model (overrides included). */
export function scenarioContextLength(scenario: Scenario): number {
  const size = ({ ...GPT_SIZES, ...LLAMA_SIZES } as Record<string, { contextLength: number }>)[
    scenario.model.name
  ];
  if (!size) {
    throw new FedpeftError(
      'UNSUPPORTED_SCENARIO',
      `model '${scenario.model.name}' is neither a GPT, a Llama nor an mlp classifier of the zoo; the fleet runner ` +
        `trains only those`,
    );
  }
  const override = scenario.model.overrides.contextLength;
  return typeof override === 'number' ? override : size.contextLength;
}

/** One client's training data, for the scenario's task (token streams, or featurized labelled emails). */
export function clientData(scenario: Scenario, client: ClientData): LocalTrainingData {
  return scenarioTask(scenario) === 'classification'
    ? clientClassificationData(scenario, client)
    : clientLmData(scenario, client);
}

/** One client's token streams and validation windows. */
export function clientLmData(scenario: Scenario, client: ClientData): LocalLmData {
  try {
    return new LocalLmData(
      { train: client.train, validation: client.validation },
      {
        contextLength: scenarioContextLength(scenario),
        maxEvalWindows: scenario.evaluation.windows,
        evalBatchSize: scenario.evaluation.batchSize,
      },
    );
  } catch (err) {
    throw new FedpeftError(
      'INVALID_SCENARIO',
      `client '${client.clientId}': ${(err as Error).message} (use a partition with larger clients)`,
    );
  }
}
