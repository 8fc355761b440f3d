import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../tensor/backend.ts';
import { Llama } from '../model/llama.ts';
import { hostTensor, type HostTensor, type HostTensorMap } from '../tensor/host-tensor.ts';
import { llamaFamily } from './llama-family.ts';
import { buildPeftLora, rankPatternKey, type HostFactors } from './peft-lora.ts';

const D = 4;
const HIDDEN = 6;

let llama: Llama;
beforeAll(async () => {
  await useBackend('cpu');
  // The real model, small: k and v are D/2 wide (one key/value head of two), gate/up HIDDEN wide.
  llama = new Llama(
    { vocabSize: 10, contextLength: 8, dModel: D, layers: 4, heads: 2, kvHeads: 1, intermediateSize: HIDDEN },
    { seed: 1 },
  );
});
afterAll(() => llama.dispose());

function outDim(name: string): number {
  return /\.(gate|up)$/.test(name) ? HIDDEN : /\.(k|v)$/.test(name) ? D / 2 : D;
}

const LINEARS = [
  'layers.0.attn.q',
  'layers.0.attn.k',
  'layers.1.attn.o',
  'layers.1.mlp.gate',
  'layers.0.mlp.down',
];

function inDim(name: string): number {
  return name.endsWith('.down') ? HIDDEN : D;
}

/** `(lora_alpha / r) · lora_B @ lora_A`, PEFT's delta in PyTorch layout `[out, in]`. */
function peftDelta(weights: HostTensorMap, module: string, scale: number): HostTensor {
  const A = weights.get(`base_model.model.${module}.lora_A.weight`)!;
  const B = weights.get(`base_model.model.${module}.lora_B.weight`)!;
  const [r, m] = A.shape as [number, number];
  const n = B.shape[0] as number;
  const out = new Float32Array(n * m);
  for (let o = 0; o < n; o++)
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += B.data[o * r + k]! * A.data[k * m + i]!;
      out[o * m + i] = scale * s;
    }
  return hostTensor([n, m], out);
}

const matrix = (rows: number, cols: number) =>
  fc
    .float32Array({ minLength: rows * cols, maxLength: rows * cols, noNaN: true, min: -4, max: 4 })
    .map((data) =>
      hostTensor(
        [rows, cols],
        Float32Array.from(data, (v) => (Object.is(v, -0) ? 0 : v)),
      ),
    );

/** For each chosen Linear, 1-3 factor pairs (links) of rank 1-2. */
const updatesArb = fc.subarray(LINEARS, { minLength: 1 }).chain((names) =>
  fc
    .tuple(
      ...names.map((name) =>
        fc.array(
          fc
            .integer({ min: 1, max: 2 })
            .chain((r) => fc.record({ P: matrix(inDim(name), r), Q: matrix(r, outDim(name)) })),
          { minLength: 1, maxLength: 3 },
        ),
      ),
    )
    .map((lists) => new Map(names.map((n, i) => [n, lists[i]!] as [string, HostFactors[]]))),
);

describe('buildPeftLora (Llama descriptor)', () => {
  it("PEFT's rule on the written tensors gives back the sum of every link's P Q, transposed to [out, in]", () => {
    fc.assert(
      fc.property(updatesArb, (updates) => {
        const family = llamaFamily;
        const { weights, config, ranks } = buildPeftLora(family, llama, updates, 'base');
        expect(config.fan_in_fan_out).toBe(false);
        const rankPattern = config.rank_pattern as Record<string, number>;
        for (const [linear, pieces] of updates) {
          const module = family.moduleOf(linear, llama).module;
          const rank = pieces.reduce((s, p) => s + p.P.shape[1]!, 0);
          expect(ranks.get(module)).toBe(rank);
          const r = rankPattern[rankPatternKey(module)] ?? (config.r as number);
          const alpha =
            (config.alpha_pattern as Record<string, number>)[rankPatternKey(module)] ??
            (config.lora_alpha as number);
          expect(r).toBe(rank);
          const delta = peftDelta(weights, module, alpha / r);
          const [m, n] = [pieces[0]!.P.shape[0]!, pieces[0]!.Q.shape[1]!];
          for (let i = 0; i < m; i++)
            for (let o = 0; o < n; o++) {
              let expected = 0;
              for (const { P, Q } of pieces) {
                const k = P.shape[1]!;
                for (let j = 0; j < k; j++) expected += P.data[i * k + j]! * Q.data[j * n + o]!;
              }
              expect(Math.abs(delta.data[o * m + i]! - expected)).toBeLessThan(
                1e-3 * (1 + Math.abs(expected)),
              );
            }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('maps fedpeft layers to LlamaForCausalLM module names', () => {
    expect(llamaFamily.moduleOf('layers.3.attn.k', llama).module).toBe('model.layers.3.self_attn.k_proj');
    expect(llamaFamily.moduleOf('layers.0.mlp.gate', llama).module).toBe('model.layers.0.mlp.gate_proj');
    expect(llamaFamily.moduleOf('head', llama).module).toBe('lm_head');
    expect(() => llamaFamily.moduleOf('layers.0.ln1', llama)).toThrow(/no Llama module/);
    expect(llamaFamily.config(llama)).toMatchObject({ model_type: 'llama', num_key_value_heads: 1 });
    expect(llamaFamily.moduleOf('layers.2.attn.v', llama).moduleOut).toBe(D / 2);
  });

  it('rank_pattern keys match their module and no other under both PEFT matching rules', () => {
    const key = rankPatternKey('model.layers.1.self_attn.q_proj');
    const modern = (name: string) => new RegExp(`(.*\\.)?(${key})$`).test(name);
    const legacy = (name: string) => new RegExp(`.*\\.${key}$`).test(name);
    for (const match of [modern, legacy]) {
      expect(match('model.layers.1.self_attn.q_proj')).toBe(true);
      expect(match('model.layers.11.self_attn.q_proj')).toBe(false);
      expect(match('model.layers.1.self_attn.k_proj')).toBe(false);
    }
  });
});
