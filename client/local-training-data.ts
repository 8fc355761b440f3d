/**
 * What a client trainer needs from its local data, whatever the task: seeded training batches, fixed
 * validation batches, and the counts the coordinator weights by. `LocalLmData` (token windows) and
 * `LocalClassificationData` (featurized, labelled emails) both satisfy it, so one trainer and one runtime
 * serve language models and classifiers alike.
 */
import type { Batch } from '../shared/model/types.ts';
import type { Rng } from '../shared/tensor/rng.ts';

export interface LocalTrainingData {
  /** The aggregation weight (training windows of a language model, training examples of a classifier). */
  readonly numExamples: number;
  /** Scored units of the validation set (target tokens, or validation examples): pooled metrics weight by it. */
  readonly validationTokens: number;
  /** A training batch drawn with `rng`; the caller disposes it. */
  trainBatch(batchSize: number, rng: Rng): Batch;
  /** The fixed validation batches; each is the caller's to dispose. */
  validationBatches(): Iterable<Batch>;
}
