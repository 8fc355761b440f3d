/**
 * A tiny model with every block role (q, k, v, o, up, down, head) over two layers, for adapter tests: small
 * enough that finite-difference gradient checks of every preset take milliseconds, and shaped like a
 * transformer block where it matters to adapters (two layers per role with equal dims, so per-role sharing
 * is exercised; `up`/`down` with different in/out dims; biases on some layers). Weights come from the seed.
 * `sparsity` zeroes that fraction of every block kernel (a stand-in for a pruned base, for LoSA).
 */
import { tf } from '../../tensor/tf.ts';
import { Rng } from '../../tensor/rng.ts';
import { Linear, type Role } from '../../model/linear.ts';
import type { AdaptableModel, Batch } from '../../model/types.ts';
import { softmaxCrossEntropy } from '../../model/cross-entropy.ts';

export interface FixtureOptions {
  seed: number;
  dModel?: number;
  hidden?: number;
  classes?: number;
  layers?: number;
  sparsity?: number;
}

export class FixtureModel implements AdaptableModel {
  readonly kind = 'fixture';
  readonly dModel: number;
  readonly classes: number;
  private readonly blocks: Record<'q' | 'k' | 'v' | 'o' | 'up' | 'down', Linear>[] = [];
  private readonly head: Linear;

  constructor(o: FixtureOptions) {
    const d = (this.dModel = o.dModel ?? 6);
    const h = o.hidden ?? 8;
    this.classes = o.classes ?? 3;
    const rng = new Rng(o.seed);
    const make = (name: string, role: Role, m: number, n: number, withBias: boolean): Linear => {
      const r = rng.fork(name);
      const values = r.normalArray(m * n, 0.6 / Math.sqrt(m));
      if (o.sparsity) for (let i = 0; i < values.length; i++) if (r.next() < o.sparsity) values[i] = 0;
      const kernel = tf.tensor2d(values, [m, n]);
      const bias = withBias ? (r.normalTensor([n], 0.1) as tf.Tensor1D) : null;
      const l = new Linear({ name, role, kernel, bias });
      kernel.dispose();
      bias?.dispose();
      return l;
    };
    for (let i = 0; i < (o.layers ?? 2); i++) {
      const p = `layers.${i}`;
      this.blocks.push({
        q: make(`${p}.attn.q`, 'q', d, d, true),
        k: make(`${p}.attn.k`, 'k', d, d, false),
        v: make(`${p}.attn.v`, 'v', d, d, false),
        o: make(`${p}.attn.o`, 'o', d, d, true),
        up: make(`${p}.mlp.up`, 'up', d, h, true),
        down: make(`${p}.mlp.down`, 'down', h, d, false),
      });
    }
    this.head = make('head', 'head', d, this.classes, true);
  }

  linears(): Linear[] {
    return [...this.blocks.flatMap((b) => [b.q, b.k, b.v, b.o, b.up, b.down]), this.head];
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
    for (const l of this.linears()) l.trainable = trainable;
  }

  /** Logits `[B, classes]` for float features `[B, dModel]`. */
  logits(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let h = x;
      for (const b of this.blocks) {
        const a = tf.tanh<tf.Tensor2D>(tf.add<tf.Tensor2D>(b.q.apply(h), b.k.apply(h)));
        h = tf.add(h, b.o.apply(tf.tanh<tf.Tensor2D>(b.v.apply(a))));
        h = tf.add(h, b.down.apply(tf.tanh<tf.Tensor2D>(b.up.apply(h))));
      }
      return this.head.apply(h);
    });
  }

  loss(batch: Batch): tf.Scalar {
    return tf.tidy(() =>
      softmaxCrossEntropy(this.logits(batch.inputs as tf.Tensor2D), batch.targets as tf.Tensor1D),
    );
  }

  dispose(): void {
    for (const l of this.linears()) l.dispose();
  }
}

/** A deterministic batch for the fixture: features N(0, 1), labels uniform. The caller disposes it. */
export function fixtureBatch(seed: number, size: number, dModel = 6, classes = 3): Batch {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: size }, () => rng.int(classes));
  return {
    inputs: tf.tensor2d(rng.normalArray(size * dModel), [size, dModel]),
    targets: tf.tensor1d(labels, 'int32'),
  };
}
