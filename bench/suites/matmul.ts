/**
 * matMul throughput: the 2-D rate of each backend, the batched (attention-shaped) rate of fedpeft's wasm fast
 * path against the stock kernel and against one 2-D matMul of the same FLOPs, forward and backward, and — when
 * python3 with numpy is installed — native single-threaded BLAS as the physical reference for one core.
 */
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { batchMatMul, batchMatMulBackward } from '../../shared/tensor/batched-matmul.ts';
import { gflops, measure, measureInterleaved } from '../harness/timing.ts';
import { measureNativeSgemm } from '../harness/native-blas.ts';
import type { BenchContext, BenchSuite } from '../harness/types.ts';

const SIZES = [256, 512, 1024] as const;
const GFLOPS = 'GFLOP/s';

/** Repetitions per size: the pure-JS cpu backend needs ~2 s for one 1024^3 product. */
function repsFor(backend: 'cpu' | 'wasm', n: number, quick: boolean): { reps: number; warmup: number } {
  if (backend === 'wasm') return { reps: quick ? 5 : 11, warmup: 2 };
  if (n >= 1024) return { reps: quick ? 1 : 3, warmup: quick ? 0 : 1 };
  return { reps: quick ? 3 : 7, warmup: 1 };
}

async function squareMatMuls(ctx: BenchContext, rng: Rng): Promise<number | undefined> {
  let wasm1024: number | undefined;
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    for (const n of SIZES) {
      const a = rng.normalTensor([n, n]) as tf.Tensor2D;
      const b = rng.normalTensor([n, n]) as tf.Tensor2D;
      const { reps, warmup } = repsFor(backend, n, ctx.quick);
      // The same operands every rep, as in inference: wasm packs b's weights once and reuses them.
      const t = measure(() => tf.matMul(a, b).dispose(), {
        reps,
        warmup,
        warmupMs: backend === 'cpu' ? 0 : 200,
      });
      const rate = gflops(2 * n ** 3, t.medianMs);
      ctx.record(`matmul.${backend}.${n}.gflops`, rate, GFLOPS);
      if (backend === 'wasm' && n === 1024) wasm1024 = rate;
      tf.dispose([a, b]);
    }
  }
  return wasm1024;
}

/** 32 batch*heads of [128 x 64] @ [64 x 128]: the attention-score product of a small GPT. */
async function batchedMatMuls(ctx: BenchContext, rng: Rng): Promise<void> {
  await useBackend('wasm');
  const [B, M, K, N] = [32, 128, 64, 128];
  const shape = `${B}x${M}x${K}x${N}`;
  const flops = 2 * B * M * K * N;
  const a = rng.normalTensor([B, M, K]) as tf.Tensor3D;
  const b = rng.normalTensor([B, K, N]) as tf.Tensor3D;
  const dy = rng.normalTensor([B, M, N]) as tf.Tensor3D;
  // The 2-D reference with the same FLOPs: all B*M rows against one [K x N] matrix.
  const a2 = rng.normalTensor([B * M, K]) as tf.Tensor2D;
  const b2 = rng.normalTensor([K, N]) as tf.Tensor2D;

  const reps = ctx.quick ? 7 : 21;
  const t = measureInterleaved(
    {
      fast: () => batchMatMul(a, b).dispose(),
      fastBackward: () => tf.dispose(batchMatMulBackward(a, b, dy)),
      flat: () => tf.matMul(a2, b2).dispose(),
    },
    { reps, warmup: 3, warmupMs: 300 },
  );
  // The stock kernel is ~10x slower; fewer reps. Its backward is what tf's own BatchMatMul gradient runs.
  const stockReps = ctx.quick ? 3 : 7;
  const stock = measure(() => tf.matMul(a, b).dispose(), { reps: stockReps, warmup: 1, warmupMs: 0 });
  const stockBackward = measure(
    () => tf.dispose([tf.matMul(dy, b, false, true), tf.matMul(a, dy, true, false)]),
    { reps: stockReps, warmup: 1, warmupMs: 0 },
  );

  const fast = gflops(flops, t.fast.medianMs);
  const fastBackward = gflops(2 * flops, t.fastBackward.medianMs);
  const flat = gflops(flops, t.flat.medianMs);
  ctx.record(`matmul.wasm.batched_${shape}.gflops`, fast, GFLOPS);
  ctx.record(`matmul.wasm.batched_${shape}.backward.gflops`, fastBackward, GFLOPS);
  ctx.record(`matmul.wasm.batched_stock_${shape}.gflops`, gflops(flops, stock.medianMs), GFLOPS);
  ctx.record(
    `matmul.wasm.batched_stock_${shape}.backward.gflops`,
    gflops(2 * flops, stockBackward.medianMs),
    GFLOPS,
  );
  ctx.record(`matmul.wasm.2d_${B * M}x${K}x${N}.gflops`, flat, GFLOPS);
  ctx.record('ratio.matmul.wasm.batched_vs_2d', fast / flat, 'x');
  ctx.record('ratio.matmul.wasm.batched_backward_vs_2d', fastBackward / flat, 'x');
  ctx.record('ratio.matmul.wasm.batched_vs_stock', stock.medianMs / t.fast.medianMs, 'x');
  tf.dispose([a, b, dy, a2, b2]);
}

export const matmulSuite: BenchSuite = {
  name: 'matmul',
  description:
    'matMul GFLOP/s: cpu and wasm 2-D, wasm batched (fast path vs stock vs 2-D), native BLAS if present',
  async run(ctx) {
    const rng = new Rng(20240601);
    const wasm1024 = await squareMatMuls(ctx, rng.fork('square'));
    await batchedMatMuls(ctx, rng.fork('batched'));
    const native = measureNativeSgemm(1024, ctx.quick ? 5 : 11);
    if ('skipped' in native) {
      ctx.log(`native BLAS reference skipped: ${native.skipped}`);
      return;
    }
    ctx.record('matmul.native_blas.1024.gflops', native.gflops, GFLOPS);
    if (wasm1024 !== undefined) ctx.record('matmul.wasm.1024.vs_native_ratio', wasm1024 / native.gflops, 'x');
  },
};
