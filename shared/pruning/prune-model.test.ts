import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { Linear } from '../model/linear.ts';
import { pruneModel } from './prune-model.ts';
import { allocateRanks } from './rank-allocation.ts';

/** The only part of a model pruning needs: its named Linear modules. */
function tinyModel(rng: Rng): { linears(): Linear[]; dispose(): void } {
  const specs = [
    { name: 'layers.0.attn.q', role: 'q', shape: [16, 8] },
    { name: 'layers.0.mlp.up', role: 'up', shape: [16, 32] },
    { name: 'layers.0.mlp.down', role: 'down', shape: [32, 16] },
  ] as const;
  const linears = specs.map((s) => {
    const kernel = rng.normalTensor([...s.shape]) as tf.Tensor2D;
    const l = new Linear({ name: s.name, role: s.role, kernel });
    kernel.dispose();
    return l;
  });
  return { linears: () => linears, dispose: () => linears.forEach((l) => l.dispose()) };
}

function zeroFraction(t: tf.Tensor): number {
  const d = t.dataSync();
  let z = 0;
  for (let i = 0; i < d.length; i++) if (d[i] === 0) z++;
  return z / d.length;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`pruneModel on ${backend}`, () => {
    let tensorsBefore = 0;
    beforeAll(async () => {
      await useBackend(backend);
      tensorsBefore = tf.memory().numTensors;
    });
    afterAll(() => {
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });

    it('prunes every targeted kernel in place to its own sparsity, leaves the others, and returns masks', () => {
      const rng = new Rng(1);
      const model = tinyModel(rng);
      const [q, up, down] = model.linears() as [Linear, Linear, Linear];
      const downBefore = Array.from(down.kernel.dataSync());
      const acts = new Map(
        model.linears().map((l) => [l.name, rng.normalTensor([24, l.inDim]) as tf.Tensor2D]),
      );
      // A forward pass through the frozen fast path first, so the cached K^T must be invalidated by pruning.
      tf.dispose(q.apply(acts.get(q.name)!));
      const before = tf.memory().numTensors;
      const result = pruneModel(model, { activations: acts, sparsity: { [q.name]: 0.5, [up.name]: 0.25 } });
      // +2 masks, -1 for q's cached K^T, which pruning must drop (it would be stale).
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(result.sparsity.get(q.name)).toBe(0.5);
      expect(result.sparsity.get(up.name)).toBe(0.25);
      expect(zeroFraction(q.kernel)).toBe(0.5);
      expect(zeroFraction(up.kernel)).toBe(0.25);
      expect(Array.from(down.kernel.dataSync())).toEqual(downBefore);
      expect(result.masks.has(down.name)).toBe(false);
      // Mask and kernel agree: pruned positions are exactly the mask zeros.
      const mask = result.masks.get(q.name)!.dataSync();
      const k = q.kernel.dataSync();
      for (let i = 0; i < k.length; i++) expect(k[i] === 0).toBe(mask[i] === 0);
      // The forward pass uses the pruned kernel (no stale cached transpose).
      const x = acts.get(q.name)!;
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(q.apply(x), tf.matMul(x, q.kernel)))).dataSync()[0]);
      expect(diff).toBeLessThan(1e-5);
      // Reconstruction errors are positive for pruned layers and feed rank allocation directly.
      const errors = [q.name, up.name].map((n) => result.reconstructionError.get(n)!);
      expect(errors.every((e) => e > 0)).toBe(true);
      const ranks = allocateRanks(errors, { targetRank: 4, maxRank: 8 });
      expect(ranks.reduce((a, b) => a + b, 0)).toBe(8);
      tf.dispose([...result.masks.values(), ...acts.values()]);
      model.dispose();
    });

    it('applies an N:M pattern to the listed layers and disposes activations it computed itself', () => {
      const rng = new Rng(2);
      const model = tinyModel(rng);
      const [, up] = model.linears() as [Linear, Linear, Linear];
      let produced: tf.Tensor2D | null = null;
      const result = pruneModel(model, {
        mode: '2:4',
        layers: [up.name],
        activations: (l) => (produced = rng.normalTensor([10, l.inDim]) as tf.Tensor2D),
      });
      expect(produced!.isDisposed).toBe(true);
      expect(result.sparsity.get(up.name)).toBe(0.5);
      const k = up.kernel.dataSync();
      for (let j = 0; j < up.outDim; j++)
        for (let g = 0; g < up.inDim; g += 4) {
          let nonzeros = 0;
          for (let i = g; i < g + 4; i++) if (k[i * up.outDim + j] !== 0) nonzeros++;
          expect(nonzeros).toBeLessThanOrEqual(2);
        }
      tf.dispose([...result.masks.values()]);
      model.dispose();
    });

    it('validates every name before touching any kernel', () => {
      const rng = new Rng(3);
      const model = tinyModel(rng);
      const [q] = model.linears() as [Linear];
      const kBefore = Array.from(q.kernel.dataSync());
      const acts = new Map([[q.name, rng.normalTensor([8, q.inDim]) as tf.Tensor2D]]);
      const before = tf.memory().numTensors;
      expect(() =>
        pruneModel(model, { activations: acts, sparsity: { [q.name]: 0.5, 'layers.9.nope': 0.5 } }),
      ).toThrow(/unknown layer\(s\) layers\.9\.nope; the model has: layers\.0\.attn\.q/);
      expect(() => pruneModel(model, { activations: acts, sparsity: { 'layers.0.mlp.up': 0.5 } })).toThrow(
        /no calibration activations for layer\(s\) layers\.0\.mlp\.up/,
      );
      expect(() => pruneModel(model, { activations: acts, sparsity: { [q.name]: 1.5 } })).toThrow(/\[0, 1\)/);
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from(q.kernel.dataSync())).toEqual(kBefore);
      tf.dispose([...acts.values()]);
      model.dispose();
    });
  });
}
