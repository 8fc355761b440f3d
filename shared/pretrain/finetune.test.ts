import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { createModel } from '../model/zoo.ts';
import type { Gpt } from '../model/gpt.ts';
import { assignParameters, parametersToHost } from '../model/checkpoint.ts';
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import { buildTokenStream } from '../data/lm-batches.ts';
import { loadCorpus } from '../data/corpora.ts';
import { finetuneLanguageModel } from './finetune.ts';
import { evaluateOnStream } from './stream-evaluation.ts';
import { LmTrainer } from './lm-trainer.ts';
import { cubicSparsity } from '../pruning/schedule.ts';

// Adapters refine features a base has learned; on a random initialisation there is little to refine. So the
// tests start from a test-gpt briefly pretrained on Moby-Dick (a couple of seconds).
let pretrained: HostTensorMap;
beforeAll(async () => {
  await useBackend('wasm');
  const model = createModel('test-gpt', { seed: 5 });
  model.setBaseTrainable(true);
  const text = loadCorpus('moby-dick')
    .documents.slice(3, 20)
    .map((d) => d.text);
  const trainer = new LmTrainer({
    model,
    variables: model.parameters(),
    trainStream: buildTokenStream(text),
    batchSize: 8,
    contextLength: 32,
    seed: 0,
    schedule: { peak: 1e-2, warmupSteps: 10, minRatio: 0.1 },
    budget: { maxSteps: 150 },
  });
  while (!trainer.done) trainer.trainStep();
  trainer.dispose();
  pretrained = parametersToHost(model);
  model.dispose();
});

function base(): Gpt {
  const model = createModel('test-gpt', { seed: 5 });
  assignParameters(model, pretrained);
  return model;
}

afterAll(() => {
  pretrained = new Map();
});

// A small "personal" corpus the base has never seen: training and held-out documents are the same few
// sentences in different orders (held-out documents of the same client, same distribution, other text).
const sentences = [
  'the whale swam past the ship at dawn. ',
  'the crew sang while the wind rose. ',
  'a harpoon flew and the sea went still. ',
  'the captain watched the white whale. ',
];
const doc = (order: number[]) => order.map((i) => sentences[i]!).join('');
const train = buildTokenStream(
  Array.from({ length: 20 }, (_, k) => doc([k % 4, (k + 1) % 4, (k + 2) % 4, (k + 3) % 4])),
);
const held = buildTokenStream([doc([3, 1, 0, 2]), doc([2, 0, 3, 1])]);

describe('finetuneLanguageModel', () => {
  it.each([
    ['pica', {}],
    ['lora', {}],
    ['c3la', { r: 8 }],
  ])('%s lowers held-out loss and leaves no tensors behind', (method, methodConfig) => {
    const model = base();
    const baseline = evaluateOnStream(model, held, { contextLength: 32 });
    const before = tf.memory().numTensors;
    const result = finetuneLanguageModel({
      model,
      method,
      methodConfig,
      seed: 1,
      trainStream: train,
      evalStream: held,
      steps: 60,
      batchSize: 8,
      learningRate: 3e-2,
      stepsPerLink: 20,
    });
    expect(result.before.loss).toBeCloseTo(baseline.loss, 6);
    // A few dozen steps of a tiny adapter: a clear, not a dramatic, drop (no learning at all gives exactly 0).
    expect(result.after.loss).toBeLessThan(result.before.loss - 0.05);
    expect(result.steps).toBe(60);
    expect(result.trainableParams).toBeGreaterThan(0);
    expect(result.links).toBe(method === 'c3la' ? 2 : 0);
    expect(tf.memory().numTensors).toBe(before);
    if (method !== 'c3la') {
      // Detached: the base is exactly as it was (chained methods fold their links into it by design).
      expect(evaluateOnStream(model, held, { contextLength: 32 }).loss).toBe(baseline.loss);
    }
    model.dispose();
  });

  it('rejects a bad step count and an unknown method', () => {
    const model = createModel('test-gpt', { seed: 5 });
    const common = { model, seed: 1, trainStream: train, evalStream: held };
    expect(() => finetuneLanguageModel({ ...common, method: 'pica', steps: 0 })).toThrow(/steps/);
    expect(() => finetuneLanguageModel({ ...common, method: 'nope', steps: 2 })).toThrow(
      /Unknown adapter method/,
    );
    model.dispose();
  });
});

describe('finetuneLanguageModel with LoSA (the T-step prune-and-train schedule)', () => {
  it('runs 5 stages on the cubic ramp within the step budget, beats the pruned-untrained base, restores the dense base, leaks nothing', () => {
    const model = base();
    const baseline = evaluateOnStream(model, held, { contextLength: 32 });
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const result = finetuneLanguageModel({
      model,
      method: 'losa',
      methodConfig: { targetSparsity: 0.5 },
      seed: 1,
      trainStream: train,
      evalStream: held,
      steps: 40,
      batchSize: 8,
      learningRate: 3e-2,
      onStep: (s) => progress.push(s.step),
    });
    const losa = result.losa!;
    expect(result.before.loss).toBeCloseTo(baseline.loss, 6); // "before" is the dense base
    expect(result.steps).toBe(40);
    expect(losa.stepsPerStage).toBe(8);
    expect(progress).toEqual([8, 16, 24, 32, 40]);
    expect(losa.stages.map((s) => s.stage)).toEqual([1, 2, 3, 4, 5]);
    expect(losa.stages.map((s) => s.losses.length)).toEqual([8, 8, 8, 8, 8]);
    // Targets follow S (1 - (1 - t/T)^3) and the kernels really reach them (Wanda rounds per column: 1/32).
    losa.stages.forEach((s, i) => {
      expect(s.target).toBeCloseTo(cubicSparsity(0.5, i + 1, 5), 12);
      expect(Math.abs(s.meanSparsity - s.target), `stage ${i + 1}`).toBeLessThan(0.02);
    });
    const achieved = losa.stages.map((s) => s.meanSparsity);
    for (let i = 1; i < achieved.length; i++) expect(achieved[i]!).toBeGreaterThan(achieved[i - 1]!);
    expect(losa.sparsity).toBeCloseTo(0.5, 1);
    // Pruning half the weights costs something, and the schedule's training wins more than that back.
    expect(losa.prunedUntrained.loss).toBeGreaterThan(result.before.loss);
    expect(result.after.loss).toBeLessThan(losa.prunedUntrained.loss - 0.05);
    expect(result.trainableParams).toBeGreaterThan(0);
    // Without keepAdapter the dense base is back, bit for bit. (Restoring the kernels drops their cached
    // transposes; this evaluation rebuilds them, so the count below compares like with like.)
    expect(evaluateOnStream(model, held, { contextLength: 32 }).loss).toBe(baseline.loss);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('asks for a step count that splits evenly over the T stages', () => {
    const model = base();
    const before = tf.memory().numTensors;
    const common = { model, method: 'losa', seed: 1, trainStream: train, evalStream: held };
    expect(() => finetuneLanguageModel({ ...common, steps: 42 })).toThrow(
      /multiple of 5 \(e\.g\. 40 or 45\)/,
    );
    expect(() =>
      finetuneLanguageModel({ ...common, steps: 40, methodConfig: { steps: 4, stepsPerStage: 5 } }),
    ).toThrow(/stepsPerStage/);
    expect(() => finetuneLanguageModel({ ...common, steps: 40, methodConfig: { r: 8 } })).toThrow(
      /invalid LoSA schedule config/,
    );
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
