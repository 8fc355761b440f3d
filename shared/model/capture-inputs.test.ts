import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { attachAdapter } from '../adapters/index.ts';
import { FixtureModel, fixtureBatch } from '../adapters/testing/fixture-model.ts';
import { train } from '../adapters/testing/sgd.ts';
import type { Batch } from './types.ts';
import { captureInputs } from './capture-inputs.ts';

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? NaN);
}

describe('captureInputs', () => {
  let batches: Batch[];
  beforeAll(async () => {
    await useBackend('cpu');
    batches = [fixtureBatch(1, 5), fixtureBatch(2, 7)];
  });
  afterAll(() => tf.dispose(batches.flatMap((b) => [b.inputs, b.targets])));

  it("records each layer's input [sum N, in] in batch order and leaves the model as it was", () => {
    const model = new FixtureModel({ seed: 1 });
    // The first forward pass caches each frozen K^T; count tensors after it.
    const lossBefore = tf.tidy(() => model.loss(batches[0]!).dataSync()[0]);
    const before = tf.memory().numTensors;
    const inputs = captureInputs(model, batches, ['layers.0.attn.q', 'layers.1.mlp.down']);
    expect([...inputs.keys()]).toEqual(['layers.0.attn.q', 'layers.1.mlp.down']);
    // The first projection sees the raw features: the capture must be exactly the batches, concatenated.
    const q = inputs.get('layers.0.attn.q')!;
    expect(q.shape).toEqual([12, 6]);
    const expected = tf.concat([batches[0]!.inputs, batches[1]!.inputs], 0);
    expect(maxDiff(q, expected)).toBe(0);
    expected.dispose();
    expect(inputs.get('layers.1.mlp.down')!.shape).toEqual([12, 8]);
    expect(model.linears().every((l) => l.hook === null)).toBe(true);
    expect(tf.tidy(() => model.loss(batches[0]!).dataSync()[0])).toBe(lossBefore);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([...inputs.values()]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("goes through an attached adapter's hook and restores that exact hook, so the adapter still detaches", () => {
    const model = new FixtureModel({ seed: 2 });
    const adapter = attachAdapter(
      model,
      'lora',
      { r: 2, alpha: 4, roles: ['q', 'k', 'v', 'o', 'up', 'down'] },
      { seed: 3 },
    );
    const down = 'layers.0.mlp.down';
    const plain = captureInputs(model, batches, [down]);
    train(model, adapter, batches[0]!, 5, 0.5); // B != 0: the adapter now changes what later layers see
    const hooks = model.linears().map((l) => l.hook);
    const adapted = captureInputs(model, batches); // every layer
    expect(adapted.size).toBe(model.linears().length);
    expect(model.linears().map((l) => l.hook)).toEqual(hooks);
    expect(maxDiff(plain.get(down)!, adapted.get(down)!)).toBeGreaterThan(1e-4);
    adapter.detach();
    expect(model.linears().every((l) => l.hook === null)).toBe(true);
    tf.dispose([...plain.values(), ...adapted.values()]);
    model.dispose();
  });

  it('validates names and cleans up (hooks and tensors) when the forward pass throws', () => {
    const model = new FixtureModel({ seed: 4 });
    expect(() => captureInputs(model, batches, ['layers.7.attn.q'])).toThrow(
      /unknown layer\(s\) layers\.7\.attn\.q; the model has: layers\.0\.attn\.q/,
    );
    expect(() => captureInputs(model, [])).toThrow(/at least one calibration batch/);
    tf.tidy(() => void model.loss(batches[0]!)); // K^T caches exist before counting
    const before = tf.memory().numTensors;
    const bad: Batch = { inputs: tf.zeros([3, 5]), targets: tf.zeros([3], 'int32') }; // wrong feature width
    expect(() => captureInputs(model, [batches[0]!, bad])).toThrow();
    expect(model.linears().every((l) => l.hook === null)).toBe(true);
    tf.dispose([bad.inputs, bad.targets]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
