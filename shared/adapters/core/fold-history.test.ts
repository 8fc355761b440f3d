/**
 * Catch-up for stateful methods: a client that applies the run's folds 0..k-1 with `applyFold` (it missed
 * those rounds, or restarted on the plain base) must end on the same base and adapter state as a client that
 * lived through every link / round, trained locally in between and received each global as it came.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import { Rng } from '../../tensor/rng.ts';
import type { Batch } from '../../model/types.ts';
import { attachAdapter } from '../index.ts';
import type { Adapter, TensorMap } from '../types.ts';
import { FixtureModel, fixtureBatch } from '../testing/fixture-model.ts';
import { FIXTURE_CONFIGS } from '../testing/cases.ts';
import { train } from '../testing/sgd.ts';
import { hostCopy, kernelsOf, maxAbsDiff } from '../testing/helpers.ts';

const STATEFUL = ['c3la', 'random-c3la', 'cola', 'rac-lora', 'flora'] as const;
const FOLDS = 3;

/** A stand-in for the coordinator's aggregate: seeded values of the adapter's shared shapes. */
function globalLike(adapter: Adapter, seed: number): TensorMap {
  const rng = new Rng(seed);
  return new Map([...adapter.shared()].map(([name, t]) => [name, rng.fork(name).normalTensor(t.shape, 0.2)]));
}

function dispose(map: TensorMap): void {
  tf.dispose([...map.values()]);
}

function maxDiffOfMaps(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  expect([...a.keys()]).toEqual([...b.keys()]);
  return Math.max(0, ...[...a].map(([k, v]) => maxAbsDiff(v, b.get(k)!)));
}

describe('fold history: applyFold catches a client up (cpu)', () => {
  let batch: Batch;
  beforeAll(async () => {
    await useBackend('cpu');
    batch = fixtureBatch(5, 16);
  });
  afterAll(() => tf.dispose([batch.inputs, batch.targets]));

  describe.each(STATEFUL)('%s', (method) => {
    const config = FIXTURE_CONFIGS[method]!;

    it('folds 0..k-1 applied in order equal a client that lived through every link/round', () => {
      const livedModel = new FixtureModel({ seed: 3 });
      const lived = attachAdapter(livedModel, method, config, { seed: 7 });
      const lateModel = new FixtureModel({ seed: 3 });
      const late = attachAdapter(lateModel, method, config, { seed: 7 });
      expect(late.foldCount).toBe(0);
      const chained = lived.currentLink !== undefined;

      const folds: TensorMap[] = [];
      for (let i = 0; i < FOLDS; i++) {
        // Lived through: within a link it receives intermediate globals and trains on them...
        train(livedModel, lived, batch, 3, 0.1);
        const mid = globalLike(lived, 100 + i);
        if (chained) lived.setShared(mid);
        dispose(mid);
        train(livedModel, lived, batch, 2, 0.1);
        // ...then the link's (round's) final global arrives and is folded the way it always was.
        const fold = globalLike(lived, 200 + i);
        folds.push(fold);
        lived.setShared(fold);
        if (chained) lived.setLink!(i + 1);
      }
      // The late client never trained: it folds the history in one go.
      for (const fold of folds) late.applyFold(fold);
      folds.forEach(dispose);

      expect(late.foldCount).toBe(FOLDS);
      expect(lived.foldCount).toBe(FOLDS);
      if (chained) expect(late.currentLink).toBe(FOLDS);
      expect(maxDiffOfMaps(kernelsOf(lateModel), kernelsOf(livedModel))).toBeLessThanOrEqual(1e-6);
      const toArrays = (a: Adapter) => new Map([...hostCopy(a.shared())].map(([k, h]) => [k, h.data]));
      // FLoRA re-initialises trained factors per generation; chained methods reset the link's tensors.
      expect(maxDiffOfMaps(toArrays(late), toArrays(lived))).toBeLessThanOrEqual(1e-6);
      lived.detach();
      late.detach();
      livedModel.dispose();
      lateModel.dispose();
    });

    it('refuses a fold of the wrong shape and leaves the base and fold count as they were', () => {
      const model = new FixtureModel({ seed: 3 });
      const adapter = attachAdapter(model, method, config, { seed: 7 });
      const kernels = kernelsOf(model);
      const name = [...adapter.shared().keys()][0]!;
      const good = globalLike(adapter, 1);
      const wrong = new Map(good);
      const bad = tf.zeros([1, 1]);
      wrong.set(name, bad);
      expect(() => adapter.applyFold(wrong)).toThrow(/shape|must be/i);
      expect(adapter.foldCount).toBe(0);
      expect(maxDiffOfMaps(kernelsOf(model), kernels)).toBe(0);
      dispose(good);
      bad.dispose();
      adapter.detach();
      model.dispose();
    });
  });

  it('stateless methods keep no fold history', () => {
    const model = new FixtureModel({ seed: 3 });
    const adapter = attachAdapter(model, 'lora', FIXTURE_CONFIGS.lora!, { seed: 7 });
    expect(adapter.foldCount).toBe(0);
    const g = globalLike(adapter, 1);
    expect(() => adapter.applyFold(g)).toThrow(/NOT_STATEFUL|nothing to fold/);
    dispose(g);
    adapter.detach();
    model.dispose();
  });
});
