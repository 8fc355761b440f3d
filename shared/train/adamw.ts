/**
 * AdamW (Loshchilov & Hutter; PyTorch's update rule) over an explicit list of variables, with a per-variable
 * learning-rate multiplier (LoRA+ trains B faster than A: `adapter.learningRateScale(v)`), decoupled weight
 * decay and optional global-norm clipping.
 *
 * Its moments are private client state: `exportState()` / `importState()` move them as named tensors so a
 * client restarting from its store resumes with the same optimizer. State is keyed by the variable's tfjs
 * name, which is deterministic for a process that builds the same model and adapter in the same order.
 */
import { z } from 'zod';
import { tf } from '../tensor/tf.ts';
import { FedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import { clipByGlobalNorm } from './grad-clip.ts';

export const AdamWConfigSchema = z.object({
  /** Base learning rate; each variable's effective rate is this times its `learningRateScale`. Default 1e-3. */
  learningRate: z.number().positive({ message: 'learningRate must be > 0' }).default(1e-3),
  /** First-moment decay. Default 0.9. */
  beta1: z.number().min(0).lt(1, { message: 'beta1 must be in [0, 1)' }).default(0.9),
  /** Second-moment decay. Default 0.999. */
  beta2: z.number().min(0).lt(1, { message: 'beta2 must be in [0, 1)' }).default(0.999),
  /** Added to sqrt(v̂) in the denominator. Default 1e-8. */
  epsilon: z.number().positive().default(1e-8),
  /** Decoupled weight decay `w -= lr * wd * w`. Default 0.01 (PyTorch's default). */
  weightDecay: z.number().min(0, { message: 'weightDecay must be >= 0' }).default(0.01),
  /**
   * Decay 1-D variables (biases, LayerNorm scales) too. Default false: decaying them pulls norms toward zero
   * for no regularisation benefit, the usual practice for transformers.
   */
  decayVectors: z.boolean().default(false),
  /** Clip the global gradient norm to this value before the update. Default: no clipping. */
  clipNorm: z.number().positive({ message: 'clipNorm must be > 0 (omit it to disable clipping)' }).optional(),
});

export type AdamWConfig = z.output<typeof AdamWConfigSchema>;
export type AdamWConfigInput = z.input<typeof AdamWConfigSchema>;

export interface AdamWOptions {
  /** Learning-rate multiplier per variable (LoRA+). Default 1 for every variable. */
  learningRateScale?: (variable: tf.Variable) => number;
}

interface Moments {
  m: tf.Tensor;
  v: tf.Tensor;
}

const STEP_KEY = 'adamw/step';
const momentKey = (kind: 'm' | 'v', name: string) => `adamw/${kind}/${name}`;

export class AdamW {
  readonly config: AdamWConfig;
  /** Mutable so schedules (warmup, cosine) can set it between steps. */
  learningRate: number;
  private stepCount = 0;
  private readonly moments = new Map<string, Moments>();
  private readonly scaleOf: (variable: tf.Variable) => number;

  constructor(config: AdamWConfigInput = {}, options: AdamWOptions = {}) {
    const parsed = AdamWConfigSchema.safeParse(config);
    if (!parsed.success) {
      throw new FedpeftError('INVALID_CONFIG', `Invalid optimizer config:\n${formatZodError(parsed.error)}`);
    }
    this.config = parsed.data;
    this.learningRate = parsed.data.learningRate;
    this.scaleOf = options.learningRateScale ?? (() => 1);
  }

  /** Number of updates applied so far (drives bias correction). */
  get step(): number {
    return this.stepCount;
  }

  /** One update. `grads` pairs each variable with its gradient; the gradients are not disposed here. */
  applyGradients(grads: ReadonlyArray<readonly [tf.Variable, tf.Tensor]>): void {
    if (grads.length === 0) return;
    for (const [v, g] of grads) {
      if (!sameShape(v.shape, g.shape)) {
        throw new Error(
          `adamw: gradient ${JSON.stringify(g.shape)} does not match ${v.name} ${JSON.stringify(v.shape)}`,
        );
      }
    }
    const { beta1, beta2, epsilon, weightDecay, decayVectors, clipNorm } = this.config;
    this.stepCount++;
    const t = this.stepCount;
    const bc1 = 1 - beta1 ** t;
    const bc2 = 1 - beta2 ** t;
    const clipped =
      clipNorm !== undefined
        ? clipByGlobalNorm(
            grads.map(([, g]) => g),
            clipNorm,
          )
        : null;
    grads.forEach(([variable, rawGrad], i) => {
      const g = clipped ? (clipped[i] as tf.Tensor) : rawGrad;
      const lr = this.learningRate * this.scaleOf(variable);
      const decay = weightDecay > 0 && (decayVectors || variable.rank >= 2) ? weightDecay : 0;
      const prev = this.momentsOf(variable);
      const next = tf.tidy(() => {
        const m = tf.add(tf.mul(prev.m, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(prev.v, beta2), tf.mul(tf.square(g), 1 - beta2));
        // lr·m̂/(√v̂+ε) with m̂ = m/bc1, v̂ = v/bc2.
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), epsilon));
        const decayed = decay > 0 ? tf.mul(variable, 1 - lr * decay) : variable;
        variable.assign(tf.sub(decayed, tf.mul(update, lr)));
        return { m: tf.keep(m), v: tf.keep(v) };
      });
      prev.m.dispose();
      prev.v.dispose();
      this.moments.set(variable.name, next);
    });
    if (clipped) tf.dispose(clipped);
  }

  private momentsOf(variable: tf.Variable): Moments {
    const existing = this.moments.get(variable.name);
    if (existing) {
      if (!sameShape(existing.m.shape, variable.shape)) {
        throw new FedpeftError(
          'OPTIMIZER_STATE_MISMATCH',
          `adamw: stored moments for ${variable.name} have shape ${JSON.stringify(existing.m.shape)}, the variable ${JSON.stringify(variable.shape)}`,
        );
      }
      return existing;
    }
    return { m: tf.zerosLike(variable), v: tf.zerosLike(variable) };
  }

  /** Copies of the optimizer state as named tensors (the caller owns them): step count, first and second moments. */
  exportState(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    out.set(STEP_KEY, tf.scalar(this.stepCount, 'float32'));
    for (const [name, { m, v }] of this.moments) {
      out.set(momentKey('m', name), tf.clone(m));
      out.set(momentKey('v', name), tf.clone(v));
    }
    return out;
  }

  /** Replace the state with (copies of) an exported one. Unknown keys are an error, not silently ignored. */
  importState(state: ReadonlyMap<string, tf.Tensor>): void {
    const step = state.get(STEP_KEY);
    if (!step) throw new FedpeftError('OPTIMIZER_STATE_MISMATCH', `adamw state has no '${STEP_KEY}' entry`);
    const firsts = new Map<string, tf.Tensor>();
    const seconds = new Map<string, tf.Tensor>();
    for (const [key, t] of state) {
      if (key === STEP_KEY) continue;
      const match = /^adamw\/([mv])\/(.+)$/.exec(key);
      if (!match)
        throw new FedpeftError('OPTIMIZER_STATE_MISMATCH', `adamw state has an unknown entry '${key}'`);
      (match[1] === 'm' ? firsts : seconds).set(match[2] as string, t);
    }
    for (const name of new Set([...firsts.keys(), ...seconds.keys()])) {
      const m = firsts.get(name);
      const v = seconds.get(name);
      if (!m || !v || !sameShape(m.shape, v.shape)) {
        throw new FedpeftError(
          'OPTIMIZER_STATE_MISMATCH',
          `adamw state for '${name}' needs m and v of equal shape`,
        );
      }
    }
    this.clear();
    this.stepCount = Math.round(step.dataSync()[0] as number);
    for (const [name, m] of firsts) {
      this.moments.set(name, {
        m: tf.keep(tf.clone(m)),
        v: tf.keep(tf.clone(seconds.get(name) as tf.Tensor)),
      });
    }
  }

  private clear(): void {
    for (const { m, v } of this.moments.values()) tf.dispose([m, v]);
    this.moments.clear();
    this.stepCount = 0;
  }

  dispose(): void {
    this.clear();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
