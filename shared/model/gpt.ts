/**
 * A decoder-only transformer (GPT-2 architecture): token + learned position embeddings, pre-LayerNorm blocks
 * of causal multi-head attention (`q,k,v,o` Linears) and a GELU MLP (`up,down` Linears), a final LayerNorm and
 * an LM head. Numerics match GPT-2 (biases, gelu_new, LayerNorm eps 1e-5, 1/sqrt(hd) attention scale), so
 * Hugging Face GPT-2 checkpoints load into it (`gpt2-checkpoint.ts`).
 *
 * Every projection runs on 2-D `[B*T, d]` views through `Linear.apply`, so adapters see plain matrices.
 * Base weights are frozen by default (fine-tuning): Linears then take the frozen fast path with no gradient
 * for their kernels; `setBaseTrainable(true)` switches everything to trainable (pretraining, full FT).
 */
import { tf } from '../tensor/tf.ts';
import { Rng } from '../tensor/rng.ts';
import { embedding, matMul, frozenLinear, type FrozenKernel } from '../tensor/fast-ops.ts';
import { FedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import { Linear, type Role } from './linear.ts';
import type { AdaptableModel, Batch } from './types.ts';
import { GptConfigSchema, type GptConfig, type GptConfigInput } from './gpt-config.ts';
import { layerNorm } from './layer-norm.ts';
import { gelu } from './gelu.ts';
import { softmaxCrossEntropy } from './cross-entropy.ts';
import { causalAttention, causalMask } from './attention.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';
import { uniqueVariableName } from './variable-name.ts';

export { GptConfigSchema, type GptConfig, type GptConfigInput };

interface Norm {
  gamma: tf.Variable<tf.Rank.R1>;
  beta: tf.Variable<tf.Rank.R1>;
}

interface Block {
  ln1: Norm;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  ln2: Norm;
  up: Linear;
  down: Linear;
}

export function parseGptConfig(input: unknown, source = 'gpt config'): GptConfig {
  const parsed = GptConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new FedpeftError('INVALID_CONFIG', `Invalid ${source}:\n${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}

export class Gpt implements AdaptableModel {
  readonly kind = 'gpt';
  readonly config: GptConfig;
  readonly tokenEmbedding: tf.Variable<tf.Rank.R2>;
  readonly positionEmbedding: tf.Variable<tf.Rank.R2>;
  readonly blocks: Block[];
  readonly finalNorm: Norm;
  /** The LM head; null when it is tied to the token embedding. */
  readonly head: Linear | null;
  private readonly params = new Map<string, tf.Variable>();
  /** Embeddings and norms (the Linears own and dispose their own variables). */
  private readonly ownVariables: tf.Variable[] = [];
  private readonly masks = new Map<number, tf.Tensor2D>();
  /** Tied head on the frozen path: `wte^T` computed once (GPT-2's is 38M values — not per forward). */
  private tiedFrozen: FrozenKernel | null = null;
  private baseTrainable = false;

  /**
   * `seed` drives the GPT-2 style initialisation (each parameter from its own `rng.fork(name)`, so it does not
   * depend on construction order). `initialize: false` skips it (zeros) when weights are loaded right after.
   */
  constructor(config: GptConfigInput, options: { seed: number; initialize?: boolean }) {
    const c = parseGptConfig(config);
    this.config = c;
    const rng = new Rng(options.seed);
    const hidden = Math.round(c.mlpRatio * c.dModel);
    const residualStd = c.initStd / Math.sqrt(2 * c.layers);
    const initialize = options.initialize ?? true;
    const normal = (name: string, shape: [number, number], std: number) =>
      (initialize ? rng.fork(name).normalTensor(shape, std) : tf.zeros(shape)) as tf.Tensor2D;

    this.tokenEmbedding = this.variable(
      'embed.token',
      normal('embed.token', [c.vocabSize, c.dModel], c.initStd),
    );
    this.positionEmbedding = this.variable(
      'embed.position',
      normal('embed.position', [c.contextLength, c.dModel], c.initStd),
    );
    const linear = (name: string, role: Role, inDim: number, outDim: number, std: number, bias: boolean) => {
      const kernel = normal(name, [inDim, outDim], std);
      const b = bias ? tf.zeros([outDim]) : null;
      const l = new Linear({ name, role, kernel, bias: b as tf.Tensor1D | null });
      kernel.dispose();
      b?.dispose();
      this.params.set(`${name}.kernel`, l.kernel);
      if (l.bias) this.params.set(`${name}.bias`, l.bias);
      return l;
    };
    this.blocks = [];
    for (let i = 0; i < c.layers; i++) {
      const p = `layers.${i}`;
      const ln1 = this.norm(`${p}.ln1`);
      const q = linear(`${p}.attn.q`, 'q', c.dModel, c.dModel, c.initStd, c.bias);
      const k = linear(`${p}.attn.k`, 'k', c.dModel, c.dModel, c.initStd, c.bias);
      const v = linear(`${p}.attn.v`, 'v', c.dModel, c.dModel, c.initStd, c.bias);
      const o = linear(`${p}.attn.o`, 'o', c.dModel, c.dModel, residualStd, c.bias);
      const ln2 = this.norm(`${p}.ln2`);
      const up = linear(`${p}.mlp.up`, 'up', c.dModel, hidden, c.initStd, c.bias);
      const down = linear(`${p}.mlp.down`, 'down', hidden, c.dModel, residualStd, c.bias);
      this.blocks.push({ ln1, q, k, v, o, ln2, up, down });
    }
    this.finalNorm = this.norm('final_norm');
    this.head = c.tiedHead ? null : linear('head', 'head', c.dModel, c.vocabSize, c.initStd, false);
  }

  private variable<R extends tf.Rank>(name: string, value: tf.Tensor<R>): tf.Variable<R> {
    const v = tf.variable(value, false, uniqueVariableName(name));
    value.dispose();
    this.params.set(name, v);
    this.ownVariables.push(v);
    return v;
  }

  private norm(name: string): Norm {
    const d = this.config.dModel;
    return {
      gamma: this.variable(`${name}.gamma`, tf.ones<tf.Rank.R1>([d])),
      beta: this.variable(`${name}.beta`, tf.zeros<tf.Rank.R1>([d])),
    };
  }

  linears(): Linear[] {
    const out: Linear[] = [];
    for (const b of this.blocks) out.push(b.q, b.k, b.v, b.o, b.up, b.down);
    if (this.head) out.push(this.head);
    return out;
  }

  parameters(): Map<string, tf.Variable> {
    return new Map(this.params);
  }

  setBaseTrainable(trainable: boolean): void {
    this.baseTrainable = trainable;
    for (const v of this.params.values()) v.trainable = trainable;
    for (const l of this.linears()) l.trainable = trainable;
    this.invalidateCaches();
  }

  /** Call after changing base weights in place (loading a checkpoint, an optimizer step on frozen copies). */
  invalidateCaches(): void {
    for (const l of this.linears()) l.invalidateCache();
    this.tiedFrozen?.kernel.dispose();
    this.tiedFrozen = null;
  }

  private mask(t: number): tf.Tensor2D {
    let m = this.masks.get(t);
    if (!m) {
      m = tf.keep(causalMask(t));
      this.masks.set(t, m);
    }
    return m;
  }

  /** Final-LayerNormed hidden states `[B*T, d]` for int32 ids `[B, T]`. */
  hidden(ids: tf.Tensor2D): tf.Tensor2D {
    const c = this.config;
    if (ids.rank !== 2)
      throw new Error(`gpt: ids must be [batch, time], got shape ${JSON.stringify(ids.shape)}`);
    if (ids.dtype !== 'int32') throw new Error(`gpt: ids must be int32, got ${ids.dtype}`);
    const [batch, time] = ids.shape;
    if (time > c.contextLength) {
      throw new FedpeftError(
        'SEQUENCE_TOO_LONG',
        `gpt: sequence length ${time} exceeds the context length ${c.contextLength}`,
      );
    }
    const eps = c.layerNormEps;
    const shape = { batch, time, heads: c.heads };
    return tf.tidy(() => {
      const tokens = embedding(tf.reshape(ids, [batch * time]), this.tokenEmbedding);
      // A slice of the position table, broadcast over the batch: no lookup (and no one-hot gradient) needed.
      const positions = tf.slice(this.positionEmbedding, [0, 0], [time, c.dModel]);
      let h = tf.reshape<tf.Rank.R2>(tf.add(tf.reshape(tokens, [batch, time, c.dModel]), positions), [
        batch * time,
        c.dModel,
      ]);
      const mask = this.mask(time);
      for (const b of this.blocks) {
        const a = layerNorm(h, b.ln1.gamma, b.ln1.beta, eps);
        const mixed = causalAttention(b.q.apply(a), b.k.apply(a), b.v.apply(a), mask, shape);
        h = tf.add(h, b.o.apply(mixed));
        const m = layerNorm(h, b.ln2.gamma, b.ln2.beta, eps);
        h = tf.add(h, b.down.apply(gelu(b.up.apply(m))));
      }
      return layerNorm(h, this.finalNorm.gamma, this.finalNorm.beta, eps);
    });
  }

  /** LM head on `[N, d]` hidden states: `[N, vocab]`. */
  project(hidden: tf.Tensor2D): tf.Tensor2D {
    if (this.head) return this.head.apply(hidden);
    if (this.baseTrainable) return matMul(hidden, tf.transpose(this.tokenEmbedding));
    if (!this.tiedFrozen) {
      this.tiedFrozen = { kernel: tf.keep(tf.transpose(this.tokenEmbedding)), kernelT: this.tokenEmbedding };
    }
    return frozenLinear(hidden, this.tiedFrozen);
  }

  /** Logits `[B, T, vocab]` for int32 ids `[B, T]`. */
  logits(ids: tf.Tensor2D): tf.Tensor3D {
    const [batch, time] = ids.shape;
    return tf.tidy(() => tf.reshape(this.project(this.hidden(ids)), [batch, time, this.config.vocabSize]));
  }

  /** Mean next-token cross-entropy in nats; inputs and targets int32 `[B, T]`. */
  loss(batch: Batch): tf.Scalar {
    const inputs = batch.inputs as tf.Tensor2D;
    if (batch.targets.rank !== 2 || batch.targets.shape.some((d, i) => d !== inputs.shape[i])) {
      throw new Error(
        `gpt: targets ${JSON.stringify(batch.targets.shape)} must match inputs ${JSON.stringify(inputs.shape)}`,
      );
    }
    return tf.tidy(() =>
      softmaxCrossEntropy(
        this.project(this.hidden(inputs)),
        tf.reshape<tf.Rank.R1>(batch.targets, [batch.targets.size]),
      ),
    );
  }

  /**
   * Autoregressive sampling: returns the `maxNew` new token ids (not the prompt). The context is the last
   * `contextLength` tokens; each step reads one row of logits on the host.
   */
  generate(prompt: readonly number[], maxNew: number, options: SamplingOptions = {}): number[] {
    const { vocabSize, contextLength } = this.config;
    if (prompt.length === 0) throw new Error('gpt.generate: the prompt must contain at least one token');
    for (const id of prompt) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new Error(`gpt.generate: token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
      }
    }
    const ids = [...prompt];
    const out: number[] = [];
    for (let step = 0; step < maxNew; step++) {
      const window = ids.slice(-contextLength);
      const row = tf.tidy(() => {
        const h = this.hidden(tf.tensor2d(window, [1, window.length], 'int32'));
        return this.project(tf.slice(h, [window.length - 1, 0], [1, this.config.dModel]));
      });
      const logits = row.dataSync();
      row.dispose();
      const next = sampleToken(logits, options);
      ids.push(next);
      out.push(next);
    }
    return out;
  }

  dispose(): void {
    this.invalidateCaches();
    for (const l of this.linears()) l.dispose();
    for (const v of this.ownVariables) v.dispose();
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}
