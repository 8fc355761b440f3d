/**
 * A Llama-family decoder (Llama 2/3, SmolLM2, Qwen2, Mistral-without-sliding-window): token embedding,
 * pre-RMSNorm blocks of causal grouped-query attention with rotary positions (`q,k,v,o` Linears) and a SwiGLU
 * MLP (`gate,up,down` Linears), a final RMSNorm and an LM head (its own Linear, or tied to the embedding).
 * Numerics follow transformers' `LlamaForCausalLM` / `Qwen2ForCausalLM` (rotate-half RoPE, `rms_norm_eps`,
 * 1/sqrt(hd) scale, Qwen2's q/k/v biases), so Hugging Face folders load into it (`hf/load-folder.ts`).
 *
 * Like the GPT, every projection runs on 2-D `[B*T, ·]` views through `Linear.apply`, so every adapter method
 * attaches unchanged; base weights are frozen unless `setBaseTrainable(true)`.
 */
import { tf } from '../tensor/tf.ts';
import { Rng } from '../tensor/rng.ts';
import { embedding, matMul, frozenLinear, type FrozenKernel } from '../tensor/fast-ops.ts';
import { FedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import { Linear, type Role } from './linear.ts';
import type { AdaptableModel, Batch } from './types.ts';
import { LlamaConfigSchema, type LlamaConfig, type LlamaConfigInput } from './llama-config.ts';
import { rmsNorm } from './rms-norm.ts';
import { swiglu } from './swiglu.ts';
import { rotaryTables, type RotaryTables } from './rotary.ts';
import { groupedQueryAttention } from './grouped-query-attention.ts';
import { softmaxCrossEntropy } from './cross-entropy.ts';
import { causalMask } from './attention.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';
import { uniqueVariableName } from './variable-name.ts';

export { LlamaConfigSchema, type LlamaConfig, type LlamaConfigInput };

interface Block {
  norm1: tf.Variable<tf.Rank.R1>;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  norm2: tf.Variable<tf.Rank.R1>;
  gate: Linear;
  up: Linear;
  down: Linear;
}

export function parseLlamaConfig(input: unknown, source = 'llama config'): LlamaConfig {
  const parsed = LlamaConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new FedpeftError('INVALID_CONFIG', `Invalid ${source}:\n${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}

/** Per sequence length: the causal mask and the rotary tables, kept for the model's lifetime. */
interface PositionCache {
  mask: tf.Tensor2D;
  rotary: RotaryTables;
}

export class Llama implements AdaptableModel {
  readonly kind = 'llama';
  readonly config: LlamaConfig;
  readonly tokenEmbedding: tf.Variable<tf.Rank.R2>;
  readonly blocks: Block[];
  readonly finalNorm: tf.Variable<tf.Rank.R1>;
  /** The LM head; null when it is tied to the token embedding. */
  readonly head: Linear | null;
  private readonly params = new Map<string, tf.Variable>();
  private readonly ownVariables: tf.Variable[] = [];
  private readonly positions = new Map<number, PositionCache>();
  private tiedFrozen: FrozenKernel | null = null;
  private baseTrainable = false;

  /** `seed` drives the N(0, initStd²) initialisation (per-parameter forks); `initialize: false` gives zeros. */
  constructor(config: LlamaConfigInput, options: { seed: number; initialize?: boolean }) {
    const c = parseLlamaConfig(config);
    this.config = c;
    const rng = new Rng(options.seed);
    const initialize = options.initialize ?? true;
    const residualStd = c.initStd / Math.sqrt(2 * c.layers);
    const normal = (name: string, shape: [number, number], std: number) =>
      (initialize ? rng.fork(name).normalTensor(shape, std) : tf.zeros(shape)) as tf.Tensor2D;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;

    this.tokenEmbedding = this.variable(
      'embed.token',
      normal('embed.token', [c.vocabSize, c.dModel], c.initStd),
    );
    const linear = (name: string, role: Role, inDim: number, outDim: number, std: number, bias: boolean) => {
      const kernel = normal(name, [inDim, outDim], std);
      const b = bias ? tf.zeros<tf.Rank.R1>([outDim]) : null;
      const l = new Linear({ name, role, kernel, bias: b });
      kernel.dispose();
      b?.dispose();
      this.params.set(`${name}.kernel`, l.kernel);
      if (l.bias) this.params.set(`${name}.bias`, l.bias);
      return l;
    };
    this.blocks = [];
    for (let i = 0; i < c.layers; i++) {
      const p = `layers.${i}`;
      this.blocks.push({
        norm1: this.variable(`${p}.norm1.gamma`, tf.ones<tf.Rank.R1>([c.dModel])),
        q: linear(`${p}.attn.q`, 'q', c.dModel, qDim, c.initStd, c.qkvBias),
        k: linear(`${p}.attn.k`, 'k', c.dModel, kvDim, c.initStd, c.qkvBias),
        v: linear(`${p}.attn.v`, 'v', c.dModel, kvDim, c.initStd, c.qkvBias),
        o: linear(`${p}.attn.o`, 'o', qDim, c.dModel, residualStd, c.oBias),
        norm2: this.variable(`${p}.norm2.gamma`, tf.ones<tf.Rank.R1>([c.dModel])),
        gate: linear(`${p}.mlp.gate`, 'gate', c.dModel, c.intermediateSize, c.initStd, false),
        up: linear(`${p}.mlp.up`, 'up', c.dModel, c.intermediateSize, c.initStd, false),
        down: linear(`${p}.mlp.down`, 'down', c.intermediateSize, c.dModel, residualStd, false),
      });
    }
    this.finalNorm = this.variable('final_norm.gamma', tf.ones<tf.Rank.R1>([c.dModel]));
    this.head = c.tiedHead ? null : linear('head', 'head', c.dModel, c.vocabSize, c.initStd, false);
  }

  private variable<R extends tf.Rank>(name: string, value: tf.Tensor<R>): tf.Variable<R> {
    const v = tf.variable(value, false, uniqueVariableName(name));
    value.dispose();
    this.params.set(name, v);
    this.ownVariables.push(v);
    return v;
  }

  linears(): Linear[] {
    const out: Linear[] = [];
    for (const b of this.blocks) out.push(b.q, b.k, b.v, b.o, b.gate, b.up, b.down);
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

  invalidateCaches(): void {
    for (const l of this.linears()) l.invalidateCache();
    this.tiedFrozen?.kernel.dispose();
    this.tiedFrozen = null;
  }

  private positionCache(time: number): PositionCache {
    let cache = this.positions.get(time);
    if (!cache) {
      const rotary = rotaryTables(time, this.config.headDim, this.config.ropeTheta);
      cache = {
        mask: tf.keep(causalMask(time)),
        rotary: { cos: tf.keep(rotary.cos), sin: tf.keep(rotary.sin) },
      };
      this.positions.set(time, cache);
    }
    return cache;
  }

  /** Final-RMSNormed hidden states `[B*T, d]` for int32 ids `[B, T]`. */
  hidden(ids: tf.Tensor2D): tf.Tensor2D {
    const c = this.config;
    if (ids.rank !== 2)
      throw new Error(`llama: ids must be [batch, time], got shape ${JSON.stringify(ids.shape)}`);
    if (ids.dtype !== 'int32') throw new Error(`llama: ids must be int32, got ${ids.dtype}`);
    const [batch, time] = ids.shape;
    if (time > c.contextLength) {
      throw new FedpeftError(
        'SEQUENCE_TOO_LONG',
        `llama: sequence length ${time} exceeds the context length ${c.contextLength}`,
      );
    }
    const { mask, rotary } = this.positionCache(time);
    const shape = { batch, time, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim };
    const eps = c.rmsNormEps;
    return tf.tidy(() => {
      let h = embedding(tf.reshape(ids, [batch * time]), this.tokenEmbedding);
      for (const b of this.blocks) {
        const a = rmsNorm(h, b.norm1, eps);
        const mixed = groupedQueryAttention(b.q.apply(a), b.k.apply(a), b.v.apply(a), mask, rotary, shape);
        h = tf.add(h, b.o.apply(mixed));
        const m = rmsNorm(h, b.norm2, eps);
        h = tf.add(h, b.down.apply(swiglu(b.gate.apply(m), b.up.apply(m))));
      }
      return rmsNorm(h, this.finalNorm, eps);
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
        `llama: targets ${JSON.stringify(batch.targets.shape)} must match inputs ${JSON.stringify(inputs.shape)}`,
      );
    }
    return tf.tidy(() =>
      softmaxCrossEntropy(
        this.project(this.hidden(inputs)),
        tf.reshape<tf.Rank.R1>(batch.targets, [batch.targets.size]),
      ),
    );
  }

  /** Autoregressive sampling of `maxNew` tokens after `prompt` (the context is its last `contextLength`). */
  generate(prompt: readonly number[], maxNew: number, options: SamplingOptions = {}): number[] {
    const { vocabSize, contextLength, dModel } = this.config;
    if (prompt.length === 0) throw new Error('llama.generate: the prompt must contain at least one token');
    for (const id of prompt) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new Error(`llama.generate: token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
      }
    }
    const ids = [...prompt];
    const out: number[] = [];
    for (let step = 0; step < maxNew; step++) {
      const window = ids.slice(-contextLength);
      const row = tf.tidy(() => {
        const h = this.hidden(tf.tensor2d(window, [1, window.length], 'int32'));
        return this.project(tf.slice(h, [window.length - 1, 0], [1, dModel]));
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
    for (const p of this.positions.values()) tf.dispose([p.mask, p.rotary.cos, p.rotary.sin]);
    this.positions.clear();
  }
}
