/**
 * One adapter training step on a GPT, on wasm, per method — and the same step with no adapter at all, the floor
 * every adapter sits on — so that each method's own cost is visible next to its whole-step cost.
 *
 * Setting: Beyond-LoRA's comparison (q and v adapted, r = 16, alpha = 32) for every low-rank method; `full`
 * trains the q and v kernels. Every method gets its own copy of the same seeded model and sees the same batch;
 * a step is `trainStep` (forward, backward, AdamW update, loss read back). LoSA runs on a base whose q and v
 * kernels were Wanda-pruned to 50% (its mask is then real; the cost is the same either way, since wasm multiplies
 * dense matrices).
 *
 * The floor ("frozen"): no adapter, but backprop must still reach every adapted projection's output, exactly
 * as far as any adapter's does; otherwise the floor would skip the backward pass and the overheads would be
 * meaningless. So each q/v projection runs as one fused op like the adapters' (`y = x K + b + p`, `dx = dy K^T`)
 * with a trainable zero bias `p` whose gradient is the column sum of dy, and which saves no tensor: the
 * network's forward and backward pass with nothing of an adapter's own.
 *
 * Time: all methods interleaved (one rep of each in turn, `measureInterleaved`), median of reps. Memory: peak
 * bytes of a step from `tf.profile` (peak during the step minus the bytes held before it), plus the bytes the
 * method holds between steps (its variables, frozen/derived tensors, masks, optimizer moments), measured when
 * it was set up; the base model is the same for all and is left out. Overhead ratios:
 * `(method - frozen) / (lora - frozen)`.
 */
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { createModel, type GptSizeName } from '../../shared/model/zoo.ts';
import type { Gpt } from '../../shared/model/gpt.ts';
import type { Linear } from '../../shared/model/linear.ts';
import type { Batch } from '../../shared/model/types.ts';
import { captureInputs } from '../../shared/model/capture-inputs.ts';
import { attachAdapter } from '../../shared/adapters/index.ts';
import type { Adapter } from '../../shared/adapters/types.ts';
import { pruneModel } from '../../shared/pruning/prune-model.ts';
import { AdamW } from '../../shared/train/adamw.ts';
import { trainStep } from '../../shared/train/train-step.ts';
import { measureInterleaved } from '../harness/timing.ts';
import type { BenchContext, BenchSuite } from '../harness/types.ts';

const ROLES = ['q', 'v'] as const;
const RANK = 16;
const ALPHA = 32;
const BATCH = 4;
const METHODS = ['lora', 'cla', 'c3la', 'pica', 'losa', 'ffa-lora', 'full'] as const;
type Method = (typeof METHODS)[number];
type Contender = 'frozen' | Method;

const CONFIGS: Record<Method, Record<string, unknown>> = {
  lora: { r: RANK, alpha: ALPHA, roles: ROLES },
  cla: { r: RANK, alpha: ALPHA, roles: ROLES },
  c3la: { r: RANK, alpha: ALPHA, roles: ROLES },
  pica: { r: RANK, roles: ROLES },
  losa: { r: RANK, alpha: ALPHA, roles: ROLES },
  'ffa-lora': { r: RANK, alpha: ALPHA, roles: ROLES },
  full: { roles: ROLES },
};

interface Setup {
  model: Gpt;
  adapter: Adapter | null;
  /** The floor's zero biases (frozen only). */
  probes: tf.Variable[];
  variables: tf.Variable[];
  optimizer: AdamW;
  /** Bytes this contender holds between steps beyond the base model. */
  heldBytes: number;
}

/**
 * The floor's projection: `x K (+ bias) + p` as one fused op, shaped like the adapters' fused ops (it returns
 * `dx = dy K^T` like they do) but with nothing of an adapter in it: it saves no tensor, and `p`'s gradient is the
 * column sum of dy.
 */
function probedLinear(x: tf.Tensor2D, base: Linear, probe: tf.Variable): tf.Tensor2D {
  const { kernel, kernelT } = base.frozenKernel();
  const bias = base.bias;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, p] = args as [tf.Tensor2D, tf.Tensor1D];
    const value = tf.tidy(() => {
      const y = tf.matMul(input, kernel);
      return tf.add(bias ? tf.add(y, bias) : y, p);
    });
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) =>
        tf.tidy(() => [tf.matMul(dy as tf.Tensor2D, kernelT), tf.sum(dy as tf.Tensor2D, 0)]),
    };
  });
  return op(x, probe) as tf.Tensor2D;
}

function modelBytes(model: Gpt): number {
  let bytes = 0;
  for (const v of model.parameters().values()) bytes += v.size * 4;
  return bytes;
}

function setUp(name: GptSizeName, which: Contender, batch: Batch): Setup {
  const bytesBefore = tf.memory().numBytes;
  const model = createModel(name, { seed: 1 });
  let adapter: Adapter | null = null;
  const probes: tf.Variable[] = [];
  if (which === 'frozen') {
    for (const linear of model.linears().filter((l) => (ROLES as readonly string[]).includes(l.role))) {
      const zeros = tf.zeros([linear.outDim]);
      const probe = tf.variable(zeros, true);
      zeros.dispose();
      probes.push(probe);
      linear.hook = { forward: (x, base) => probedLinear(x, base, probe) };
    }
  } else {
    if (which === 'losa') {
      const targets = model.linears().filter((l) => (ROLES as readonly string[]).includes(l.role));
      const inputs = captureInputs(
        model,
        [batch],
        targets.map((l) => l.name),
      );
      const pruned = pruneModel(model, {
        activations: inputs,
        sparsity: Object.fromEntries(targets.map((l) => [l.name, 0.5])),
      });
      tf.dispose([...inputs.values(), ...pruned.masks.values()]);
    }
    adapter = attachAdapter(model, which, CONFIGS[which], { seed: 7 });
  }
  const variables = adapter ? adapter.trainableVariables() : probes;
  const current = adapter;
  const optimizer = new AdamW(
    { learningRate: 1e-4, weightDecay: 0 },
    { learningRateScale: (v) => current?.learningRateScale(v) ?? 1 },
  );
  // One step so optimizer moments and cached K^T exist: they are held between steps.
  trainStep(model, batch, variables, optimizer);
  const heldBytes = tf.memory().numBytes - bytesBefore - modelBytes(model);
  return { model, adapter, probes, variables, optimizer, heldBytes };
}

function step(s: Setup, batch: Batch): void {
  trainStep(s.model, batch, s.variables, s.optimizer);
}

async function stepPeakBytes(s: Setup, batch: Batch): Promise<number> {
  const start = tf.memory().numBytes;
  const info = await tf.profile(() => step(s, batch));
  return info.peakBytes - start;
}

function tearDown(s: Setup): void {
  s.adapter?.detach();
  for (const l of s.model.linears()) l.hook = null;
  tf.dispose(s.probes);
  s.optimizer.dispose();
  s.model.dispose();
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

async function measureModel(ctx: BenchContext, name: GptSizeName, prefix: string): Promise<void> {
  const model = createModel(name, { seed: 1 });
  const { contextLength, vocabSize } = model.config;
  model.dispose();
  const rng = new Rng(3);
  const ids = () => Int32Array.from({ length: BATCH * contextLength }, () => rng.int(vocabSize));
  const batch: Batch = {
    inputs: tf.tensor2d(ids(), [BATCH, contextLength], 'int32'),
    targets: tf.tensor2d(ids(), [BATCH, contextLength], 'int32'),
  };
  const contenders: Contender[] = ['frozen', ...METHODS];
  const setups = new Map<Contender, Setup>();
  try {
    for (const c of contenders) setups.set(c, setUp(name, c, batch));
    const peak = new Map<Contender, number>();
    for (const c of contenders) peak.set(c, await stepPeakBytes(setups.get(c) as Setup, batch));
    const fns = Object.fromEntries(contenders.map((c) => [c, () => step(setups.get(c) as Setup, batch)]));
    const timing = measureInterleaved(fns as Record<Contender, () => void>, {
      reps: ctx.quick ? 5 : 25,
      warmup: 2,
      warmupMs: 300,
    });
    const ms = (c: Contender) => timing[c].medianMs;
    const mem = (c: Contender) => (peak.get(c) ?? 0) + (setups.get(c)?.heldBytes ?? 0);

    ctx.record(`step.${prefix}frozen.ms`, ms('frozen'), 'ms');
    ctx.record(`step.${prefix}frozen.peak_bytes`, mem('frozen'), 'bytes');
    const rows: string[] = [];
    for (const m of METHODS) {
      const s = setups.get(m) as Setup;
      ctx.record(`step.${prefix}${m}.ms`, ms(m), 'ms');
      ctx.record(`step.${prefix}${m}.peak_bytes`, mem(m), 'bytes');
      ctx.record(
        `params.${prefix}${m}.trainable`,
        s.variables.reduce((a, v) => a + v.size, 0),
        'params',
      );
      if (m === 'lora') continue;
      const time = ms(m) / ms('lora');
      const memory = mem(m) / mem('lora');
      const overTime = (ms(m) - ms('frozen')) / (ms('lora') - ms('frozen'));
      const overMem = (mem(m) - mem('frozen')) / (mem('lora') - mem('frozen'));
      ctx.record(`ratio.time.${prefix}${m}_vs_lora`, time, 'x');
      ctx.record(`ratio.overhead_time.${prefix}${m}_vs_lora`, overTime, 'x');
      ctx.record(`ratio.mem.${prefix}${m}_vs_lora`, memory, 'x');
      ctx.record(`ratio.overhead_mem.${prefix}${m}_vs_lora`, overMem, 'x');
      rows.push(
        `| ${pad(m, 8)} | ${time.toFixed(3)} | ${overTime.toFixed(3)} | ${memory.toFixed(3)} | ${overMem.toFixed(3)} |`,
      );
    }
    ctx.record(`ratio.time.${prefix}frozen_vs_lora`, ms('frozen') / ms('lora'), 'x');
    ctx.record(`ratio.mem.${prefix}frozen_vs_lora`, mem('frozen') / mem('lora'), 'x');
    // The results file sorts keys, which separates whole-step and overhead ratios; show them side by side here.
    ctx.log(
      [
        `${name} (q,v r=${RANK}, batch ${BATCH}x${contextLength}, wasm): method vs LoRA; ` +
          `floor = ${(ms('frozen') / ms('lora')).toFixed(3)}x time, ${(mem('frozen') / mem('lora')).toFixed(3)}x memory`,
        '| method   | time  | overhead time | memory | overhead memory |',
        '|----------|-------|---------------|--------|-----------------|',
        ...rows,
      ].join('\n  '),
    );
  } finally {
    for (const s of setups.values()) tearDown(s);
    tf.dispose([batch.inputs, batch.targets]);
  }
}

export const adapterStepSuite: BenchSuite = {
  name: 'adapters',
  description: `adapter training step per method vs LoRA and vs no adapter (q,v r=${RANK}, wasm; tiny-gpt, + small-gpt without --quick)`,
  async run(ctx) {
    await useBackend('wasm');
    await measureModel(ctx, 'tiny-gpt', '');
    if (!ctx.quick) await measureModel(ctx, 'small-gpt', 'small_gpt.');
  },
};
