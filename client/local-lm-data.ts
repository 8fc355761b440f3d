/**
 * A client's language-modelling data: its training documents as one token stream to sample windows from,
 * and its held-out validation documents as a fixed set of evaluation windows (so global and personal
 * perplexities of every round are measured on exactly the same tokens).
 *
 * The split is by whole document and seeded from the run seed and the data spec, so a restarted client holds
 * out the same documents (its validation numbers stay comparable across restarts) while two clients of one
 * run with different data split independently.
 */
import { FedpeftError } from '../shared/errors.ts';
import type { Batch } from '../shared/model/types.ts';
import { Rng } from '../shared/tensor/rng.ts';
import { splitDocuments } from '../shared/data/document-split.ts';
import type { TextDocument } from '../shared/data/text-document.ts';
import {
  buildTokenStream,
  evalBatches,
  evalWindows,
  sampleLmBatch,
  type EvalWindows,
  type TokenEncoder,
} from '../shared/data/lm-batches.ts';

export interface LocalLmDataOptions {
  /** Model context length T (windows hold T+1 tokens). */
  contextLength: number;
  /** Evaluation windows kept at most (evenly spaced over the validation stream). Default 32. */
  maxEvalWindows?: number;
  /** Rows per evaluation batch. Default 8. */
  evalBatchSize?: number;
  /** Default: UTF-8 bytes (the zoo's GPTs are byte-level). */
  encoder?: TokenEncoder;
}

export class LocalLmData {
  readonly trainStream: Int32Array;
  readonly validationStream: Int32Array;
  readonly contextLength: number;
  private readonly windows: EvalWindows;
  private readonly evalBatchSize: number;

  constructor(
    split: { train: readonly TextDocument[]; validation: readonly TextDocument[] },
    options: LocalLmDataOptions,
  ) {
    const encoder = options.encoder ? { encoder: options.encoder } : {};
    this.contextLength = options.contextLength;
    this.trainStream = buildTokenStream(
      split.train.map((d) => d.text),
      encoder,
    );
    this.validationStream = buildTokenStream(
      split.validation.map((d) => d.text),
      encoder,
    );
    const needed = options.contextLength + 1;
    for (const [what, stream] of [
      ['training', this.trainStream],
      ['validation', this.validationStream],
    ] as const) {
      if (stream.length < needed) {
        throw new FedpeftError(
          'TOO_FEW_TOKENS',
          `the client's ${what} documents hold ${stream.length} tokens, fewer than one window of ${needed}; give the client more text`,
        );
      }
    }
    this.windows = evalWindows(this.validationStream, options.contextLength, options.maxEvalWindows ?? 32);
    this.evalBatchSize = options.evalBatchSize ?? 8;
  }

  /**
   * Splits documents into train/validation (20% held out, at least one document each) with a seed derived
   * from `seed` and `label` (the data spec), then builds the streams.
   */
  static fromDocuments(
    documents: readonly TextDocument[],
    seed: number,
    label: string,
    options: LocalLmDataOptions,
  ): LocalLmData {
    if (documents.length < 2) {
      throw new FedpeftError(
        'TOO_FEW_DOCUMENTS',
        `the client's data has ${documents.length} document(s); at least 2 are needed (one to train on, one to validate)`,
      );
    }
    const split = splitDocuments(
      documents,
      { validation: 0.2, test: 0 },
      new Rng(seed).fork(`client-data:${label}`),
    );
    return new LocalLmData(split, options);
  }

  /** The aggregation weight: non-overlapping training windows (how much text the client has, in model inputs). */
  get numExamples(): number {
    return Math.max(1, Math.floor((this.trainStream.length - 1) / this.contextLength));
  }

  /** Target tokens of the validation set. */
  get validationTokens(): number {
    return this.windows.predictedTokens;
  }

  /** A training batch at seeded random offsets; the caller disposes it. */
  trainBatch(batchSize: number, rng: Rng): Batch {
    return sampleLmBatch(this.trainStream, { batchSize, contextLength: this.contextLength }, rng);
  }

  /** The fixed validation batches; each is the caller's to dispose. */
  validationBatches(): Generator<Batch> {
    return evalBatches(this.validationStream, this.windows, this.evalBatchSize);
  }
}
