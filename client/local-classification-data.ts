/**
 * One client's labelled documents as classifier data: every email featurized once (hashed n-grams, see
 * shared/data/text-features.ts) into host memory, labels as class ids, seeded training batches and fixed
 * validation batches. Featurizing needs no vocabulary, so each device does it alone on its own mail.
 */
import { z } from 'zod';
import { FedpeftError } from '../shared/errors.ts';
import { formatZodError } from '../shared/config/format-error.ts';
import type { Batch } from '../shared/model/types.ts';
import type { Rng } from '../shared/tensor/rng.ts';
import type { TextDocument } from '../shared/data/text-document.ts';
import {
  classificationBatch,
  featurizeTexts,
  labelIds,
  textFeatureOptionsSchema,
  type FeatureMatrix,
} from '../shared/data/text-features.ts';

export const localClassificationOptionsSchema = z.object({
  /** Document attribute holding the class label (`label` for the spam corpus). */
  labelAttribute: z.string().min(1, 'labelAttribute must name a document attribute'),
  /** Class names in class-id order (`['ham', 'spam']`); a document with another label is an error. */
  labels: z.array(z.string()).min(2, 'a classifier needs at least two labels'),
  /** Featurizer settings; `dims` must equal the model's `inputDim`. */
  features: textFeatureOptionsSchema,
  /** Rows per validation batch. Default 256 (an MLP forward pass over it is cheap). */
  evalBatchSize: z.number().int().positive('evalBatchSize must be a positive integer').default(256),
});
export type LocalClassificationOptionsInput = z.input<typeof localClassificationOptionsSchema>;

export class LocalClassificationData {
  readonly train: FeatureMatrix;
  readonly trainLabels: Int32Array;
  readonly validation: FeatureMatrix;
  readonly validationLabels: Int32Array;
  private readonly evalBatchSize: number;

  constructor(
    split: { train: readonly TextDocument[]; validation: readonly TextDocument[] },
    input: LocalClassificationOptionsInput,
  ) {
    const parsed = localClassificationOptionsSchema.safeParse(input);
    if (!parsed.success)
      throw new FedpeftError(
        'INVALID_CONFIG',
        `Invalid classification data options:\n${formatZodError(parsed.error)}`,
      );
    const o = parsed.data;
    if (split.train.length === 0) throw new FedpeftError('NO_DATA', 'no training documents');
    if (split.validation.length === 0) throw new FedpeftError('NO_DATA', 'no validation documents');
    this.train = featurizeTexts(
      split.train.map((d) => d.text),
      o.features,
    );
    this.trainLabels = labelIds(split.train, o.labelAttribute, o.labels);
    this.validation = featurizeTexts(
      split.validation.map((d) => d.text),
      o.features,
    );
    this.validationLabels = labelIds(split.validation, o.labelAttribute, o.labels);
    this.evalBatchSize = o.evalBatchSize;
  }

  get numExamples(): number {
    return this.train.rows;
  }

  /** Validation examples (what pooled accuracy and loss weight by). */
  get validationTokens(): number {
    return this.validation.rows;
  }

  /** `batchSize` training rows drawn with replacement (a client may hold fewer emails than a batch). */
  trainBatch(batchSize: number, rng: Rng): Batch {
    const rows = Array.from({ length: batchSize }, () => rng.int(this.train.rows));
    return classificationBatch(this.train, this.trainLabels, rows);
  }

  *validationBatches(): Generator<Batch> {
    for (let i = 0; i < this.validation.rows; i += this.evalBatchSize) {
      const end = Math.min(this.validation.rows, i + this.evalBatchSize);
      yield classificationBatch(
        this.validation,
        this.validationLabels,
        Array.from({ length: end - i }, (_, k) => i + k),
      );
    }
  }
}
