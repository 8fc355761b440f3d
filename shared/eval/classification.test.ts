import { describe, expect, it } from 'vitest';
import { accuracy, classificationReport, macroF1 } from './classification.ts';

describe('classification metrics', () => {
  // labels:      0 0 0 1 1 2
  // predictions: 0 0 1 1 2 2
  const labels = [0, 0, 0, 1, 1, 2];
  const predictions = [0, 0, 1, 1, 2, 2];

  it('computes accuracy, per-class precision/recall/F1 and the macro average by hand', () => {
    expect(accuracy(predictions, labels)).toBeCloseTo(4 / 6, 12);
    const r = classificationReport(predictions, labels);
    // class 0: tp 2, predicted 2, support 3 -> P 1, R 2/3, F1 0.8
    // class 1: tp 1, predicted 2, support 2 -> P 1/2, R 1/2, F1 1/2
    // class 2: tp 1, predicted 2, support 1 -> P 1/2, R 1, F1 2/3
    expect(r.perClass[0]).toEqual({ precision: 1, recall: 2 / 3, f1: 0.8, support: 3 });
    expect(r.perClass[1]!.f1).toBeCloseTo(0.5, 12);
    expect(r.perClass[2]!.precision).toBeCloseTo(0.5, 12);
    expect(r.perClass[2]!.recall).toBe(1);
    expect(r.macroF1).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3, 12);
    expect(r.macroPrecision).toBeCloseTo(2 / 3, 12);
    expect(r.confusion).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    expect(macroF1(predictions, labels)).toBe(r.macroF1);
  });

  it('scores a class that is never predicted as precision 0 (zero_division = 0), not NaN', () => {
    const r = classificationReport([0, 0, 0, 0], [0, 0, 1, 1]);
    expect(r.perClass[1]).toEqual({ precision: 0, recall: 0, f1: 0, support: 2 });
    expect(r.perClass[0]!.precision).toBe(0.5);
    expect(r.macroF1).toBeCloseTo((2 / 3 + 0) / 2, 12);
  });

  it('averages over numClasses when given (absent classes count as 0), else over seen classes', () => {
    expect(classificationReport([1, 1], [1, 1]).macroF1).toBe(1);
    expect(classificationReport([1, 1], [1, 1], 4).macroF1).toBe(0.25);
  });

  it('rejects mismatched or invalid input', () => {
    expect(() => accuracy([0], [0, 1])).toThrow(/1 predictions but 2 labels/);
    expect(() => accuracy([], [])).toThrow(/no examples/);
    expect(() => classificationReport([3], [0], 2)).toThrow(/out of range/);
    expect(() => classificationReport([-1], [0])).toThrow(/non-negative/);
  });
});
