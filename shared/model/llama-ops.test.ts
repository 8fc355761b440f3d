/**
 * The Llama building blocks' fused custom-gradient ops (RMSNorm, RoPE, SwiGLU): finite-difference gradient
 * checks, equality with their stock-op compositions in value and gradients, and no leaked tensors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { rmsNorm, rmsNormUnfused } from './rms-norm.ts';
import { swiglu, swigluUnfused } from './swiglu.ts';
import { applyRotary, applyRotaryUnfused, rotaryTables } from './rotary.ts';
import { finiteDifferenceError, fusedVsStockDifference } from './testing/gradient-check.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

const rng = new Rng(5);

describe('rmsNorm', () => {
  const x = rng.normalTensor([4, 6], 1.5, 0.3) as tf.Tensor2D;
  const g = rng.normalTensor([6], 1, 1) as tf.Tensor1D;
  const w = rng.normalTensor([4, 6]);
  const fused = (a: tf.Tensor, b: tf.Tensor) => rmsNorm(a as tf.Tensor2D, b as tf.Tensor1D, 1e-5);
  const stock = (a: tf.Tensor, b: tf.Tensor) => rmsNormUnfused(a as tf.Tensor2D, b as tf.Tensor1D, 1e-5);

  it('has gradients that match finite differences', () => {
    expect(finiteDifferenceError(fused as never, [x, g], w)).toBeLessThan(2e-2);
  });
  it('equals the stock composition in value and gradients, leaking nothing', () => {
    const before = tf.memory().numTensors;
    expect(fusedVsStockDifference(fused as never, stock as never, [x, g], w)).toBeLessThan(1e-4);
    expect(tf.memory().numTensors).toBe(before);
  });
  it('divides each row by its root mean square', () => {
    const y = rmsNorm(tf.tensor2d([[3, 4]]), tf.ones<tf.Rank.R1>([2]), 0).arraySync();
    const rms = Math.sqrt((9 + 16) / 2);
    expect(y[0]![0]).toBeCloseTo(3 / rms, 5);
    expect(y[0]![1]).toBeCloseTo(4 / rms, 5);
  });
});

describe('swiglu', () => {
  const gate = rng.normalTensor([5, 8], 2) as tf.Tensor2D;
  const up = rng.normalTensor([5, 8]) as tf.Tensor2D;
  const w = rng.normalTensor([5, 8]);
  const fused = (a: tf.Tensor, b: tf.Tensor) => swiglu(a as tf.Tensor2D, b as tf.Tensor2D);
  const stock = (a: tf.Tensor, b: tf.Tensor) => swigluUnfused(a as tf.Tensor2D, b as tf.Tensor2D);

  it('has gradients that match finite differences', () => {
    expect(finiteDifferenceError(fused as never, [gate, up], w)).toBeLessThan(2e-2);
  });
  it('equals the stock composition in value and gradients, leaking nothing', () => {
    const before = tf.memory().numTensors;
    expect(fusedVsStockDifference(fused as never, stock as never, [gate, up], w)).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('rotary (rotate-half layout)', () => {
  const tables = rotaryTables(5, 8, 10000);
  const x = rng.normalTensor([2, 5, 3, 8]) as tf.Tensor4D;
  const w = rng.normalTensor([2, 5, 3, 8]);
  const fused = (a: tf.Tensor) => applyRotary(a as tf.Tensor4D, tables);
  const stock = (a: tf.Tensor) => applyRotaryUnfused(a as tf.Tensor4D, tables);

  it('has gradients that match finite differences', () => {
    expect(finiteDifferenceError(fused as never, [x], w)).toBeLessThan(2e-2);
  });
  it('equals the stock composition in value and gradients, leaking nothing', () => {
    const before = tf.memory().numTensors;
    expect(fusedVsStockDifference(fused as never, stock as never, [x], w)).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });
  it('rotates dimension i with i + hd/2 by angle t / theta^(2i/hd), preserving norms', () => {
    // hd = 4, theta = 100: pair (0, 2) turns by t, pair (1, 3) by t / 10.
    const small = rotaryTables(3, 4, 100);
    const v = tf.tensor4d([1, 0, 0, 0, 0, 1, 0, 0], [1, 1, 2, 4]);
    const at2 = tf.tile<tf.Tensor4D>(v, [1, 3, 1, 1]);
    const y = applyRotary(at2, small).arraySync()[0]![2]!;
    expect(y[0]![0]).toBeCloseTo(Math.cos(2), 5);
    expect(y[0]![2]).toBeCloseTo(Math.sin(2), 5);
    expect(y[1]![1]).toBeCloseTo(Math.cos(0.2), 5);
    expect(y[1]![3]).toBeCloseTo(Math.sin(0.2), 5);
    tf.dispose([small.cos, small.sin, v, at2]);
  });
});
