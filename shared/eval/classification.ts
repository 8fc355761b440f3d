/**
 * Classification metrics from predicted and true class ids: accuracy, per-class precision / recall / F1 and
 * their macro average. Conventions follow scikit-learn with `zero_division=0`: a class never predicted has
 * precision 0, a class never present has recall 0, and the macro average runs over `numClasses` classes when
 * given, else over every class seen in either the labels or the predictions.
 */
export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Number of true examples of this class. */
  support: number;
}

export interface ClassificationReport {
  accuracy: number;
  macroF1: number;
  macroPrecision: number;
  macroRecall: number;
  /** Indexed by class id. */
  perClass: ClassMetrics[];
  /** `confusion[true][predicted]` counts. */
  confusion: number[][];
  examples: number;
}

function checkPair(predictions: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (predictions.length !== labels.length) {
    throw new Error(`${predictions.length} predictions but ${labels.length} labels`);
  }
  if (labels.length === 0) throw new Error('no examples to score');
}

export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair(predictions, labels);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / labels.length;
}

export function classificationReport(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses?: number,
): ClassificationReport {
  checkPair(predictions, labels);
  let maxId = -1;
  for (let i = 0; i < labels.length; i++) {
    for (const c of [predictions[i] as number, labels[i] as number]) {
      if (!Number.isInteger(c) || c < 0) throw new Error(`class ids must be non-negative integers, got ${c}`);
      if (numClasses !== undefined && c >= numClasses) {
        throw new Error(`class id ${c} is out of range for ${numClasses} classes`);
      }
      maxId = Math.max(maxId, c);
    }
  }
  const k = numClasses ?? maxId + 1;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const row = confusion[labels[i] as number] as number[];
    const p = predictions[i] as number;
    row[p] = (row[p] as number) + 1;
  }
  const perClass: ClassMetrics[] = [];
  const averaged: number[] = [];
  let correct = 0;
  for (let c = 0; c < k; c++) {
    const tp = (confusion[c] as number[])[c] as number;
    correct += tp;
    let predicted = 0;
    for (let r = 0; r < k; r++) predicted += (confusion[r] as number[])[c] as number;
    const support = (confusion[c] as number[]).reduce((a, b) => a + b, 0);
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ precision, recall, f1, support });
    if (numClasses !== undefined || predicted > 0 || support > 0) averaged.push(c);
  }
  const mean = (pick: (m: ClassMetrics) => number) =>
    averaged.reduce((s, c) => s + pick(perClass[c] as ClassMetrics), 0) / averaged.length;
  return {
    accuracy: correct / labels.length,
    macroF1: mean((m) => m.f1),
    macroPrecision: mean((m) => m.precision),
    macroRecall: mean((m) => m.recall),
    perClass,
    confusion,
    examples: labels.length,
  };
}

/** Macro-averaged F1 (see `classificationReport` for the conventions). */
export function macroF1(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses?: number,
): number {
  return classificationReport(predictions, labels, numClasses).macroF1;
}
