/**
 * Train/validation/test splits by whole document, seeded. Used for whole corpora (pretraining on Moby-Dick)
 * and for every client of a partition (each client evaluates on its own held-out documents).
 *
 * Sizes: a split with a positive fraction gets `max(1, round(n * fraction))` documents, and training always
 * keeps at least one, so a split set needs `1 + [validation > 0] + [test > 0]` documents at minimum; fewer is
 * an error (`TOO_FEW_DOCUMENTS`). Inside each split documents keep their original order (SOTU stays
 * chronological), which makes printed partitions easy to read and is independent of the shuffle.
 */
import { z } from 'zod';
import { strictObject } from '../config/strict-object.ts';
import { FedpeftError } from '../errors.ts';
import type { Rng } from '../tensor/rng.ts';

export const splitFractionsSchema = strictObject({
  /** Fraction of documents held out for validation (model selection, early stopping). Default 0.1. */
  validation: z
    .number({ error: 'validation fraction must be a number in [0, 0.9]' })
    .min(0, 'validation fraction must be >= 0')
    .max(0.9, 'validation fraction must be <= 0.9')
    .default(0.1),
  /** Fraction of documents held out for the final test. Default 0.1. */
  test: z
    .number({ error: 'test fraction must be a number in [0, 0.9]' })
    .min(0, 'test fraction must be >= 0')
    .max(0.9, 'test fraction must be <= 0.9')
    .default(0.1),
}).refine((f) => f.validation + f.test < 1, {
  message: 'validation + test fractions must leave documents for training (sum < 1)',
});
export type SplitFractions = z.output<typeof splitFractionsSchema>;

export interface DocumentSplit<T> {
  train: T[];
  validation: T[];
  test: T[];
}

export const SPLIT_NAMES = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

/** The fewest documents `splitDocuments` accepts for these fractions. */
export function minimumDocumentsForSplit(fractions: SplitFractions): number {
  return 1 + (fractions.validation > 0 ? 1 : 0) + (fractions.test > 0 ? 1 : 0);
}

/** Sizes of the three splits for `n` documents (see the file comment for the rule). */
export function splitSizes(
  n: number,
  fractions: SplitFractions,
): { train: number; validation: number; test: number } {
  const min = minimumDocumentsForSplit(fractions);
  if (n < min)
    throw new FedpeftError(
      'TOO_FEW_DOCUMENTS',
      `${n} document(s) cannot be split into train/validation/test with fractions ` +
        `${fractions.validation}/${fractions.test}: at least ${min} are needed`,
    );
  let validation = fractions.validation > 0 ? Math.max(1, Math.round(n * fractions.validation)) : 0;
  let test = fractions.test > 0 ? Math.max(1, Math.round(n * fractions.test)) : 0;
  // Rounding up small splits can eat the training set: give documents back, larger held-out split first.
  while (validation + test > n - 1) {
    if (validation >= test && validation > 1) validation--;
    else test--;
  }
  return { train: n - validation - test, validation, test };
}

export function splitDocuments<T>(
  items: readonly T[],
  fractions: SplitFractions,
  rng: Rng,
): DocumentSplit<T> {
  const sizes = splitSizes(items.length, fractions);
  const order = rng.permutation(items.length);
  const pick = (from: number, count: number): T[] =>
    order
      .slice(from, from + count)
      .sort((a, b) => a - b)
      .map((i) => items[i] as T);
  return {
    test: pick(0, sizes.test),
    validation: pick(sizes.test, sizes.validation),
    train: pick(sizes.test + sizes.validation, sizes.train),
  };
}
