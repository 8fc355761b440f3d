import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf } from './tf.ts';
import { useBackend } from './backend.ts';
import { Rng } from './rng.ts';
import { batchMatMul, batchMatMulBackward } from './batched-matmul.ts';

type Shape = [batch: number, m: number, k: number, n: number];

interface Case {
  a: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  shape: Shape;
}

function makeCase(shape: Shape, seed: number): Case {
  const [batch, m, k, n] = shape;
  const rng = new Rng(seed);
  return {
    a: rng.normalArray(batch * m * k),
    b: rng.normalArray(batch * k * n),
    dy: rng.normalArray(batch * m * n),
    shape,
  };
}

/** `[y, dA, dB]` as host arrays, from either the fast op or the stock `tf.matMul`, on the active backend. */
function forwardAndGrads(c: Case, op: 'fast' | 'stock'): Float32Array[] {
  const [batch, m, k, n] = c.shape;
  return tf.tidy(() => {
    const a = tf.tensor3d(c.a, [batch, m, k]);
    const b = tf.tensor3d(c.b, [batch, k, n]);
    const dy = tf.tensor3d(c.dy, [batch, m, n]);
    const f = (x: tf.Tensor, w: tf.Tensor): tf.Tensor =>
      op === 'fast' ? batchMatMul(x as tf.Tensor3D, w as tf.Tensor3D) : tf.matMul(x, w);
    const y = f(a, b);
    const [da, db] = tf.grads(f)([a, b], dy) as [tf.Tensor, tf.Tensor];
    return [y, da, db].map((t) => t.dataSync() as Float32Array);
  });
}

/** max |got - want| over max |want|: a relative error that stays meaningful when some entries are ~0. */
function relErr(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs((got[i] as number) - (want[i] as number)));
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  return scale === 0 ? diff : diff / scale;
}

async function onBackend<T>(name: 'cpu' | 'wasm', f: () => T): Promise<T> {
  await useBackend(name);
  return f();
}

const SHAPES: Shape[] = [
  [1, 5, 3, 7],
  [1, 64, 32, 48],
  [3, 17, 9, 13],
  [4, 1, 1, 1],
  [7, 33, 65, 31],
  [32, 16, 8, 16],
];

function wasmHeapBytes(): number {
  return (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
}

describe('batchMatMul', () => {
  it('forward and gradients equal tf.matMul on cpu and on wasm, across shapes incl. batch 1 and odd sizes', async () => {
    for (const [i, shape] of SHAPES.entries()) {
      const c = makeCase(shape, 100 + i);
      const reference = await onBackend('cpu', () => forwardAndGrads(c, 'stock'));
      const cpuFast = await onBackend('cpu', () => forwardAndGrads(c, 'fast'));
      const wasmFast = await onBackend('wasm', () => forwardAndGrads(c, 'fast'));
      const wasmStock = await onBackend('wasm', () => forwardAndGrads(c, 'stock'));
      for (let j = 0; j < 3; j++) {
        const ref = reference[j] as Float32Array;
        expect(relErr(cpuFast[j] as Float32Array, ref), `cpu ${shape.join('x')} output ${j}`).toBeLessThan(
          1e-5,
        );
        expect(relErr(wasmFast[j] as Float32Array, ref), `wasm ${shape.join('x')} output ${j}`).toBeLessThan(
          1e-5,
        );
        expect(relErr(wasmFast[j] as Float32Array, wasmStock[j] as Float32Array)).toBeLessThan(1e-5);
      }
    }
  });

  it('matches tf.matMul on wasm for random shapes (property)', async () => {
    await useBackend('wasm');
    fc.assert(
      fc.property(
        fc.tuple(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 1, max: 40 }),
        ),
        fc.integer({ min: 0, max: 1 << 30 }),
        (shape, seed) => {
          const c = makeCase(shape, seed);
          const fast = forwardAndGrads(c, 'fast');
          const stock = forwardAndGrads(c, 'stock');
          for (let j = 0; j < 3; j++) {
            if (relErr(fast[j] as Float32Array, stock[j] as Float32Array) >= 1e-5) return false;
          }
          return true;
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  });

  it('runs on the sliced wasm kernel, forward and backward, never on the stock batched BatchMatMul', async () => {
    await useBackend('wasm');
    const rng = new Rng(3);
    const a = rng.normalTensor([8, 16, 12]) as tf.Tensor3D;
    const b = rng.normalTensor([8, 12, 20]) as tf.Tensor3D;
    const info = await tf.profile(() => {
      const [da, db] = tf.grads((x: tf.Tensor, w: tf.Tensor) =>
        tf.sum(batchMatMul(x as tf.Tensor3D, w as tf.Tensor3D)),
      )([a, b]);
      return [da, db];
    });
    const kernels = info.kernelNames;
    // One forward and two backward products on the sliced kernel.
    expect(info.kernels.filter((k) => k.name === 'FedpeftBatchMatMulSlices').length).toBe(3);
    expect(kernels).not.toContain('BatchMatMul');
    tf.dispose([a, b]);
  });

  it('is at least 2x faster than the stock batched matMul on wasm (attention-sized, interleaved timing)', async () => {
    await useBackend('wasm');
    const rng = new Rng(5);
    const a = rng.normalTensor([32, 128, 64]) as tf.Tensor3D;
    const b = rng.normalTensor([32, 64, 128]) as tf.Tensor3D;
    const time = (f: () => tf.Tensor): number => {
      const t0 = performance.now();
      tf.dispose(f());
      return performance.now() - t0;
    };
    const fast: number[] = [];
    const stock: number[] = [];
    for (let i = 0; i < 9; i++) {
      fast.push(time(() => batchMatMul(a, b)));
      stock.push(time(() => tf.matMul(a, b)));
    }
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1] as number;
    expect(median(fast) * 2).toBeLessThan(median(stock));
    tf.dispose([a, b]);
  });

  it('leaks no tensors and no wasm memory (XNNPACK operators of view ids are freed) over repeated steps', async () => {
    await useBackend('wasm');
    const rng = new Rng(9);
    const a = rng.normalTensor([16, 32, 24]) as tf.Tensor3D;
    const b = rng.normalTensor([16, 24, 40]) as tf.Tensor3D;
    const step = (): void => {
      const results = tf.tidy(() => {
        const grads = tf.grads((x: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.square(batchMatMul(x as tf.Tensor3D, w as tf.Tensor3D))),
        )([a, b]);
        return [...grads, ...batchMatMulBackward(a, b, tf.onesLike(tf.matMul(a, b)) as tf.Tensor3D)];
      });
      tf.dispose(results);
    };
    for (let i = 0; i < 5; i++) step();
    const tensors = tf.memory().numTensors;
    const heap = wasmHeapBytes();
    // Each slice packs its weights (24x40 floats) into a fresh XNNPACK operator: 300 steps x 3 products x 16
    // slices of leaked operators would be ~55 MB of heap growth.
    for (let i = 0; i < 300; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasmHeapBytes()).toBe(heap);
    tf.dispose([a, b]);
  });

  it('rejects shapes outside its contract with a message naming them', async () => {
    await useBackend('cpu');
    const a = tf.zeros<tf.Rank.R3>([2, 3, 4]);
    const b = tf.zeros<tf.Rank.R3>([3, 4, 5]);
    expect(() => batchMatMul(a, b)).toThrow(/same b, got float32 \[2,3,4\] @ float32 \[3,4,5\]/);
    tf.dispose([a, b]);
  });
});
