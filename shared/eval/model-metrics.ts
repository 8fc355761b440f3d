/**
 * Validation metrics of any zoo model in one pass over its batches: the mean loss every task has (what the
 * wire's loss fields carry), and for classifiers also accuracy and macro F1 (what people compare spam filters
 * by). Language models get `accuracy`/`macroF1` null, so callers need not know the task.
 */
import { tf } from '../tensor/tf.ts';
import type { AdaptableModel, Batch } from '../model/types.ts';
import { MlpClassifier } from '../model/mlp-classifier.ts';
import { languageModelMetrics, type LanguageModelMetrics } from './language-model.ts';
import { classificationReport } from './classification.ts';

export interface ModelMetrics extends LanguageModelMetrics {
  /** Fraction of validation examples classified correctly (null for language models). */
  accuracy: number | null;
  /** Macro-averaged F1 over the model's classes (null for language models). */
  macroF1: number | null;
}

/** Per batch: the mean loss tensor, and for classifiers the predicted ids and the labels. */
function batchTensors(model: AdaptableModel, batch: Batch): { loss: tf.Scalar; predicted: tf.Tensor | null } {
  const loss = tf.tidy(() => model.loss(batch));
  const predicted =
    model instanceof MlpClassifier
      ? tf.tidy(() => tf.argMax(model.logits(batch.inputs as tf.Tensor2D), 1))
      : null;
  return { loss, predicted };
}

function finish(
  model: AdaptableModel,
  nats: number,
  count: number,
  predictions: number[],
  labels: number[],
): ModelMetrics {
  if (count === 0) throw new Error('evaluateModel: nothing to evaluate (empty batches)');
  const base = languageModelMetrics(nats / count, count);
  if (!(model instanceof MlpClassifier)) return { ...base, accuracy: null, macroF1: null };
  const report = classificationReport(predictions, labels, model.config.numClasses);
  return { ...base, accuracy: report.accuracy, macroF1: report.macroF1 };
}

export function evaluateModel(model: AdaptableModel, batches: Iterable<Batch>): ModelMetrics {
  let nats = 0;
  let count = 0;
  const predictions: number[] = [];
  const labels: number[] = [];
  for (const batch of batches) {
    const { loss, predicted } = batchTensors(model, batch);
    try {
      const n = batch.targets.size;
      nats += (loss.dataSync()[0] as number) * n;
      count += n;
      if (predicted) {
        predictions.push(...predicted.dataSync());
        labels.push(...batch.targets.dataSync());
      }
    } finally {
      tf.dispose([loss, ...(predicted ? [predicted] : [])]);
    }
  }
  return finish(model, nats, count, predictions, labels);
}

/** `evaluateModel` with asynchronous reads (browser GPU backends cannot read synchronously). */
export async function evaluateModelAsync(
  model: AdaptableModel,
  batches: Iterable<Batch>,
): Promise<ModelMetrics> {
  let nats = 0;
  let count = 0;
  const predictions: number[] = [];
  const labels: number[] = [];
  for (const batch of batches) {
    const { loss, predicted } = batchTensors(model, batch);
    try {
      const n = batch.targets.size;
      nats += ((await loss.data())[0] as number) * n;
      count += n;
      if (predicted) {
        predictions.push(...(await predicted.data()));
        labels.push(...(await batch.targets.data()));
      }
    } finally {
      tf.dispose([loss, ...(predicted ? [predicted] : [])]);
    }
  }
  return finish(model, nats, count, predictions, labels);
}
