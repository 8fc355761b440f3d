import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import { attachAdapter } from '../index.ts';
import type { LowRankFactors } from '../types.ts';
import { FixtureModel } from '../testing/fixture-model.ts';
import { FIXTURE_CONFIGS } from '../testing/cases.ts';
import { kernelsOf, maxAbs, maxAbsDiff, randomizeTrainables } from '../testing/helpers.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

const NOT_LOW_RANK: Record<string, RegExp> = { full: /dense delta/, losa: /masked/ };

/** Host `P Q` per Linear. */
function products(layers: ReadonlyMap<string, LowRankFactors>): Map<string, Float32Array> {
  return new Map(
    [...layers].map(([name, { P, Q }]) => {
      const pq = tf.matMul(P, Q);
      const data = pq.dataSync<'float32'>().slice();
      pq.dispose();
      return [name, data];
    }),
  );
}

describe('lowRankUpdate', () => {
  for (const [method, config] of Object.entries(FIXTURE_CONFIGS)) {
    it(`${method}: P Q is exactly the update merge() adds to each kernel`, () => {
      const model = new FixtureModel({ seed: 3, sparsity: method === 'losa' ? 0.3 : 0 });
      const adapter = attachAdapter(model, method, config, { seed: 7 });
      randomizeTrainables(adapter, 11);
      const before = tf.memory().numTensors;
      const update = adapter.lowRankUpdate!();
      if (!update.lowRank) {
        expect(update.reason).toMatch(NOT_LOW_RANK[method]!);
        expect(tf.memory().numTensors).toBe(before);
      } else {
        expect(NOT_LOW_RANK[method]).toBeUndefined();
        const pq = products(update.layers);
        for (const { P, Q } of update.layers.values()) tf.dispose([P, Q]);
        expect(tf.memory().numTensors).toBe(before);
        const k0 = kernelsOf(model);
        adapter.merge();
        const k1 = kernelsOf(model);
        expect(pq.size).toBeGreaterThan(0);
        let largest = 0;
        for (const [name, delta] of pq) {
          const actual = k1.get(name)!.map((v, i) => v - k0.get(name)![i]!);
          expect(maxAbsDiff(actual, delta)).toBeLessThan(1e-5);
          largest = Math.max(largest, maxAbs(delta));
        }
        expect(largest).toBeGreaterThan(1e-2);
      }
      adapter.detach();
      model.dispose();
    });
  }

  it('onFold hands over every link a chained method folds, as factors of what it adds to the kernels', () => {
    const folds: Map<string, Float32Array>[] = [];
    const model = new FixtureModel({ seed: 3 });
    const adapter = attachAdapter(model, 'c3la', FIXTURE_CONFIGS.c3la!, {
      seed: 7,
      onFold: (layers) => folds.push(products(layers)),
    });
    randomizeTrainables(adapter, 1);
    const k0 = kernelsOf(model);
    adapter.setLink!(1);
    randomizeTrainables(adapter, 2);
    adapter.setLink!(2);
    const k2 = kernelsOf(model);
    expect(folds).toHaveLength(2);
    expect(folds[0]!.size).toBeGreaterThan(0);
    for (const [name, kernel] of k2) {
      const folded = kernel.map((v, i) => v - k0.get(name)![i]!);
      const first = folds[0]!.get(name);
      const second = folds[1]!.get(name);
      // Layers the method does not adapt fold nothing.
      const sum = first && second ? first.map((v, i) => v + second[i]!) : new Float32Array(folded.length);
      expect(maxAbsDiff(folded, sum)).toBeLessThan(1e-5);
    }
    expect(maxAbs(folds[0]!.values().next().value!)).toBeGreaterThan(1e-2);
    adapter.detach();
    model.dispose();
  });
});
