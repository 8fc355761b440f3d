import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import { halfToFloat } from '../safetensors.ts';
import { assignParameters, parametersToHost } from '../parameters.ts';
import { Gpt } from '../gpt.ts';
import { Llama, type LlamaConfigInput } from '../llama.ts';
import { gpt2ConfigFor, gpt2TensorsFromGpt } from '../gpt2-checkpoint.ts';
import { hfConfigFromLlama } from './config-schema.ts';
import { llamaToHfTensors } from './to-hf-tensors.ts';
import { loadHfFolder, readHfFolder } from './load-folder.ts';
import { float32ToHalfBits } from '../../wire/float16.ts';
import { floatToBfloat16, writeHfFolder, type FixtureDtype } from './testing/write-hf-folder.ts';

let root: string;
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fedpeft-hf-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const IDS = [[3, 17, 5, 40, 2, 9]];
function logits(m: Gpt | Llama): Float32Array {
  return tf.tidy(() =>
    m
      .logits(tf.tensor2d(IDS, [1, 6], 'int32'))
      .dataSync<'float32'>()
      .slice(),
  );
}
function maxDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
}
const round: Record<FixtureDtype, (v: number) => number> = {
  F32: (v) => v,
  F16: (v) => halfToFloat(float32ToHalfBits(v)),
  BF16: (v) => new Float32Array(new Uint32Array([floatToBfloat16(v) << 16]).buffer)[0]!,
};
/** The same model with its weights rounded as the file stores them: the exact reference for a 16-bit folder. */
function rounded<M extends Gpt | Llama>(model: M, fresh: M, dtype: FixtureDtype): M {
  const host = parametersToHost(model);
  for (const t of host.values()) t.data = t.data.map(round[dtype]);
  assignParameters(fresh, host);
  return fresh;
}

const LLAMA: LlamaConfigInput = {
  vocabSize: 48,
  contextLength: 16,
  dModel: 16,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediateSize: 24,
  rmsNormEps: 1e-6,
  ropeTheta: 500000,
};

describe('Hugging Face folders', () => {
  for (const [name, extra, dtype, shards] of [
    ['llama', {}, 'F32', 1],
    ['llama, tied, sharded in 3, bf16', { tiedHead: true }, 'BF16', 3],
    ['qwen2 (q/k/v biases), fp16', { qkvBias: true }, 'F16', 1],
  ] as const) {
    it(`imports a ${name} folder with logits equal to fedpeft's own model`, async () => {
      const source = new Llama({ ...LLAMA, ...extra }, { seed: 11 });
      // Nonzero biases and norms, so a mix-up of any of them shows in the logits.
      const host = parametersToHost(source);
      for (const [n, t] of host)
        if (/bias|gamma/.test(n)) t.data = t.data.map((_, i) => 0.9 + 0.05 * ((i * 7) % 5));
      assignParameters(source, host);
      const dir = join(root, name.replace(/\W+/g, '-'));
      const config = hfConfigFromLlama(source.config);
      await writeHfFolder(dir, { config, tensors: llamaToHfTensors(source), dtype, shards });
      const folder = await readHfFolder(dir);
      expect(folder.family).toBe('qkvBias' in extra ? 'qwen2' : 'llama');
      expect(folder.weightFiles).toHaveLength(shards);
      const loaded = (await loadHfFolder(dir)) as Llama;
      expect(loaded).toBeInstanceOf(Llama);
      expect(loaded.config).toEqual(source.config);
      const reference = rounded(source, new Llama(source.config, { seed: 0, initialize: false }), dtype);
      expect(maxDiff(logits(loaded), logits(reference))).toBeLessThan(1e-5);
      // And the 16-bit rounding itself is small next to the logits.
      if (dtype !== 'F32') expect(maxDiff(logits(loaded), logits(source))).toBeLessThan(0.1);
      tf.dispose([]);
      [source, loaded, reference].forEach((m) => m.dispose());
    });
  }

  it('imports a gpt2 folder (fp16, tied head) through the GPT-2 loader', async () => {
    const source = new Gpt(
      { vocabSize: 48, contextLength: 16, dModel: 16, layers: 2, heads: 2, tiedHead: true },
      { seed: 2 },
    );
    const dir = join(root, 'gpt2');
    await writeHfFolder(dir, {
      config: gpt2ConfigFor(source),
      tensors: new Map([...gpt2TensorsFromGpt(source)].map(([n, t]) => [`transformer.${n}`, t])),
      dtype: 'F16',
    });
    const loaded = (await loadHfFolder(dir)) as Gpt;
    expect(loaded).toBeInstanceOf(Gpt);
    const reference = rounded(source, new Gpt(source.config, { seed: 0, initialize: false }), 'F16');
    expect(maxDiff(logits(loaded), logits(reference))).toBeLessThan(1e-5);
    [source, loaded, reference].forEach((m) => m.dispose());
  });

  it('names what it cannot load: model_type, rope_scaling, sliding windows, foreign tensors, escaping shards', async () => {
    const source = new Llama(LLAMA, { seed: 1 });
    const tensors = llamaToHfTensors(source);
    const base = hfConfigFromLlama(source.config);
    const attempt = async (name: string, config: Record<string, unknown>, extra?: () => Promise<void>) => {
      const dir = join(root, name);
      await writeHfFolder(dir, { config, tensors });
      await extra?.();
      return loadHfFolder(dir);
    };
    await expect(attempt('t5', { ...base, model_type: 't5' })).rejects.toThrow(
      /model_type 't5' is not supported/,
    );
    await expect(
      attempt('rs', { ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } }),
    ).rejects.toThrow(/rope_scaling is not supported/);
    await expect(attempt('act', { ...base, hidden_act: 'gelu' })).rejects.toThrow(/hidden_act/);
    await expect(attempt('missing', { ...base, num_hidden_layers: 3 })).rejects.toThrow(
      /missing tensor 'model.layers.2.input_layernorm.weight'/,
    );
    await expect(attempt('extra', { ...base, num_hidden_layers: 1 })).rejects.toThrow(
      /does not use: model\.layers\.1/,
    );
    const escape = join(root, 'escape');
    await expect(
      attempt('escape', base, async () => {
        await rm(join(escape, 'model.safetensors'));
        await writeFile(
          join(escape, 'model.safetensors.index.json'),
          JSON.stringify({ weight_map: { a: '../x.safetensors' } }),
        );
      }),
    ).rejects.toThrow(/not a \.safetensors file in this folder/);
    source.dispose();
  });
});
