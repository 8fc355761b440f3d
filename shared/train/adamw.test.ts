import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { AdamW } from './adamw.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

/** Hand-written AdamW (PyTorch's algorithm) for one scalar parameter, in float64. */
function referenceAdamW(
  w0: number,
  grads: number[],
  lr: number,
  wd: number,
  b1 = 0.9,
  b2 = 0.999,
  eps = 1e-8,
): number {
  let w = w0;
  let m = 0;
  let v = 0;
  grads.forEach((g, i) => {
    const t = i + 1;
    w *= 1 - lr * wd;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    w -= (lr * (m / (1 - b1 ** t))) / (Math.sqrt(v / (1 - b2 ** t)) + eps);
  });
  return w;
}

function values(v: tf.Variable): number[] {
  return Array.from(v.dataSync());
}

describe('AdamW', () => {
  it('matches a float64 reference over several steps, with decoupled decay on matrices only', () => {
    const matrix = tf.variable(tf.tensor2d([[0.5, -1]]), true, 'adamw.matrix');
    const vector = tf.variable(tf.tensor1d([2]), true, 'adamw.vector');
    const opt = new AdamW({ learningRate: 0.1, weightDecay: 0.5 });
    const gm = [
      [0.3, -0.2],
      [0.1, 0.4],
      [-0.5, 0.05],
    ];
    const gv = [1, -2, 0.5];
    for (let s = 0; s < 3; s++) {
      const g1 = tf.tensor2d([gm[s]!]);
      const g2 = tf.tensor1d([gv[s]!]);
      opt.applyGradients([
        [matrix, g1],
        [vector, g2],
      ]);
      tf.dispose([g1, g2]);
    }
    expect(values(matrix)[0]).toBeCloseTo(
      referenceAdamW(
        0.5,
        gm.map((g) => g[0]!),
        0.1,
        0.5,
      ),
      6,
    );
    expect(values(matrix)[1]).toBeCloseTo(
      referenceAdamW(
        -1,
        gm.map((g) => g[1]!),
        0.1,
        0.5,
      ),
      6,
    );
    // 1-D variables are not decayed by default.
    expect(values(vector)[0]).toBeCloseTo(referenceAdamW(2, gv, 0.1, 0), 6);
    expect(opt.step).toBe(3);
    tf.dispose([matrix, vector]);
    opt.dispose();
  });

  it('scales the learning rate per variable (LoRA+)', () => {
    const a = tf.variable(tf.tensor1d([0]), true, 'adamw.a');
    const b = tf.variable(tf.tensor1d([0]), true, 'adamw.b');
    const opt = new AdamW(
      { learningRate: 0.01, weightDecay: 0 },
      { learningRateScale: (v) => (v === b ? 16 : 1) },
    );
    const g = tf.tensor1d([1]);
    opt.applyGradients([
      [a, g],
      [b, g],
    ]);
    // First Adam step moves each weight by (almost exactly) its learning rate.
    expect(values(a)[0]).toBeCloseTo(-0.01, 6);
    expect(values(b)[0]).toBeCloseTo(-0.16, 6);
    tf.dispose([a, b, g]);
    opt.dispose();
  });

  it('clips the global gradient norm before updating', () => {
    const w = tf.variable(tf.tensor1d([0, 0]), true, 'adamw.clip');
    // With clipping to 1 a [3, 4] gradient becomes [0.6, 0.8]; Adam's first step is sign-like, so compare moments.
    const opt = new AdamW({ learningRate: 0.1, weightDecay: 0, clipNorm: 1 });
    const g = tf.tensor1d([3, 4]);
    opt.applyGradients([[w, g]]);
    const state = opt.exportState();
    expect(Array.from(state.get('adamw/m/adamw.clip')!.dataSync()).map((x) => x / 0.1)).toEqual([
      expect.closeTo(0.6, 5),
      expect.closeTo(0.8, 5),
    ]);
    tf.dispose([...state.values(), w, g]);
    opt.dispose();
  });

  it('exports and imports its state so a restarted optimizer continues identically', () => {
    const run = (restartAfter: number | null): number[] => {
      // Built inside tidy so the initial-value tensor is freed (the variable keeps its own reference).
      const w = tf.tidy(() => tf.variable(tf.tensor1d([1, -1, 0.5]), true, 'adamw.restart'));
      let opt = new AdamW({ learningRate: 0.05 });
      for (let s = 0; s < 6; s++) {
        if (s === restartAfter) {
          const state = opt.exportState();
          opt.dispose();
          opt = new AdamW({ learningRate: 0.05 });
          opt.importState(state);
          tf.dispose([...state.values()]);
        }
        const g = tf.tidy(() => tf.sin(tf.mul(w, s + 1)));
        opt.applyGradients([[w, g]]);
        g.dispose();
      }
      const out = values(w);
      w.dispose();
      opt.dispose();
      return out;
    };
    const before = tf.memory().numTensors;
    const straight = run(null);
    expect(run(3)).toEqual(straight);
    expect(tf.memory().numTensors).toBe(before);
    // A fresh optimizer at step 3 (state lost) ends elsewhere: the state matters.
    const lost = (() => {
      const w = tf.variable(tf.tensor1d([1, -1, 0.5]), true, 'adamw.lost');
      let opt = new AdamW({ learningRate: 0.05 });
      for (let s = 0; s < 6; s++) {
        if (s === 3) {
          opt.dispose();
          opt = new AdamW({ learningRate: 0.05 });
        }
        const g = tf.tidy(() => tf.sin(tf.mul(w, s + 1)));
        opt.applyGradients([[w, g]]);
        g.dispose();
      }
      const out = values(w);
      tf.dispose(w);
      opt.dispose();
      return out;
    })();
    expect(lost).not.toEqual(straight);
  });

  it('rejects bad configs and malformed state', () => {
    expect(() => new AdamW({ learningRate: -1 })).toThrow(/learningRate must be > 0/);
    expect(() => new AdamW({ beta1: 1 })).toThrow(/beta1/);
    const opt = new AdamW();
    expect(() => opt.importState(new Map())).toThrow(/no 'adamw\/step'/);
    const bogus = new Map([
      ['adamw/step', tf.scalar(1)],
      ['adamw/m/x', tf.zeros([2])],
    ]);
    expect(() => opt.importState(bogus)).toThrow(/needs m and v/);
    tf.dispose([...bogus.values()]);
  });
});
