/**
 * The Llama on the cpu reference backend and on wasm: step-0 logits, loss and every parameter's gradient
 * agree — the fused RMSNorm/RoPE/SwiGLU ops and the GQA broadcast run on wasm's kernels here.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { Llama } from './llama.ts';

interface Snapshot {
  loss: number;
  logits: Float32Array;
  grads: Map<string, Float32Array>;
}

const CONFIG = {
  vocabSize: 64,
  contextLength: 16,
  dModel: 16,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediateSize: 24,
  qkvBias: true,
};

function run(): Snapshot {
  const rng = new Rng(21);
  const rows = 3;
  const time = 12;
  const tokens = Array.from({ length: rows * (time + 1) }, () => rng.int(CONFIG.vocabSize));
  const inputs = tf.tensor2d(
    Array.from({ length: rows }, (_, r) => tokens.slice(r * (time + 1), r * (time + 1) + time)),
    [rows, time],
    'int32',
  );
  const targets = tf.tensor2d(
    Array.from({ length: rows }, (_, r) => tokens.slice(r * (time + 1) + 1, (r + 1) * (time + 1))),
    [rows, time],
    'int32',
  );
  const m = new Llama(CONFIG, { seed: 17 });
  const logits = tf.tidy(() => m.logits(inputs).dataSync<'float32'>().slice());
  m.setBaseTrainable(true);
  const params = m.parameters();
  const { value, grads } = tf.variableGrads(() => m.loss({ inputs, targets }), [...params.values()]);
  const out: Snapshot = { loss: value.dataSync()[0]!, logits, grads: new Map() };
  for (const [name, v] of params) out.grads.set(name, grads[v.name]!.dataSync<'float32'>().slice());
  tf.dispose([value, inputs, targets, ...Object.values(grads).filter((g): g is tf.Tensor => g !== null)]);
  m.dispose();
  return out;
}

function maxAbs(a: Float32Array): number {
  return a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

describe('Llama on cpu vs wasm', () => {
  it('agrees on step-0 logits, loss and gradients', async () => {
    await useBackend('cpu');
    const cpu = run();
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const wasm = run();
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(cpu.loss - wasm.loss)).toBeLessThan(1e-5);
    const logitDiff = maxAbs(cpu.logits.map((x, i) => x - wasm.logits[i]!));
    expect(logitDiff).toBeLessThan(1e-4);
    expect(cpu.grads.size).toBe(1 + 2 * (2 + 7 + 3) + 1 + 1);
    for (const [name, g] of cpu.grads) {
      const w = wasm.grads.get(name)!;
      const scale = Math.max(maxAbs(g), 1e-6);
      expect(maxAbs(g.map((x, i) => x - w[i]!)) / scale, name).toBeLessThan(1e-3);
      expect(maxAbs(g), `${name} has a nonzero gradient`).toBeGreaterThan(0);
    }
  });
});
