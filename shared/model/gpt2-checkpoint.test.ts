import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import type { HostTensor, HostTensorMap } from '../tensor/host-tensor.ts';
import { Gpt } from './gpt.ts';
import { serializeSafetensors } from './safetensors.ts';
import { gptFromGpt2Tensors, loadGpt2Checkpoint, saveGpt2Checkpoint } from './gpt2-checkpoint.ts';

const V = 11;
const CTX = 6;
const D = 8;
const HEADS = 2;
const HIDDEN = 4 * D;

/** A random 1-layer GPT-2 checkpoint in Hugging Face naming (with the `transformer.` prefix). */
function handBuilt(seed: number): HostTensorMap {
  const rng = new Rng(seed);
  const t = (shape: number[], std = 0.3, mean = 0): HostTensor => ({
    shape,
    data: rng.normalArray(
      shape.reduce((a, b) => a * b, 1),
      std,
      mean,
    ),
  });
  return new Map([
    ['transformer.wte.weight', t([V, D])],
    ['transformer.wpe.weight', t([CTX, D])],
    ['transformer.h.0.ln_1.weight', t([D], 0.2, 1)],
    ['transformer.h.0.ln_1.bias', t([D], 0.1)],
    ['transformer.h.0.attn.c_attn.weight', t([D, 3 * D])],
    ['transformer.h.0.attn.c_attn.bias', t([3 * D], 0.1)],
    ['transformer.h.0.attn.c_proj.weight', t([D, D])],
    ['transformer.h.0.attn.c_proj.bias', t([D], 0.1)],
    ['transformer.h.0.ln_2.weight', t([D], 0.2, 1)],
    ['transformer.h.0.ln_2.bias', t([D], 0.1)],
    ['transformer.h.0.mlp.c_fc.weight', t([D, HIDDEN])],
    ['transformer.h.0.mlp.c_fc.bias', t([HIDDEN], 0.1)],
    ['transformer.h.0.mlp.c_proj.weight', t([HIDDEN, D])],
    ['transformer.h.0.mlp.c_proj.bias', t([D], 0.1)],
    ['transformer.ln_f.weight', t([D], 0.2, 1)],
    ['transformer.ln_f.bias', t([D], 0.1)],
    // The causal-mask buffer older checkpoints carry; the loader must ignore it.
    ['transformer.h.0.attn.bias', t([1, 1, CTX, CTX])],
  ]);
}

// ---- An independent float64 reference forward of GPT-2 (1 block, tied head), written from the paper/HF code.
type Mat = number[][];
const W = (m: HostTensorMap, name: string): Mat => {
  const t = m.get(`transformer.${name}`)!;
  const [r, c] = t.shape.length === 2 ? (t.shape as [number, number]) : [1, t.shape[0]!];
  return Array.from({ length: r }, (_, i) => Array.from(t.data.subarray(i * c, (i + 1) * c), Number));
};
const vec = (m: HostTensorMap, name: string): number[] => W(m, name)[0]!;
const matmul = (a: Mat, b: Mat): Mat =>
  a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
const addRow = (a: Mat, b: number[]): Mat => a.map((row) => row.map((x, j) => x + b[j]!));
const add = (a: Mat, b: Mat): Mat => a.map((row, i) => row.map((x, j) => x + b[i]![j]!));
const ln = (a: Mat, g: number[], b: number[]): Mat =>
  a.map((row) => {
    const mean = row.reduce((s, x) => s + x, 0) / row.length;
    const variance = row.reduce((s, x) => s + (x - mean) ** 2, 0) / row.length;
    return row.map((x, j) => ((x - mean) / Math.sqrt(variance + 1e-5)) * g[j]! + b[j]!);
  });
const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

function referenceLogits(m: HostTensorMap, ids: number[]): Mat {
  const wte = W(m, 'wte.weight');
  const wpe = W(m, 'wpe.weight');
  const T = ids.length;
  let h: Mat = ids.map((id, t) => wte[id]!.map((x, j) => x + wpe[t]![j]!));
  const a = ln(h, vec(m, 'h.0.ln_1.weight'), vec(m, 'h.0.ln_1.bias'));
  const qkv = addRow(matmul(a, W(m, 'h.0.attn.c_attn.weight')), vec(m, 'h.0.attn.c_attn.bias'));
  const hd = D / HEADS;
  const merged: Mat = Array.from({ length: T }, () => new Array<number>(D).fill(0));
  for (let head = 0; head < HEADS; head++) {
    const q = (t: number, j: number) => qkv[t]![head * hd + j]!;
    const k = (t: number, j: number) => qkv[t]![D + head * hd + j]!;
    const v = (t: number, j: number) => qkv[t]![2 * D + head * hd + j]!;
    for (let t = 0; t < T; t++) {
      const scores = Array.from({ length: t + 1 }, (_, s) => {
        let dot = 0;
        for (let j = 0; j < hd; j++) dot += q(t, j) * k(s, j);
        return dot / Math.sqrt(hd);
      });
      const max = Math.max(...scores);
      const e = scores.map((x) => Math.exp(x - max));
      const z = e.reduce((s, x) => s + x, 0);
      for (let j = 0; j < hd; j++)
        merged[t]![head * hd + j] = e.reduce((s, p, u) => s + (p / z) * v(u, j), 0);
    }
  }
  h = add(h, addRow(matmul(merged, W(m, 'h.0.attn.c_proj.weight')), vec(m, 'h.0.attn.c_proj.bias')));
  const mm = ln(h, vec(m, 'h.0.ln_2.weight'), vec(m, 'h.0.ln_2.bias'));
  const up = addRow(matmul(mm, W(m, 'h.0.mlp.c_fc.weight')), vec(m, 'h.0.mlp.c_fc.bias')).map((r) =>
    r.map(geluNew),
  );
  h = add(h, addRow(matmul(up, W(m, 'h.0.mlp.c_proj.weight')), vec(m, 'h.0.mlp.c_proj.bias')));
  const hf = ln(h, vec(m, 'ln_f.weight'), vec(m, 'ln_f.bias'));
  return hf.map((row) => wte.map((e) => e.reduce((s, x, j) => s + x * row[j]!, 0)));
}

function logitsOf(model: Gpt, ids: number[]): number[][] {
  return tf.tidy(() => model.logits(tf.tensor2d([ids], [1, ids.length], 'int32')).arraySync()[0]!);
}

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'fedpeft-gpt2-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('GPT-2 checkpoints', () => {
  const ids = [3, 10, 0, 7, 7, 2];

  it('loads a hand-built checkpoint whose forward matches an independent float64 reference to 1e-4', async () => {
    const tensors = handBuilt(1);
    const path = join(dir, 'ref');
    await rm(path, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(path));
    await writeFile(join(path, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
    await writeFile(
      join(path, 'config.json'),
      JSON.stringify({ n_head: HEADS, activation_function: 'gelu_new' }),
    );
    const expected = referenceLogits(tensors, ids);
    for (const tiedHead of [false, true]) {
      const model = await loadGpt2Checkpoint(path, { tiedHead });
      expect(model.config).toMatchObject({
        vocabSize: V,
        contextLength: CTX,
        dModel: D,
        layers: 1,
        heads: HEADS,
      });
      const got = logitsOf(model, ids);
      let maxDiff = 0;
      got.forEach((row, t) =>
        row.forEach((x, v) => (maxDiff = Math.max(maxDiff, Math.abs(x - expected[t]![v]!)))),
      );
      expect(maxDiff).toBeLessThan(1e-4);
      model.dispose();
    }
    // A different checkpoint gives different logits (the comparison can fail).
    const other = gptFromGpt2Tensors(handBuilt(2), { heads: HEADS });
    expect(Math.abs(logitsOf(other, ids)[0]![0]! - expected[0]![0]!)).toBeGreaterThan(1e-3);
    other.dispose();
  });

  it('round-trips a 2-layer model through save/load with identical logits (tied and untied)', async () => {
    for (const tiedHead of [false, true]) {
      const model = new Gpt(
        { vocabSize: 20, contextLength: 8, dModel: 16, layers: 2, heads: 4, tiedHead },
        { seed: 5 },
      );
      const path = join(dir, `rt-${tiedHead}`);
      await saveGpt2Checkpoint(path, model);
      const back = await loadGpt2Checkpoint(path, { tiedHead });
      expect(logitsOf(back, [1, 2, 3, 19, 0])).toEqual(logitsOf(model, [1, 2, 3, 19, 0]));
      expect(back.config.heads).toBe(4);
      model.dispose();
      back.dispose();
    }
  });

  it('explains what is wrong with a checkpoint it cannot load', async () => {
    const tensors = handBuilt(3);
    expect(() => gptFromGpt2Tensors(tensors)).toThrow(/number of attention heads/);
    const missing = new Map(tensors);
    missing.delete('transformer.h.0.mlp.c_proj.bias');
    expect(() => gptFromGpt2Tensors(missing, { heads: 2 })).toThrow(/missing tensor 'h.0.mlp.c_proj.bias'/);
    const extra = new Map(tensors).set('h.0.attn.rotary', { shape: [1], data: new Float32Array(1) });
    expect(() => gptFromGpt2Tensors(extra, { heads: 2 })).toThrow(/unexpected tensors.*rotary/);
    const file = join(dir, 'alone.safetensors');
    await writeFile(file, serializeSafetensors(tensors));
    await expect(loadGpt2Checkpoint(file)).rejects.toThrow(/pass heads or a config.json/);
    const model = await loadGpt2Checkpoint(file, { heads: 2 });
    model.dispose();
  });
});
