/**
 * Classification scenarios (an `mlp-*` model over a labelled corpus): the task of a scenario, each client's
 * emails as `LocalClassificationData`, and pooling of per-client accuracies. The featurizer's width is the
 * model's `inputDim` (overrides included), so features and model always agree; byte n-grams (1..3) are what
 * the zoo's spam classifier is sized for.
 */
import { FedpeftError } from '../../shared/errors.ts';
import { loadCorpus } from '../../shared/data/corpora.ts';
import type { ClientData } from '../../shared/data/partition.ts';
import { MLP_SIZES } from '../../shared/model/zoo.ts';
import { LocalClassificationData } from '../../client/local-classification-data.ts';
import type { Task } from '../report/run-records.ts';
import type { Scenario } from '../scenario.ts';

/** Longest byte n-gram of the features (1..3-grams: robust to obfuscated spam words, cheap to hash). */
export const CLASSIFIER_MAX_N = 3;

export function scenarioTask(scenario: Scenario): Task {
  return Object.hasOwn(MLP_SIZES, scenario.model.name) ? 'classification' : 'language-model';
}

function modelSetting(scenario: Scenario, key: 'inputDim' | 'numClasses'): number {
  const size = (MLP_SIZES as Record<string, { inputDim: number; numClasses: number }>)[scenario.model.name];
  const override = scenario.model.overrides[key];
  const value = typeof override === 'number' ? override : size?.[key];
  if (value === undefined)
    throw new FedpeftError('UNSUPPORTED_SCENARIO', `model '${scenario.model.name}' is not a classifier`);
  return value;
}

/** Class names in class-id order: the corpus's label values, sorted (spam: ham = 0, spam = 1). */
export function scenarioLabels(scenario: Scenario): { attribute: string; labels: string[] } {
  const corpus = loadCorpus(scenario.data.dataset);
  const attribute = corpus.labelAttribute;
  if (!attribute) {
    throw new FedpeftError(
      'INVALID_SCENARIO',
      `dataset '${scenario.data.dataset}' has no class labels; a classifier needs a labelled corpus (spam)`,
    );
  }
  const labels = [...new Set(corpus.documents.map((d) => d.attributes[attribute] ?? ''))].sort();
  const classes = modelSetting(scenario, 'numClasses');
  if (labels.length !== classes) {
    throw new FedpeftError(
      'INVALID_SCENARIO',
      `dataset '${scenario.data.dataset}' has ${labels.length} classes (${labels.join(', ')}) but the model ` +
        `has numClasses ${classes}; set model.overrides.numClasses: ${labels.length}`,
    );
  }
  return { attribute, labels };
}

/** One client's featurized, labelled emails. */
export function clientClassificationData(scenario: Scenario, client: ClientData): LocalClassificationData {
  const { attribute, labels } = scenarioLabels(scenario);
  try {
    return new LocalClassificationData(
      { train: client.train, validation: client.validation },
      {
        labelAttribute: attribute,
        labels,
        features: { dims: modelSetting(scenario, 'inputDim'), mode: 'bytes', maxN: CLASSIFIER_MAX_N },
        evalBatchSize: Math.max(scenario.evaluation.batchSize, 64),
      },
    );
  } catch (err) {
    throw new FedpeftError(
      'INVALID_SCENARIO',
      `client '${client.clientId}': ${(err as Error).message} (use a partition with larger clients)`,
    );
  }
}

/** Example-weighted accuracy of several clients' scores: the pooled fraction correct (null when none). */
export function pooledAccuracy(
  scores: Iterable<{ accuracy?: number | null; tokens: number }>,
): number | null {
  let correct = 0;
  let examples = 0;
  for (const s of scores) {
    if (s.accuracy === null || s.accuracy === undefined) continue;
    correct += s.accuracy * s.tokens;
    examples += s.tokens;
  }
  return examples === 0 ? null : correct / examples;
}
