import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { createModel } from '../model/zoo.ts';
import { buildTokenStream, disposeBatch, evalWindows, windowsToBatch } from '../data/lm-batches.ts';
import { evaluateOnStream } from './stream-evaluation.ts';
import { evaluateOneShotPruned, snapshotKernels } from './losa-base.ts';

beforeAll(async () => {
  await useBackend('wasm');
});

const stream = buildTokenStream(['the whale swam past the ship at dawn. '.repeat(40)]);
const zeroFraction = (k: tf.Variable) => k.dataSync().filter((v) => v === 0).length / k.size;

describe('snapshotKernels', () => {
  it('puts every kernel back exactly after it was overwritten', () => {
    const model = createModel('test-gpt', { seed: 2 });
    const original = model.linears().map((l) => Array.from(l.kernel.dataSync()));
    const snapshot = snapshotKernels(model);
    const before = tf.memory().numTensors;
    for (const l of model.linears()) tf.tidy(() => l.assignKernel(tf.zerosLike(l.kernel)));
    expect(model.linears().every((l) => zeroFraction(l.kernel) === 1)).toBe(true);
    snapshot.restore();
    model.linears().forEach((l, i) => expect(Array.from(l.kernel.dataSync()), l.name).toEqual(original[i]));
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('evaluateOneShotPruned', () => {
  it('scores the base pruned to the target, then leaves the dense model as it was, leaking nothing', () => {
    const model = createModel('test-gpt', { seed: 2 });
    const dense = evaluateOnStream(model, stream, { contextLength: 32 });
    const calibration = windowsToBatch(stream, evalWindows(stream, 32, 8).starts, 32);
    const before = tf.memory().numTensors;
    let sparsityWhileScored = -1;
    const result = evaluateOneShotPruned(model, {
      sparsity: 0.5,
      calibration: [calibration],
      seed: 0,
      evaluate: () => {
        const blocks = model.linears().filter((l) => l.role !== 'head');
        sparsityWhileScored = blocks.reduce((a, l) => a + zeroFraction(l.kernel), 0) / blocks.length;
        return evaluateOnStream(model, stream, { contextLength: 32 });
      },
    });
    expect(result.sparsity).toBeCloseTo(0.5, 1);
    expect(sparsityWhileScored).toBeCloseTo(0.5, 1);
    expect(result.metrics.loss).not.toBe(dense.loss);
    expect(evaluateOnStream(model, stream, { contextLength: 32 }).loss).toBe(dense.loss);
    expect(model.linears().every((l) => zeroFraction(l.kernel) === 0)).toBe(true);
    expect(model.linears().every((l) => l.hook === null)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    disposeBatch(calibration);
    model.dispose();
  });

  it('restores the dense kernels when scoring throws', () => {
    const model = createModel('test-gpt', { seed: 2 });
    const original = model.linears().map((l) => Array.from(l.kernel.dataSync()));
    const calibration = windowsToBatch(stream, evalWindows(stream, 32, 8).starts, 32);
    // A first forward pass builds the model's caches (causal mask, kernel transposes) before counting.
    evaluateOnStream(model, stream, { contextLength: 32 });
    const before = tf.memory().numTensors;
    expect(() =>
      evaluateOneShotPruned(model, {
        sparsity: 0.5,
        calibration: [calibration],
        seed: 0,
        evaluate: () => {
          throw new Error('scoring failed');
        },
      }),
    ).toThrow('scoring failed');
    model.linears().forEach((l, i) => expect(Array.from(l.kernel.dataSync()), l.name).toEqual(original[i]));
    evaluateOnStream(model, stream, { contextLength: 32 }); // rebuilds the transposes the restore dropped
    expect(tf.memory().numTensors).toBe(before);
    disposeBatch(calibration);
    model.dispose();
  });
});
