import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { createModel } from '../model/zoo.ts';
import type { Gpt } from '../model/gpt.ts';
import type { Batch } from '../model/types.ts';
import { captureInputs } from '../model/capture-inputs.ts';
import { allocateByImportance } from './sparsity-allocation.ts';
import { cubicSparsity } from './schedule.ts';
import { inputFeatureNorms } from './wanda.ts';
import {
  allocateSparsityWithFloors,
  kernelSparsity,
  losaPruneStep,
  meanLoss,
  parseLosaScheduleConfig,
  runLosaSchedule,
} from './losa-schedule.ts';

/**
 * A 4-layer byte GPT with a large init (so its blocks shape the output) and "training data" labelled by the
 * dense model itself (argmax next byte over random inputs): the dense model is the function to keep, pruning
 * measurably breaks it, and the adapter has a well-defined target to recover towards. Cheaper and more
 * deterministic than pretraining on text long enough for the blocks to matter.
 */
function teacherSetup(): { model: Gpt; batches: Batch[] } {
  const model = createModel('test-gpt', { seed: 5, layers: 4, dModel: 64, heads: 2, initStd: 0.3 });
  const rng = new Rng(1);
  const batches = Array.from({ length: 6 }, () => {
    const inputs = tf.tensor2d(
      Int32Array.from({ length: 8 * 32 }, () => rng.int(256)),
      [8, 32],
      'int32',
    );
    const targets = tf.tidy(() => tf.cast(tf.argMax(model.logits(inputs), 2), 'int32'));
    return { inputs, targets };
  });
  return { model, batches };
}

function zeroPositions(model: Gpt): Map<string, number[]> {
  return new Map(
    model
      .linears()
      .filter((l) => l.role !== 'head')
      .map((l) => [l.name, Array.from(l.kernel.dataSync()).flatMap((v, i) => (v === 0 ? [i] : []))]),
  );
}

describe('allocateSparsityWithFloors', () => {
  it('equals LoSA allocation without floors, and otherwise keeps the mean, the floors and the box', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.05, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0.05, max: 0.8, noNaN: true }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.array(fc.double({ min: -0.1, max: 0.1, noNaN: true }), { minLength: 8, maxLength: 8 }),
        (importance, target, delta, jitter) => {
          const L = importance.length;
          const noFloors = allocateSparsityWithFloors(importance, {
            target,
            delta,
            floors: importance.map(() => 0),
          });
          const reference = allocateByImportance(importance, { target, delta });
          noFloors.forEach((x, i) => expect(x).toBeCloseTo(reference[i]!, 9));
          // Floors like a previous stage's: mean below the target, each within delta of that mean.
          const prevMean = target * 0.8;
          const floors = importance.map((_, i) =>
            Math.max(0, prevMean + Math.min(delta, Math.abs(jitter[i]!)) * Math.sign(jitter[i]!)),
          );
          const fm = floors.reduce((a, b) => a + b, 0) / L;
          const shift = prevMean - fm; // recentre so the floors' mean is exactly prevMean when possible
          const centred = floors.map((f) => Math.max(0, f + shift));
          const x = allocateSparsityWithFloors(importance, { target, delta, floors: centred });
          const mean = x.reduce((a, b) => a + b, 0) / L;
          const floorMean = centred.reduce((a, b) => a + b, 0) / L;
          expect(mean).toBeCloseTo(Math.max(target, floorMean), 9);
          x.forEach((xi, i) => {
            expect(xi).toBeGreaterThanOrEqual(centred[i]! - 1e-12);
            expect(xi).toBeLessThanOrEqual(Math.max(centred[i]!, target + delta) + 1e-12);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('prunes the less important layers more', () => {
    const x = allocateSparsityWithFloors([0.2, 1, 0.5], { target: 0.5, delta: 0.1, floors: [0, 0, 0] });
    expect(x[0]).toBeCloseTo(0.6, 12);
    expect(x[1]).toBeCloseTo(0.4, 12);
    expect(x[2]).toBeCloseTo(0.5, 12);
  });
});

describe('LoSA schedule on a 4-layer GPT (wasm)', () => {
  let train: Batch[];
  let calibration: Batch[];
  let model: Gpt;
  beforeAll(async () => {
    await useBackend('wasm');
    ({ model, batches: train } = teacherSetup());
    calibration = train.slice(0, 2);
  });
  afterAll(() => {
    model.dispose();
    tf.dispose(train.flatMap((b) => [b.inputs, b.targets]));
  });

  it('follows the cubic ramp, keeps zeros through merges, beats pruning without adaptation, and leaks nothing', () => {
    const S = 0.5;
    const config = { targetSparsity: S, steps: 5, stepsPerStage: 12, rank: 4, maxRank: 8, delta: 0.1 };
    const linears = model.linears().filter((l) => l.role !== 'head');
    const dense = new Map(linears.map((l) => [l.name, tf.clone(l.kernel)]));

    // Baseline: one-shot prune of the dense model to S with the same machinery, no adaptation.
    const oneShot = losaPruneStep(model, null, { sparsity: S, calibration: train, seed: 9, config });
    const prunedLoss = meanLoss(model, train);
    const denseLoss = (() => {
      oneShot.adapter.detach();
      for (const l of linears) l.assignKernel(dense.get(l.name)!);
      return meanLoss(model, train);
    })();
    expect(prunedLoss).toBeGreaterThan(denseLoss + 0.5); // pruning breaks this model: there is something to recover

    model.invalidateCaches();
    const tensorsBefore = tf.memory().numTensors;
    const zerosByStage: Map<string, number[]>[] = [];
    const result = runLosaSchedule(model, {
      batches: train,
      calibration,
      evaluation: train,
      seed: 9,
      config,
      optimizer: { learningRate: 5e-3, weightDecay: 0 },
      onStage: () => zerosByStage.push(zeroPositions(model)),
    });
    expect(result.stages).toHaveLength(5);
    const minIn = Math.min(...linears.map((l) => l.inDim));
    result.stages.forEach((stage, i) => {
      const target = cubicSparsity(S, i + 1, 5);
      expect(stage.target).toBeCloseTo(target, 12);
      // Achieved mean = stage target up to Wanda's per-column rounding (half a weight per column, plus the
      // same again when an earlier stage's rounding set a layer's floor).
      expect(Math.abs(stage.meanSparsity - target)).toBeLessThanOrEqual(1 / minIn);
      for (const layer of stage.layers) {
        expect(Math.abs(layer.allocated - target)).toBeLessThanOrEqual(config.delta + 1 / minIn);
        expect(layer.rank).toBeGreaterThanOrEqual(1);
        expect(layer.rank).toBeLessThanOrEqual(config.maxRank);
      }
      expect(stage.layers.reduce((a, l) => a + l.rank, 0)).toBe(4 * config.rank);
      expect(stage.losses).toHaveLength(12);
      expect(stage.losses.every(Number.isFinite)).toBe(true);
      // Every stage's adapter recovers some of what its pruning cost.
      expect(stage.lossAfterTraining).toBeLessThan(stage.lossAfterPruning);
    });
    // The ramp is visible: strictly increasing achieved sparsity, and the CKA allocation is not uniform.
    for (let i = 1; i < 5; i++)
      expect(result.stages[i]!.meanSparsity).toBeGreaterThan(result.stages[i - 1]!.meanSparsity);
    const last = result.stages[4]!;
    expect(new Set(last.layers.map((l) => l.allocated.toFixed(6))).size).toBeGreaterThan(1);

    // Merging the previous stage's adapter (at the start of each stage) kept every earlier zero.
    for (let i = 1; i < zerosByStage.length; i++) {
      for (const [name, zeros] of zerosByStage[i - 1]!) {
        const now = new Set(zerosByStage[i]!.get(name));
        expect(zeros.every((z) => now.has(z))).toBe(true);
      }
    }
    // ...and so does merging the final adapter, which did change the surviving weights.
    const beforeMerge = new Map(linears.map((l) => [l.name, Float32Array.from(l.kernel.dataSync())]));
    result.adapter.merge();
    let changed = 0;
    for (const l of linears) {
      const prev = beforeMerge.get(l.name)!;
      const k = l.kernel.dataSync();
      for (let i = 0; i < k.length; i++) {
        if (prev[i] === 0)
          expect(k[i] === 0).toBe(true); // -0 counts: a zero weight either way
        else if (k[i] !== prev[i]) changed++;
      }
    }
    expect(changed).toBeGreaterThan(1000);

    const finalLoss = meanLoss(model, train);
    expect(Number.isFinite(finalLoss)).toBe(true);
    expect(finalLoss).toBeLessThan(prunedLoss);
    expect(result.finalConfig.ranks['layers.0.attn.q']).toBe(last.layers[0]!.rank);

    result.adapter.detach();
    model.invalidateCaches();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    tf.dispose([...dense.values()]);
  });

  it("prunes a planted layer exactly where Wanda's scores say, not where magnitudes say", () => {
    const fresh = createModel('test-gpt', { seed: 11, layers: 2 });
    try {
      // Plant: layer 0's q kernel has distinct magnitudes, and its input features very different loudness
      // (LayerNorm gain), so Wanda's |K_ij| ||X_i|| ranks the weights differently from |K_ij| alone.
      const q = fresh.linears().find((l) => l.name === 'layers.0.attn.q')!;
      const [m, n] = [q.inDim, q.outDim];
      const rng = new Rng(3);
      const order = rng.permutation(m * n);
      const planted = tf.tensor2d(
        Float32Array.from({ length: m * n }, (_, i) => ((i % 2 ? -1 : 1) * (1 + order[i]!)) / (m * n)),
        [m, n],
      );
      q.assignKernel(planted);
      planted.dispose();
      const gain = tf.tensor1d(Float32Array.from({ length: m }, (_, i) => 0.1 + (3 * ((i * 7) % m)) / m));
      fresh.blocks[0]!.ln1.gamma.assign(gain);
      gain.dispose();
      fresh.invalidateCaches();

      const x = captureInputs(fresh, calibration, [q.name]);
      const norms = inputFeatureNorms(x.get(q.name)!);
      tf.dispose([...x.values()]);
      const k = Float32Array.from(q.kernel.dataSync());

      const { adapter, report } = losaPruneStep(fresh, null, {
        sparsity: 0.5,
        calibration,
        seed: 1,
        config: { rank: 2, maxRank: 4 },
      });
      const s = report.layers[0]!.allocated;
      const prune = Math.round(s * m);
      const expected = new Set<number>();
      const byMagnitude = new Set<number>();
      for (let j = 0; j < n; j++) {
        const rows = Array.from({ length: m }, (_, i) => i);
        const lowest = (score: (i: number) => number) =>
          [...rows].sort((a, b) => score(a) - score(b) || a - b).slice(0, prune);
        for (const i of lowest((i) => Math.abs(k[i * n + j]!) * norms[i]!)) expected.add(i * n + j);
        for (const i of lowest((i) => Math.abs(k[i * n + j]!))) byMagnitude.add(i * n + j);
      }
      const after = q.kernel.dataSync();
      const pruned = new Set(Array.from(after).flatMap((v, i) => (v === 0 ? [i] : [])));
      expect(pruned).toEqual(expected);
      expect(pruned).not.toEqual(byMagnitude);
      expect(kernelSparsity(q)).toBeCloseTo(prune / m, 12);
      // The attached adapter masks exactly the pruned positions.
      const mask = adapter.private().get(`${q.name}.mask`)!.dataSync();
      for (let i = 0; i < mask.length; i++) expect(mask[i] === 0).toBe(pruned.has(i));
      adapter.detach();
    } finally {
      fresh.dispose();
    }
  });

  it('with an N:M pattern every stage keeps at most N nonzeros in every M inputs', () => {
    const fresh = createModel('test-gpt', { seed: 12, layers: 2 });
    try {
      const result = runLosaSchedule(fresh, {
        batches: calibration,
        seed: 2,
        config: { pattern: '2:4', steps: 2, stepsPerStage: 2, rank: 2, maxRank: 4 },
      });
      expect(result.stages.map((s) => s.meanSparsity)).toEqual([0.5, 0.5]);
      for (const l of fresh.linears().filter((x) => x.role !== 'head')) {
        const k = l.kernel.dataSync();
        for (let j = 0; j < l.outDim; j++)
          for (let g = 0; g < l.inDim; g += 4) {
            let nonzeros = 0;
            for (let i = g; i < g + 4; i++) if (k[i * l.outDim + j] !== 0) nonzeros++;
            expect(nonzeros).toBeLessThanOrEqual(2);
          }
      }
      result.adapter.detach();
    } finally {
      fresh.dispose();
    }
  });

  it('rejects a bad config with messages a person can act on', () => {
    expect(() => parseLosaScheduleConfig({ targetSparsity: 1 })).toThrow(
      /targetSparsity must be in \[0, 1\)/,
    );
    expect(() => parseLosaScheduleConfig({ rank: 8, maxRank: 4 })).toThrow(/maxRank must be >= rank/);
    expect(() => parseLosaScheduleConfig({ pattern: '2-4' })).toThrow(/"unstructured" or N:M/);
    expect(() => parseLosaScheduleConfig({ roles: ['head'] })).toThrow(/roles must be among/);
    expect(() => parseLosaScheduleConfig({ stepz: 3 })).toThrow(/stepz/);
    expect(parseLosaScheduleConfig({}).steps).toBe(5);
  });
});
