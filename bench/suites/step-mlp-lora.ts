/**
 * One training step of an MLP whose every layer is a frozen base kernel plus a LoRA adapter (trainable A, B),
 * on wasm: once with fedpeft's fast ops (frozenLinear with a precomputed K^T; matMul with explicit transposes)
 * and once with the built-in tf.matMul gradients, which on wasm use the slow transposed matMul forms. Both
 * variants start from identical weights and see the same batch; their steps are timed in alternation.
 */
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { freezeKernel, frozenLinear, matMul, type FrozenKernel } from '../../shared/tensor/fast-ops.ts';
import { measureInterleaved } from '../harness/timing.ts';
import type { BenchSuite } from '../harness/types.ts';

const DIMS = [256, 512, 512, 16];
const BATCH = 64;
const RANK = 8;
const ALPHA = 16;

interface LoraLayer {
  kernel: tf.Tensor2D;
  bias: tf.Tensor1D;
  frozen: FrozenKernel;
  a: tf.Variable;
  b: tf.Variable;
}

function variable(init: tf.Tensor): tf.Variable {
  const v = tf.variable(init, true);
  init.dispose();
  return v;
}

function buildLayers(seed: number): LoraLayer[] {
  const rng = new Rng(seed);
  const layers: LoraLayer[] = [];
  for (let i = 0; i + 1 < DIMS.length; i++) {
    const [inDim, outDim] = [DIMS[i] as number, DIMS[i + 1] as number];
    const r = rng.fork(`layer${i}`);
    const kernel = r.normalTensor([inDim, outDim], 1 / Math.sqrt(inDim)) as tf.Tensor2D;
    layers.push({
      kernel,
      bias: r.normalTensor([outDim], 0.01) as tf.Tensor1D,
      frozen: freezeKernel(kernel),
      a: variable(r.normalTensor([inDim, RANK], 1 / Math.sqrt(inDim))),
      // Not zero as at initialisation: a mid-training step, where A's gradient is non-trivial too.
      b: variable(r.normalTensor([RANK, outDim], 0.01)),
    });
  }
  return layers;
}

function forward(layers: LoraLayer[], x: tf.Tensor2D, fast: boolean): tf.Tensor2D {
  const scale = ALPHA / RANK;
  let h = x;
  layers.forEach((l, i) => {
    const base = fast ? frozenLinear(h, l.frozen, l.bias) : tf.add(tf.matMul(h, l.kernel), l.bias);
    const low = fast
      ? matMul(matMul(h, l.a as tf.Tensor2D), l.b as tf.Tensor2D)
      : tf.matMul(tf.matMul(h, l.a), l.b);
    const y = tf.add<tf.Tensor2D>(base, tf.mul(low, scale));
    h = i + 1 < layers.length ? tf.relu(y) : y;
  });
  return h;
}

function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

export const mlpLoraStepSuite: BenchSuite = {
  name: 'step',
  description: `LoRA MLP training step on wasm (${DIMS.join('-')}, batch ${BATCH}, r=${RANK}): fast ops vs built-in gradients`,
  async run(ctx) {
    await useBackend('wasm');
    const rng = new Rng(7);
    const x = rng.fork('x').normalTensor([BATCH, DIMS[0] as number]) as tf.Tensor2D;
    const classes = DIMS.at(-1) as number;
    const labels = new Float32Array(BATCH * classes);
    const pick = rng.fork('labels');
    for (let i = 0; i < BATCH; i++) labels[i * classes + pick.int(classes)] = 1;
    const targets = tf.tensor2d(labels, [BATCH, classes]);

    const variants = { fast: buildLayers(1), builtin: buildLayers(1) };
    const optimizers = { fast: tf.train.sgd(1e-3), builtin: tf.train.sgd(1e-3) };
    const step = (which: 'fast' | 'builtin'): void => {
      const layers = variants[which];
      const vars = layers.flatMap((l) => [l.a, l.b]);
      const loss = optimizers[which].minimize(
        () => crossEntropy(forward(layers, x, which === 'fast'), targets),
        true,
        vars,
      );
      loss?.dataSync();
      loss?.dispose();
    };
    const t = measureInterleaved(
      { fast: () => step('fast'), builtin: () => step('builtin') },
      { reps: ctx.quick ? 7 : 25, warmup: 3, warmupMs: 300 },
    );
    ctx.record('step.mlp_lora.wasm.fast.ms', t.fast.medianMs, 'ms');
    ctx.record('step.mlp_lora.wasm.builtin.ms', t.builtin.medianMs, 'ms');
    ctx.record('step.mlp_lora.fastgrad_vs_builtin.time_ratio', t.fast.medianMs / t.builtin.medianMs, 'x');

    for (const layers of Object.values(variants)) {
      for (const l of layers) tf.dispose([l.kernel, l.bias, l.frozen.kernelT, l.a, l.b]);
    }
    optimizers.fast.dispose();
    optimizers.builtin.dispose();
    tf.dispose([x, targets]);
  },
};
