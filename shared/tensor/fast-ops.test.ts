import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf } from './tf.ts';
import { useBackend } from './backend.ts';
import { Rng } from './rng.ts';
import { embedding, freezeKernel, frozenLinear, linear, matMul } from './fast-ops.ts';

/** max |got - want| over max |want|. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs((got[i] as number) - (want[i] as number)));
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  return scale === 0 ? diff : diff / scale;
}

/** A trainable variable that owns its initial value (tf.variable keeps the tensor it was given alive). */
function variable(init: tf.Tensor, name: string): tf.Variable {
  const v = tf.variable(init, true, name);
  init.dispose();
  return v;
}

const host = (ts: tf.Tensor[]): Float32Array[] => ts.map((t) => t.dataSync() as Float32Array);

interface MatMulCase {
  m: number;
  k: number;
  n: number;
  a: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  bias: Float32Array;
}

function matMulCase(m: number, k: number, n: number, seed: number): MatMulCase {
  const rng = new Rng(seed);
  return {
    m,
    k,
    n,
    a: rng.normalArray(m * k),
    b: rng.normalArray(k * n),
    dy: rng.normalArray(m * n),
    bias: rng.normalArray(n),
  };
}

/** `[y, dA, dB]` of `a @ b` under an upstream gradient `dy`, with the fast op or the built-in one. */
function matMulGrads(c: MatMulCase, op: 'fast' | 'builtin'): Float32Array[] {
  return tf.tidy(() => {
    const a = tf.tensor2d(c.a, [c.m, c.k]);
    const b = tf.tensor2d(c.b, [c.k, c.n]);
    const dy = tf.tensor2d(c.dy, [c.m, c.n]);
    const f = (x: tf.Tensor, w: tf.Tensor): tf.Tensor =>
      op === 'fast' ? matMul(x as tf.Tensor2D, w as tf.Tensor2D) : tf.matMul(x, w);
    const [da, db] = tf.grads(f)([a, b], dy);
    return host([f(a, b), da as tf.Tensor, db as tf.Tensor]);
  });
}

/** `[y, dx]` of `x @ K + bias` for a frozen K, with the fast op or the built-in one. */
function frozenLinearGrads(c: MatMulCase, op: 'fast' | 'builtin'): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor2d(c.a, [c.m, c.k]);
    const kernel = tf.tensor2d(c.b, [c.k, c.n]);
    const bias = tf.tensor1d(c.bias);
    const dy = tf.tensor2d(c.dy, [c.m, c.n]);
    const frozen = freezeKernel(kernel);
    const f = (input: tf.Tensor): tf.Tensor =>
      op === 'fast'
        ? frozenLinear(input as tf.Tensor2D, frozen, bias)
        : tf.add(tf.matMul(input, kernel), bias);
    const out = host([f(x), tf.grad(f)(x, dy)]);
    frozen.kernelT.dispose();
    return out;
  });
}

interface EmbeddingCase {
  vocab: number;
  dim: number;
  ids: Int32Array;
  table: Float32Array;
  dy: Float32Array;
}

function embeddingCase(vocab: number, dim: number, count: number, seed: number): EmbeddingCase {
  const rng = new Rng(seed);
  // Repeated ids are the interesting case: their gradients must add up.
  const ids = Int32Array.from({ length: count }, () => rng.int(vocab));
  return { vocab, dim, ids, table: rng.normalArray(vocab * dim), dy: rng.normalArray(count * dim) };
}

/** `[rows, dTable]` of a row lookup, with the fast op or the built-in `gather`. */
function embeddingGrads(c: EmbeddingCase, op: 'fast' | 'builtin'): Float32Array[] {
  return tf.tidy(() => {
    const ids = tf.tensor1d(c.ids, 'int32');
    const table = tf.tensor2d(c.table, [c.vocab, c.dim]);
    const dy = tf.tensor2d(c.dy, [c.ids.length, c.dim]);
    const f = (t: tf.Tensor): tf.Tensor =>
      op === 'fast' ? embedding(ids, t as tf.Tensor2D) : tf.gather(t, ids);
    return host([f(table), tf.grad(f)(table, dy)]);
  });
}

const MATMUL_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 33, 9],
  [64, 48, 32],
];

describe('fast ops: gradients equal the built-in ones on cpu', () => {
  it('matMul: forward, dA and dB to 1e-6 relative', async () => {
    await useBackend('cpu');
    for (const [i, [m, k, n]] of MATMUL_SHAPES.entries()) {
      const c = matMulCase(m, k, n, i + 1);
      const fast = matMulGrads(c, 'fast');
      const builtin = matMulGrads(c, 'builtin');
      for (let j = 0; j < 3; j++)
        expect(relErr(fast[j]!, builtin[j]!), `${m}x${k}x${n} #${j}`).toBeLessThan(1e-6);
    }
  });

  it('matMul: property over random shapes', async () => {
    await useBackend('cpu');
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (m, k, n, seed) => {
          const c = matMulCase(m, k, n, seed);
          const fast = matMulGrads(c, 'fast');
          const builtin = matMulGrads(c, 'builtin');
          return fast.every((f, j) => relErr(f, builtin[j]!) < 1e-6);
        },
      ),
      { numRuns: 40, seed: 11 },
    );
  });

  it('frozenLinear: forward and dx to 1e-6 relative', async () => {
    await useBackend('cpu');
    for (const [i, [m, k, n]] of MATMUL_SHAPES.entries()) {
      const c = matMulCase(m, k, n, 50 + i);
      const fast = frozenLinearGrads(c, 'fast');
      const builtin = frozenLinearGrads(c, 'builtin');
      for (let j = 0; j < 2; j++)
        expect(relErr(fast[j]!, builtin[j]!), `${m}x${k}x${n} #${j}`).toBeLessThan(1e-6);
    }
  });

  it('embedding: rows and the table gradient (repeated ids accumulate) to 1e-6 relative', async () => {
    await useBackend('cpu');
    for (const [i, [vocab, dim, count]] of [
      [5, 3, 12],
      [50, 16, 40],
      [257, 8, 100],
    ].entries()) {
      const c = embeddingCase(vocab!, dim!, count!, 80 + i);
      const fast = embeddingGrads(c, 'fast');
      const builtin = embeddingGrads(c, 'builtin');
      for (let j = 0; j < 2; j++)
        expect(relErr(fast[j]!, builtin[j]!), `${vocab}/${dim}/${count} #${j}`).toBeLessThan(1e-6);
    }
  });
});

describe('fast ops: wasm agrees with cpu', () => {
  it('matMul, frozenLinear and embedding, values and gradients', async () => {
    const mm = matMulCase(37, 29, 41, 7);
    const emb = embeddingCase(97, 12, 64, 8);
    const run = (): Float32Array[] => [
      ...matMulGrads(mm, 'fast'),
      ...frozenLinearGrads(mm, 'fast'),
      ...embeddingGrads(emb, 'fast'),
    ];
    await useBackend('cpu');
    const onCpu = run();
    await useBackend('wasm');
    const onWasm = run();
    // Reference for the embedding gradient on wasm is cpu's built-in gather gradient (wasm lacks its kernel).
    await useBackend('cpu');
    const builtinEmbedding = embeddingGrads(emb, 'builtin')[1]!;
    for (let j = 0; j < onCpu.length; j++)
      expect(relErr(onWasm[j]!, onCpu[j]!), `output ${j}`).toBeLessThan(1e-5);
    expect(relErr(onWasm[onWasm.length - 1]!, builtinEmbedding)).toBeLessThan(1e-5);
  });
});

describe('frozenLinear', () => {
  it('yields no gradient for K or its bias, even when they are trainable variables', async () => {
    await useBackend('cpu');
    const rng = new Rng(21);
    const kernel = variable(rng.normalTensor([6, 4]), 'frozen.K');
    const bias = variable(rng.normalTensor([4]), 'frozen.bias');
    const w = variable(rng.normalTensor([5, 6]), 'trained.W');
    const x = rng.normalTensor([3, 5]) as tf.Tensor2D;
    const frozen = freezeKernel(kernel as tf.Tensor2D);
    const vars = [kernel, bias, w];

    const fast = tf.variableGrads(
      () => tf.sum(frozenLinear(matMul(x, w as tf.Tensor2D), frozen, bias as tf.Tensor1D)),
      vars,
    );
    expect(Object.keys(fast.grads).sort()).toEqual(['trained.W']);
    // Control: the same graph with the built-in ops does produce gradients for K and the bias.
    const builtin = tf.variableGrads(() => tf.sum(tf.add(tf.matMul(tf.matMul(x, w), kernel), bias)), vars);
    expect(Object.keys(builtin.grads).sort()).toEqual(['frozen.K', 'frozen.bias', 'trained.W']);
    expect(relErr(fast.grads['trained.W']!.dataSync(), builtin.grads['trained.W']!.dataSync())).toBeLessThan(
      1e-6,
    );

    tf.dispose([fast.value, builtin.value, ...Object.values(fast.grads), ...Object.values(builtin.grads)]);
    tf.dispose([kernel, bias, w, x, frozen.kernelT]);
  });
});

/**
 * A small classifier built only from the fast ops: a trainable embedding, a trainable dense layer, a frozen
 * base layer with a LoRA-style adapter (trainable A, B) beside it, and a trainable head. Every random number
 * comes from the seeded Rng, so cpu and wasm start from identical weights and see identical batches.
 */
class TinyLoraMlp {
  readonly table: tf.Variable;
  readonly w1: tf.Variable;
  readonly b1: tf.Variable;
  readonly frozen: ReturnType<typeof freezeKernel>;
  readonly loraA: tf.Variable;
  readonly loraB: tf.Variable;
  readonly head: tf.Variable;
  private readonly baseKernel: tf.Tensor2D;

  constructor(seed: number, vocab: number, dim: number, hidden: number, rank: number, classes: number) {
    const rng = new Rng(seed);
    this.table = variable(rng.fork('table').normalTensor([vocab, dim], 0.5), 'table');
    this.w1 = variable(rng.fork('w1').normalTensor([dim, hidden], 1 / Math.sqrt(dim)), 'w1');
    this.b1 = variable(tf.zeros([hidden]), 'b1');
    this.baseKernel = rng.fork('base').normalTensor([hidden, hidden], 1 / Math.sqrt(hidden)) as tf.Tensor2D;
    this.frozen = freezeKernel(this.baseKernel);
    this.loraA = variable(rng.fork('A').normalTensor([hidden, rank], 1 / Math.sqrt(hidden)), 'A');
    // B starts at zero, as every adapter's output side does; A then gets no gradient at step 0, B does.
    this.loraB = variable(tf.zeros([rank, hidden]), 'B');
    this.head = variable(rng.fork('head').normalTensor([hidden, classes], 1 / Math.sqrt(hidden)), 'head');
  }

  loss(ids: tf.Tensor1D, targets: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => {
      const e = embedding(ids, this.table as tf.Tensor2D);
      const h = tf.relu(linear(e, this.w1 as tf.Tensor2D, this.b1 as tf.Tensor1D));
      const base = frozenLinear(h, this.frozen);
      const adapter = matMul(matMul(h, this.loraA as tf.Tensor2D), this.loraB as tf.Tensor2D);
      const h2 = tf.relu(tf.add(base, adapter)) as tf.Tensor2D;
      const logits = matMul(h2, this.head as tf.Tensor2D);
      return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar;
    });
  }

  trainable(): tf.Variable[] {
    return [this.table, this.w1, this.b1, this.loraA, this.loraB, this.head];
  }

  dispose(): void {
    tf.dispose([...this.trainable(), this.baseKernel, this.frozen.kernelT]);
  }
}

/** Fixed batches: the label is a function of the ids, so the loss can fall well below chance. */
function makeBatches(seed: number, count: number, batch: number, vocab: number, classes: number) {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const ids = Int32Array.from({ length: batch }, () => rng.int(vocab));
    const targets = new Float32Array(batch * classes);
    ids.forEach((id, i) => (targets[i * classes + (id % classes)] = 1));
    return { ids, targets };
  });
}

/** Train with plain SGD; returns the loss of every step and the tensor count after every step. */
function train(steps: number): { losses: number[]; tensorCounts: number[] } {
  const [vocab, dim, hidden, rank, classes, batch] = [40, 16, 32, 4, 5, 32];
  const model = new TinyLoraMlp(1234, vocab, dim, hidden, rank, classes);
  const batches = makeBatches(99, 4, batch, vocab, classes);
  const optimizer = tf.train.sgd(0.5);
  const losses: number[] = [];
  const tensorCounts: number[] = [];
  for (let s = 0; s < steps; s++) {
    const { ids, targets } = batches[s % batches.length]!;
    const idsT = tf.tensor1d(ids, 'int32');
    const targetsT = tf.tensor2d(targets, [batch, classes]);
    const loss = optimizer.minimize(() => model.loss(idsT, targetsT), true, model.trainable())!;
    losses.push(loss.dataSync()[0]!);
    tf.dispose([loss, idsT, targetsT]);
    tensorCounts.push(tf.memory().numTensors);
  }
  optimizer.dispose();
  model.dispose();
  return { losses, tensorCounts };
}

describe('an MLP with a LoRA adapter built from the fast ops', () => {
  it('trains on cpu and on wasm to the same losses (same seed, 40 steps), without leaking tensors', async () => {
    await useBackend('cpu');
    const before = tf.memory().numTensors;
    const cpu = train(40);
    expect(tf.memory().numTensors).toBe(before);
    await useBackend('wasm');
    const wasm = train(40);

    // It learns: the loss falls far below chance (ln 5 = 1.61).
    expect(cpu.losses[0]!).toBeGreaterThan(1.2);
    expect(cpu.losses.at(-1)!).toBeLessThan(0.5 * cpu.losses[0]!);
    // Same trajectory on both backends, step by step.
    for (let s = 0; s < cpu.losses.length; s++) {
      expect(Math.abs(wasm.losses[s]! - cpu.losses[s]!), `step ${s}`).toBeLessThan(
        1e-3 * Math.max(1, cpu.losses[s]!),
      );
    }
    // Flat tensor count across steps (the optimizer creates its state on the first step only).
    for (const r of [cpu, wasm]) expect(new Set(r.tensorCounts.slice(1)).size).toBe(1);
  });
});
