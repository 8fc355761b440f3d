/**
 * Scoring a classifier model over batches of features: predictions collected on the host, then the
 * classification report.
 */
import type { tf } from '../tensor/tf.ts';
import type { Batch } from '../model/types.ts';
import { classificationReport, type ClassificationReport } from './classification.ts';

export interface Classifier {
  predict(features: tf.Tensor2D): number[];
}

export function evaluateClassifier(
  model: Classifier,
  batches: Iterable<Batch>,
  numClasses?: number,
): ClassificationReport {
  const predictions: number[] = [];
  const labels: number[] = [];
  for (const batch of batches) {
    predictions.push(...model.predict(batch.inputs as tf.Tensor2D));
    labels.push(...Array.from(batch.targets.dataSync()));
  }
  return classificationReport(predictions, labels, numClasses);
}
