import { afterAll, describe, expect, it } from 'vitest';
import { tf } from './tf.ts';
import { selectBackend } from './backend.ts';
import { installNodeWebGpu, type GpuSetup } from './node-webgpu.ts';
import { Rng } from './rng.ts';
import { embedding, frozenLinear, linear, matMul, type FrozenKernel } from './fast-ops.ts';
import { batchMatMul } from './batched-matmul.ts';
import { layerNorm } from '../model/layer-norm.ts';
import { gelu } from '../model/gelu.ts';
import { softmaxCrossEntropy } from '../model/cross-entropy.ts';
import { causalAttention, causalMask } from '../model/attention.ts';
import { createModel } from '../model/zoo.ts';
import type { Batch } from '../model/types.ts';
import { attachAdapter } from '../adapters/index.ts';
import { factoredLinear, windowLinear, denseDeltaLinear } from '../adapters/core/fused-ops.ts';
import { FIXTURE_CONFIGS } from '../adapters/testing/cases.ts';
import { FixtureModel, fixtureBatch } from '../adapters/testing/fixture-model.ts';
import { randomizeTrainables } from '../adapters/testing/helpers.ts';

/**
 * Every op the models and adapters train through, on tfjs's WebGPU backend in Node (Dawn, the optional `webgpu`
 * package), against the cpu reference: forward values and gradients of `sum(f(x) * w)` for a fixed random `w`.
 *
 * Finding an adapter (design notes §6): Dawn's Vulkan backend needs a Vulkan 1.1+ software driver; Debian 12's
 * lavapipe (mesa 22.3) is too old, but Chromium ships SwiftShader's Vulkan driver, used here through
 * `VK_ICD_FILENAMES` when `libvulkan1` is installed. Dawn's OpenGL backend works on mesa's llvmpipe with
 * `EGL_PLATFORM=surfaceless`, but only as a `compatibility` feature-level adapter, which tfjs never asks for:
 * the `navigator.gpu` installed below asks for it. Either is a software renderer (a test of the code path,
 * not of speed). Without one, the suite skips and says why.
 *
 * Reads are asynchronous throughout: tfjs-backend-webgpu's `dataSync` needs an OffscreenCanvas, which Node
 * lacks. Models and adapters are therefore built on cpu (PiCa's SVD reads synchronously) and moved to the GPU
 * by tfjs on first use.
 */

async function setUpNodeWebGpu(): Promise<GpuSetup> {
  const setup = await installNodeWebGpu();
  if (!setup.ok) return setup;
  const report = await selectBackend({ force: 'webgpu' });
  return { ok: true, adapter: `${setup.adapter} (${report.chosen})` };
}

const gpu: GpuSetup = await setUpNodeWebGpu().catch((err: unknown): GpuSetup => ({
  ok: false,
  reason: `WebGPU setup failed: ${(err as Error).message}`,
}));
if (!gpu.ok) console.warn(`[webgpu-ops] skipped: ${gpu.reason}`);

interface HostArray {
  shape: number[];
  data: Float32Array | Int32Array;
  dtype: 'float32' | 'int32';
}

const host = (shape: number[], rng: Rng, std = 1): HostArray => ({
  shape,
  data: rng.normalArray(
    shape.reduce((a, b) => a * b, 1),
    std,
  ),
  dtype: 'float32',
});
const ints = (values: number[]): HostArray => ({
  shape: [values.length],
  data: Int32Array.from(values),
  dtype: 'int32',
});
const toTensor = (h: HostArray): tf.Tensor => tf.tensor(h.data, h.shape, h.dtype);

/** `K^T` of a host matrix: frozen kernels carry their transpose, built here so no op under test builds it. */
function transposed(h: HostArray): HostArray {
  const [rows, cols] = h.shape as [number, number];
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) data[j * rows + i] = h.data[i * cols + j] as number;
  return { shape: [cols, rows], data, dtype: 'float32' };
}

/** A frozen base projection from fixed inputs `[K, K^T, bias]`. */
function baseOf(k: tf.Tensor, kT: tf.Tensor, bias: tf.Tensor): { frozen: FrozenKernel; bias: tf.Tensor1D } {
  return { frozen: { kernel: k as tf.Tensor2D, kernelT: kT as tf.Tensor2D }, bias: bias as tf.Tensor1D };
}

interface OpResult {
  value: Float32Array;
  grads: Float32Array[];
}

/**
 * Value of `f` and the gradients of `sum(f * w)` w.r.t. the differentiable inputs, on `backend`. `fixed` are
 * inputs without a gradient (ids, masks). Everything is created from host arrays inside, and freed.
 */
async function evaluate(
  backend: 'cpu' | 'webgpu',
  diff: HostArray[],
  fixed: HostArray[],
  f: (diff: tf.Tensor[], fixed: tf.Tensor[]) => tf.Tensor,
): Promise<OpResult> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const xs = diff.map(toTensor);
  const cs = fixed.map(toTensor);
  const value = tf.tidy(() => f(xs, cs));
  const w = tf.tensor(new Rng(99).normalArray(value.size), value.shape);
  const grads =
    xs.length > 0 ? tf.grads((...inputs: tf.Tensor[]) => tf.sum(tf.mul(f(inputs, cs), w)))(xs) : [];
  const out: OpResult = {
    value: Float32Array.from(await value.data()),
    grads: await Promise.all(grads.map(async (g) => Float32Array.from(await g.data()))),
  };
  tf.dispose([...xs, ...cs, value, w, ...grads]);
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

/** Max |a - b| over max(1, max |b|): float32 on a GPU reorders sums, so agreement is to ~1e-6 relative. */
function relativeError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

const TOLERANCE = 2e-4;

async function expectSameOnGpu(
  diff: HostArray[],
  fixed: HostArray[],
  f: (diff: tf.Tensor[], fixed: tf.Tensor[]) => tf.Tensor,
): Promise<void> {
  const ref = await evaluate('cpu', diff, fixed, f);
  const got = await evaluate('webgpu', diff, fixed, f);
  expect(relativeError(got.value, ref.value)).toBeLessThan(TOLERANCE);
  expect(got.grads.length).toBe(ref.grads.length);
  ref.grads.forEach((g, i) => {
    // A gradient that is zero on cpu would make a broken kernel look fine: every reference gradient must carry signal.
    expect(Math.max(...g.map(Math.abs))).toBeGreaterThan(1e-6);
    expect(relativeError(got.grads[i] as Float32Array, g)).toBeLessThan(TOLERANCE);
  });
}

describe.skipIf(!gpu.ok)(`ops on the WebGPU backend vs cpu${gpu.ok ? ` (${gpu.adapter})` : ''}`, () => {
  const rng = new Rng(5);
  afterAll(async () => {
    await tf.setBackend('cpu');
    tf.removeBackend('webgpu');
  });

  it('fast-ops: matMul, frozenLinear, linear, embedding', async () => {
    const [a, b, bias] = [host([12, 20], rng), host([20, 9], rng), host([9], rng)];
    await expectSameOnGpu([a, b], [], ([x, y]) => matMul(x as tf.Tensor2D, y as tf.Tensor2D));
    await expectSameOnGpu([a, b, bias], [], ([x, k, c]) =>
      linear(x as tf.Tensor2D, k as tf.Tensor2D, c as tf.Tensor1D),
    );
    await expectSameOnGpu([a], [b, transposed(b), bias], ([x], [k, kT, c]) => {
      const base = baseOf(k!, kT!, c!);
      return frozenLinear(x as tf.Tensor2D, base.frozen, base.bias);
    });
    await expectSameOnGpu([host([16, 6], rng)], [ints([3, 0, 15, 3, 7, 3, 9])], ([table], [ids]) =>
      embedding(ids as tf.Tensor1D, table as tf.Tensor2D),
    );
  });

  it('batchMatMul and causal attention', async () => {
    await expectSameOnGpu([host([6, 5, 4], rng), host([6, 4, 7], rng)], [], ([x, y]) =>
      batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D),
    );
    const shape = { batch: 2, time: 5, heads: 2 };
    const mask = causalMask(5);
    const maskHost: HostArray = { shape: [5, 5], data: Float32Array.from(mask.dataSync()), dtype: 'float32' };
    mask.dispose();
    await expectSameOnGpu(
      [host([10, 8], rng), host([10, 8], rng), host([10, 8], rng)],
      [maskHost],
      ([q, k, v], [m]) =>
        causalAttention(q as tf.Tensor2D, k as tf.Tensor2D, v as tf.Tensor2D, m as tf.Tensor2D, shape),
    );
  });

  it('LayerNorm, GELU and cross-entropy custom ops', async () => {
    await expectSameOnGpu([host([7, 12], rng, 3), host([12], rng), host([12], rng)], [], ([x, g, b]) =>
      layerNorm(x as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5),
    );
    await expectSameOnGpu([host([9, 11], rng, 2)], [], ([x]) => gelu(x as tf.Tensor));
    await expectSameOnGpu([host([8, 13], rng, 2)], [ints([0, 12, 5, 5, 1, 7, 3, 9])], ([logits], [t]) =>
      softmaxCrossEntropy(logits as tf.Tensor2D, t as tf.Tensor1D),
    );
  });

  it('slice, gather, concat, pad, scatterND and transpose (adapter glue)', async () => {
    const x = host([6, 10], rng);
    await expectSameOnGpu([x], [], ([t]) => tf.slice(t as tf.Tensor, [1, 2], [4, 5]));
    await expectSameOnGpu([x], [ints([9, 0, 4, 4])], ([t], [i]) =>
      tf.gather(t as tf.Tensor, i as tf.Tensor, 1),
    );
    await expectSameOnGpu([x, host([6, 3], rng)], [], ([a, b]) =>
      tf.concat([a as tf.Tensor, b as tf.Tensor], 1),
    );
    await expectSameOnGpu([host([3, 4], rng)], [], ([t]) =>
      tf.pad(t as tf.Tensor, [
        [2, 1],
        [0, 3],
      ]),
    );
    // tfjs has no ScatterNd gradient; the adapters use it only inside custom ops (forward), so forward only.
    const rows: HostArray = { shape: [3, 1], data: Int32Array.from([5, 0, 2]), dtype: 'int32' };
    await expectSameOnGpu([], [host([3, 4], rng), rows], (_, [t, i]) => tf.scatterND(i!, t!, [6, 4]));
    await expectSameOnGpu([host([4, 7], rng)], [], ([t]) => tf.transpose(t as tf.Tensor));
  });

  it('fused adapter ops: window, factored (nested rank, masked) and dense-delta linears', async () => {
    const [m, n, r] = [10, 6, 3];
    const kernel = host([m, n], rng);
    const fixed = [kernel, transposed(kernel), host([n], rng)];
    const x = host([5, m], rng);
    for (const sel of [
      { start: 4, idx: [4, 5, 6] },
      { start: null, idx: [8, 9, 0] },
    ]) {
      await expectSameOnGpu(
        [x, host([r, n], rng)],
        [...fixed, ints(sel.idx)],
        ([input, B], [k, kT, b, ids]) =>
          windowLinear(
            input as tf.Tensor2D,
            baseOf(k!, kT!, b!),
            B as tf.Tensor2D,
            { start: sel.start, indices: ids as tf.Tensor1D },
            2,
          ),
      );
    }
    for (const rank of [r, 2]) {
      await expectSameOnGpu([x, host([m, r], rng), host([r, n], rng)], fixed, ([input, A, B], [k, kT, b]) =>
        factoredLinear(input as tf.Tensor2D, baseOf(k!, kT!, b!), A as tf.Tensor2D, B as tf.Tensor2D, {
          scale: 1.5,
          rank,
          trainA: true,
          trainB: true,
          mask: null,
        }),
      );
    }
    const mask: HostArray = {
      shape: [m, n],
      data: Float32Array.from({ length: m * n }, (_, i) => (i % 3 === 0 ? 0 : 1)),
      dtype: 'float32',
    };
    await expectSameOnGpu(
      [x, host([m, r], rng), host([r, n], rng)],
      [...fixed, mask],
      ([input, A, B], [k, kT, b, M]) =>
        factoredLinear(input as tf.Tensor2D, baseOf(k!, kT!, b!), A as tf.Tensor2D, B as tf.Tensor2D, {
          scale: 0.5,
          rank: r,
          trainA: true,
          trainB: true,
          mask: M as tf.Tensor2D,
        }),
    );
    await expectSameOnGpu([x, host([m, n], rng, 0.1)], fixed, ([input, D], [k, kT, b]) =>
      denseDeltaLinear(input as tf.Tensor2D, baseOf(k!, kT!, b!), D as tf.Tensor2D),
    );
  });

  /** Loss and adapter gradients of a model built and attached on cpu (same seeds), on `backend`. */
  async function adapterGradients(
    backend: 'cpu' | 'webgpu',
    build: () => {
      model: { loss(b: Batch): tf.Scalar; dispose(): void };
      adapter: ReturnType<typeof attachAdapter>;
      batch: Batch;
    },
  ): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    const { model, adapter, batch } = build();
    await tf.setBackend(backend);
    const vars = adapter.trainableVariables();
    const { value, grads } = tf.variableGrads(() => model.loss(batch), vars);
    const out = { loss: (await value.data())[0] as number, grads: new Map<string, Float32Array>() };
    for (const v of vars) {
      const g = grads[v.name];
      if (g) out.grads.set(v.name.replace(/#\d+$/, ''), Float32Array.from(await g.data()));
    }
    tf.dispose([value, ...Object.values(grads), batch.inputs, batch.targets]);
    adapter.detach();
    model.dispose();
    await tf.setBackend('cpu');
    expect(tf.memory().numTensors).toBe(before);
    return out;
  }

  async function expectSameAdapterGradients(build: Parameters<typeof adapterGradients>[1]): Promise<void> {
    const ref = await adapterGradients('cpu', build);
    const got = await adapterGradients('webgpu', build);
    expect(Math.abs(got.loss - ref.loss)).toBeLessThan(TOLERANCE * Math.max(1, Math.abs(ref.loss)));
    expect(ref.grads.size).toBeGreaterThan(0);
    expect([...got.grads.keys()].sort()).toEqual([...ref.grads.keys()].sort());
    for (const [name, g] of ref.grads)
      expect(relativeError(got.grads.get(name)!, g), name).toBeLessThan(TOLERANCE);
  }

  it.each(Object.entries(FIXTURE_CONFIGS))(
    'adapter %s: loss and gradients match cpu',
    async (method, config) => {
      await expectSameAdapterGradients(() => {
        const model = new FixtureModel({ seed: 3, sparsity: method === 'losa' ? 0.3 : 0 });
        const adapter = attachAdapter(model, method, config, { seed: 7 });
        randomizeTrainables(adapter, 11);
        return { model, adapter, batch: fixtureBatch(5, 6) };
      });
    },
  );

  it('test-gpt with PiCa: loss and shared-B gradients match cpu', async () => {
    await expectSameAdapterGradients(() => {
      const model = createModel('test-gpt', { seed: 2, contextLength: 16 });
      const adapter = attachAdapter(model, 'pica', { r: 4 }, { seed: 2 });
      randomizeTrainables(adapter, 4, 0.05);
      const ids = new Rng(8).permutation(256).slice(0, 2 * 17);
      const rows = [ids.slice(0, 17), ids.slice(17)];
      const batch = {
        inputs: tf.tensor2d(
          rows.flatMap((r) => r.slice(0, 16)),
          [2, 16],
          'int32',
        ),
        targets: tf.tensor2d(
          rows.flatMap((r) => r.slice(1)),
          [2, 16],
          'int32',
        ),
      };
      return { model, adapter, batch };
    });
  });
});
