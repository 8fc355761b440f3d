/**
 * A feed-forward text classifier over float features `[B, F]` (bags of hashed byte n-grams from the data
 * layer): hidden Linears (role `up`, GELU after each) and an output Linear (role `head`); loss = softmax
 * cross-entropy against int32 class ids `[B]`. Small enough that a spam filter trains in seconds on a device.
 */
import { z } from 'zod';
import { tf } from '../tensor/tf.ts';
import { Rng } from '../tensor/rng.ts';
import { FedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import { Linear } from './linear.ts';
import type { AdaptableModel, Batch } from './types.ts';
import { gelu } from './gelu.ts';
import { softmaxCrossEntropy } from './cross-entropy.ts';

export const MlpClassifierConfigSchema = z.object({
  /** Number of input features F (the hashed n-gram bucket count of the featurizer). */
  inputDim: z.number().int().positive({ message: 'inputDim must be a positive integer (feature count)' }),
  /** Widths of the hidden layers, in order. Default [64]. An empty list gives a linear (logistic) model. */
  hiddenDims: z.array(z.number().int().positive()).default([64]),
  /** Number of classes (>= 2). Default 2 (ham / spam). */
  numClasses: z.number().int().min(2, { message: 'numClasses must be at least 2' }).default(2),
  /** Std of the N(0, std²) kernel initialisation; 0 means He-style sqrt(2 / fan_in). Default 0. */
  initStd: z.number().nonnegative().default(0),
});

export type MlpClassifierConfig = z.output<typeof MlpClassifierConfigSchema>;
export type MlpClassifierConfigInput = z.input<typeof MlpClassifierConfigSchema>;

export function parseMlpClassifierConfig(
  input: unknown,
  source = 'mlp-classifier config',
): MlpClassifierConfig {
  const parsed = MlpClassifierConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new FedpeftError('INVALID_CONFIG', `Invalid ${source}:\n${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}

export class MlpClassifier implements AdaptableModel {
  readonly kind = 'mlp-classifier';
  readonly config: MlpClassifierConfig;
  readonly hidden: Linear[];
  readonly head: Linear;

  constructor(config: MlpClassifierConfigInput, options: { seed: number }) {
    const c = parseMlpClassifierConfig(config);
    this.config = c;
    const rng = new Rng(options.seed);
    const make = (name: string, role: 'up' | 'head', inDim: number, outDim: number) => {
      const std = c.initStd > 0 ? c.initStd : Math.sqrt(2 / inDim);
      const kernel = rng.fork(name).normalTensor([inDim, outDim], std) as tf.Tensor2D;
      const bias = tf.zeros<tf.Rank.R1>([outDim]);
      const l = new Linear({ name, role, kernel, bias });
      kernel.dispose();
      bias.dispose();
      return l;
    };
    let width = c.inputDim;
    this.hidden = c.hiddenDims.map((h, i) => {
      const l = make(`layers.${i}.up`, 'up', width, h);
      width = h;
      return l;
    });
    this.head = make('head', 'head', width, c.numClasses);
  }

  linears(): Linear[] {
    return [...this.hidden, this.head];
  }

  parameters(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const l of this.linears()) {
      out.set(`${l.name}.kernel`, l.kernel);
      if (l.bias) out.set(`${l.name}.bias`, l.bias);
    }
    return out;
  }

  setBaseTrainable(trainable: boolean): void {
    for (const l of this.linears()) {
      l.trainable = trainable;
      l.kernel.trainable = trainable;
      if (l.bias) l.bias.trainable = trainable;
      l.invalidateCache();
    }
  }

  invalidateCaches(): void {
    for (const l of this.linears()) l.invalidateCache();
  }

  /** Class logits `[B, numClasses]` for float features `[B, F]`. */
  logits(features: tf.Tensor2D): tf.Tensor2D {
    if (features.rank !== 2 || features.shape[1] !== this.config.inputDim) {
      throw new Error(
        `mlp-classifier: features must be [batch, ${this.config.inputDim}], got ${JSON.stringify(features.shape)}`,
      );
    }
    return tf.tidy(() => {
      let h = features.dtype === 'float32' ? features : tf.cast<tf.Tensor2D>(features, 'float32');
      for (const l of this.hidden) h = gelu(l.apply(h));
      return this.head.apply(h);
    });
  }

  loss(batch: Batch): tf.Scalar {
    return tf.tidy(() =>
      softmaxCrossEntropy(this.logits(batch.inputs as tf.Tensor2D), batch.targets as tf.Tensor1D),
    );
  }

  /** Predicted class ids (argmax of the logits), one per row. */
  predict(features: tf.Tensor2D): number[] {
    const ids = tf.tidy(() => tf.argMax(this.logits(features), 1));
    const out = Array.from(ids.dataSync());
    ids.dispose();
    return out;
  }

  dispose(): void {
    for (const l of this.linears()) l.dispose();
  }
}
