import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import { Rng } from '../../tensor/rng.ts';
import { freezeKernel } from '../../tensor/fast-ops.ts';
import { denseDeltaLinear, factoredLinear, windowLinear, type BaseProjection } from './fused-ops.ts';
import { windowSelector, randomColumnsSelector } from './selectors.ts';
import { maxAbsDiff } from '../testing/helpers.ts';

/**
 * Each fused op against the same math written with stock tfjs ops and autodiff: values and every gradient
 * must agree to float rounding, for random shapes, ranks, windows (contiguous and wrapping), masks, biases.
 */
const dims = fc.record({
  N: fc.integer({ min: 1, max: 7 }),
  m: fc.integer({ min: 2, max: 9 }),
  n: fc.integer({ min: 1, max: 8 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
  bias: fc.boolean(),
});

function setup(d: { N: number; m: number; n: number; seed: number; bias: boolean }) {
  const rng = new Rng(d.seed);
  const x = rng.normalTensor([d.N, d.m]) as tf.Tensor2D;
  const K = rng.normalTensor([d.m, d.n]) as tf.Tensor2D;
  const bias = d.bias ? (rng.normalTensor([d.n]) as tf.Tensor1D) : null;
  const frozen = freezeKernel(K);
  const base: BaseProjection = { frozen, bias };
  const dy = rng.normalTensor([d.N, d.n]) as tf.Tensor2D;
  return {
    rng,
    x,
    K,
    bias,
    base,
    dy,
    dispose: () => tf.dispose([x, K, frozen.kernelT, dy, ...(bias ? [bias] : [])]),
  };
}

/** `sum(f(x, ...params) * dy)`: its gradients are the vector-Jacobian products with dy. */
function vjp(f: (...t: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], dy: tf.Tensor) {
  const { value, grads } = tf.valueAndGrads((...t: tf.Tensor[]) => tf.sum(tf.mul(f(...t), dy)))(inputs);
  const out = { value: value.dataSync()[0] as number, grads: grads.map((g) => g.dataSync().slice()) };
  tf.dispose([value, ...grads]);
  return out;
}

function expectSame(a: ReturnType<typeof vjp>, b: ReturnType<typeof vjp>) {
  expect(Math.abs(a.value - b.value)).toBeLessThan(1e-4 * (1 + Math.abs(b.value)));
  a.grads.forEach((g, i) => expect(maxAbsDiff(g, b.grads[i]!)).toBeLessThan(1e-4));
}

describe('fused adapter ops equal their stock-op definitions', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('windowLinear (slice and gather) = x K + s x[:, sel] B', () => {
    fc.assert(
      fc.property(
        dims,
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        (d, r0, w, columns) => {
          const r = Math.min(r0, d.m);
          const s = setup(d);
          const B = s.rng.normalTensor([r, d.n]) as tf.Tensor2D;
          const sel = columns ? randomColumnsSelector(s.rng, r, d.m) : windowSelector(w, r, d.m);
          const fused = vjp(
            (x, b) => windowLinear(x as tf.Tensor2D, s.base, b as tf.Tensor2D, sel, 1.5),
            [s.x, B],
            s.dy,
          );
          const stock = vjp(
            (x, b) => {
              const y = tf.add(tf.matMul(x, s.K), tf.mul(tf.matMul(tf.gather(x, sel.indices, 1), b), 1.5));
              return s.bias ? tf.add(y, s.bias) : y;
            },
            [s.x, B],
            s.dy,
          );
          expectSame(fused, stock);
          tf.dispose([B, sel.indices]);
          s.dispose();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('factoredLinear (rank prefixes, frozen or trained factors, optional mask) = x (K + s (A_k B_k) ⊙ M)', () => {
    fc.assert(
      fc.property(
        dims,
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        fc.boolean(),
        (d, r, k0, masked, trainA) => {
          const k = Math.min(k0, r);
          const s = setup(d);
          const A = s.rng.normalTensor([d.m, r]) as tf.Tensor2D;
          const B = s.rng.normalTensor([r, d.n]) as tf.Tensor2D;
          const mask = masked
            ? (tf.tidy(() =>
                tf.cast(tf.greater(s.rng.normalTensor([d.m, d.n]), 0), 'float32'),
              ) as tf.Tensor2D)
            : null;
          const opts = { scale: 0.7, rank: k, trainA, trainB: true, mask };
          const stockOf = (x: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => {
            const Ak = tf.slice(a, [0, 0], [d.m, k]);
            const Bk = tf.slice(b, [0, 0], [k, d.n]);
            let delta = tf.mul(tf.matMul(Ak, Bk), 0.7);
            if (mask) delta = tf.mul(delta, mask);
            const y = tf.matMul(x, tf.add(s.K, delta));
            return s.bias ? tf.add(y, s.bias) : y;
          };
          // A frozen A is no input of the fused op (it gets no gradient): differentiate w.r.t. x and B only.
          const fused = trainA
            ? vjp(
                (x, a, b) =>
                  factoredLinear(x as tf.Tensor2D, s.base, a as tf.Tensor2D, b as tf.Tensor2D, opts),
                [s.x, A, B],
                s.dy,
              )
            : vjp(
                (x, b) => factoredLinear(x as tf.Tensor2D, s.base, A, b as tf.Tensor2D, opts),
                [s.x, B],
                s.dy,
              );
          const stock = trainA
            ? vjp((x, a, b) => stockOf(x, a, b), [s.x, A, B], s.dy)
            : vjp((x, b) => stockOf(x, A, b), [s.x, B], s.dy);
          expectSame(fused, stock);
          tf.dispose([A, B, ...(mask ? [mask] : [])]);
          s.dispose();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('denseDeltaLinear = x (K + D)', () => {
    fc.assert(
      fc.property(dims, (d) => {
        const s = setup(d);
        const D = s.rng.normalTensor([d.m, d.n]) as tf.Tensor2D;
        const fused = vjp(
          (x, dd) => denseDeltaLinear(x as tf.Tensor2D, s.base, dd as tf.Tensor2D),
          [s.x, D],
          s.dy,
        );
        const stock = vjp(
          (x, dd) => {
            const y = tf.matMul(x, tf.add(s.K, dd));
            return s.bias ? tf.add(y, s.bias) : y;
          },
          [s.x, D],
          s.dy,
        );
        expectSame(fused, stock);
        D.dispose();
        s.dispose();
      }),
      { numRuns: 15 },
    );
  });

  it('leaves no tensors behind', () => {
    const before = tf.memory().numTensors;
    const s = setup({ N: 3, m: 5, n: 4, seed: 1, bias: true });
    const B = s.rng.normalTensor([2, 4]) as tf.Tensor2D;
    const sel = windowSelector(4, 2, 5);
    vjp((x, b) => windowLinear(x as tf.Tensor2D, s.base, b as tf.Tensor2D, sel, 2), [s.x, B], s.dy);
    tf.dispose([B, sel.indices]);
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
