/**
 * Generator of docs/signature-vectors.json: one small case per method that derives frozen state, each with
 * the exact inputs a from-scratch implementation needs (model shape, resolved method config, run seed, link,
 * and for PiCa the base kernels its projectors come from) and the signature fedpeft's coordinator computes
 * (`describeMethod`, the code that sets the run's reference). test/reference/signature_reference.py
 * recomputes every case from docs/protocol.md ("Derived-state signatures") alone.
 *
 *   npx tsx test/reference/signature-vectors.ts        # rewrites docs/signature-vectors.json
 *
 * PiCa's base kernels are planted with a geometric spectrum (sigma_i = 2 * 0.6^i), so the top-r singular
 * vectors are well separated and any exact SVD agrees with fedpeft's randomized one to float32 rounding; a
 * base with a flat spectrum has no well-defined top-r vectors for anyone to reproduce.
 */
import { writeFile, rename } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { attachAdapter } from '../../shared/adapters/registry.ts';
import { parametersToHost } from '../../shared/model/checkpoint.ts';
import { createModel, type ZooModel } from '../../shared/model/zoo.ts';
import { describeMethod } from '../../server/method-state.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { tf } from '../../shared/tensor/tf.ts';

export const VECTORS_PATH = fileURLToPath(new URL('../../docs/signature-vectors.json', import.meta.url));

const MODEL = 'test-gpt';
const SEED = 1206;

/** Small shapes: rank 4 on few roles of the 2-layer, 32-wide test model. */
const CASES: ReadonlyArray<{ method: string; config: Record<string, unknown> }> = [
  { method: 'pica', config: { r: 4, roles: ['q', 'v', 'down'] } },
  { method: 'ffa-lora', config: { r: 4, roles: ['q', 'v'] } },
  { method: 'rac-lora', config: { r: 4, roles: ['q', 'v'] } },
  { method: 'losa', config: { r: 4, roles: ['k', 'up'] } },
  { method: 'paca', config: { r: 4, roles: ['q', 'v'] } },
  { method: 'cla', config: { r: 4, roles: ['q', 'v'] } },
  { method: 'random-cla', config: { r: 4, roles: ['q', 'v'] } },
  { method: 'c3la', config: { r: 4, roles: ['q', 'v'] } },
  { method: 'random-c3la', config: { r: 4, roles: ['q', 'v'] } },
];

/** Methods whose derived state depends on the base weights (their cases carry the adapted kernels). */
const BASE_DEPENDENT = new Set(['pica']);

export interface SignatureVectorCase {
  method: string;
  /** The method config as resolved (every default written out). */
  config: Record<string, unknown>;
  link: number;
  /** The derived tensors in signature order. */
  derived: Array<{ name: string; shape: number[]; dtype: string }>;
  /** Kernels `[in, out]` of the adapted layers, float32 little-endian, base64 (base-dependent methods only). */
  baseKernels?: Record<string, { shape: number[]; float32LeBase64: string }>;
  /** The signature: float32 values (exactly representable as JSON numbers). */
  signature: number[];
}

export interface SignatureVectors {
  format: 'fedpeft-signature-vectors/1';
  about: string;
  model: { name: string; layers: number; dModel: number; mlpDim: number };
  seed: number;
  /** The coordinator's default acceptance: max-abs difference <= tolerance * max(1, max|reference|). */
  tolerance: number;
  cases: SignatureVectorCase[];
}

/** Orthonormal vectors (Gram-Schmidt in float64) of length `dim`, `count` of them, from a seeded stream. */
function orthonormal(rng: Rng, dim: number, count: number): Float64Array[] {
  const out: Float64Array[] = [];
  while (out.length < count) {
    const v = Float64Array.from(rng.normalArray(dim));
    for (const u of out) {
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += v[i]! * u[i]!;
      for (let i = 0; i < dim; i++) v[i] = v[i]! - dot * u[i]!;
    }
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm);
    if (norm < 1e-6) continue;
    for (let i = 0; i < dim; i++) v[i] = v[i]! / norm;
    out.push(v);
  }
  return out;
}

/** `K = sum_i sigma_i a_i b_i^T` with `sigma_i = 2 * 0.6^i`: distinct, well separated singular values. */
function plantedKernel(rng: Rng, m: number, n: number): Float32Array {
  const k = Math.min(m, n);
  const a = orthonormal(rng.fork('left'), m, k);
  const b = orthonormal(rng.fork('right'), n, k);
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let s = 0; s < k; s++) acc += 2 * 0.6 ** s * a[s]![i]! * b[s]![j]!;
      out[i * n + j] = acc;
    }
  }
  return out;
}

function base64(data: Float32Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

function plantKernels(
  model: ZooModel,
  roles: readonly string[],
): Record<string, { shape: number[]; float32LeBase64: string }> {
  const kernels: Record<string, { shape: number[]; float32LeBase64: string }> = {};
  const rng = new Rng(SEED).fork('signature-vectors:planted-base');
  for (const linear of model.linears()) {
    if (!roles.includes(linear.role)) continue;
    const [m, n] = linear.kernel.shape;
    const data = plantedKernel(rng.fork(linear.name), m, n);
    linear.kernel.assign(tf.tensor2d(data, [m, n]));
    kernels[linear.name] = { shape: [m, n], float32LeBase64: base64(data) };
  }
  return kernels;
}

function buildCase(method: string, config: Record<string, unknown>): SignatureVectorCase {
  const model = createModel(MODEL, { seed: SEED });
  try {
    const baseKernels = BASE_DEPENDENT.has(method)
      ? plantKernels(model, config.roles as string[])
      : undefined;
    const baseWeights = parametersToHost(model);
    const state = describeMethod({
      model: MODEL,
      modelConfig: {},
      method,
      methodConfig: config,
      seed: SEED,
      baseWeights,
    });
    const adapter = attachAdapter(model, method, config, { seed: SEED });
    try {
      const derived = [...adapter.derived()].map(([name, t]) => ({
        name,
        shape: [...t.shape],
        dtype: t.dtype,
      }));
      return {
        method,
        config: state.methodConfig,
        link: 0,
        derived,
        ...(baseKernels ? { baseKernels } : {}),
        signature: Array.from(state.signature),
      };
    } finally {
      adapter.detach();
    }
  } finally {
    model.dispose();
  }
}

export function buildSignatureVectors(): SignatureVectors {
  const probe = createModel(MODEL, { seed: SEED });
  const config = probe.config as unknown as { layers: number; dModel: number };
  const mlpDim = probe.parameters().get('layers.0.mlp.up.kernel')!.shape[1]!;
  probe.dispose();
  return {
    format: 'fedpeft-signature-vectors/1',
    about:
      'Derived-state signatures (docs/protocol.md, "Derived-state signatures"): for each case, recompute the ' +
      'derived tensors from the seed (and baseKernels), then the signature; generated by ' +
      'test/reference/signature-vectors.ts, checked by test/reference/signature-vectors.test.ts',
    model: { name: MODEL, layers: config.layers, dModel: config.dModel, mlpDim },
    seed: SEED,
    tolerance: 1e-3,
    cases: CASES.map((c) => buildCase(c.method, c.config)),
  };
}

/** The file's text, formatted as the repository's prettier check expects. */
export async function serializeVectors(vectors: SignatureVectors): Promise<string> {
  const options = (await resolveConfig(VECTORS_PATH)) ?? {};
  return format(JSON.stringify(vectors), { ...options, filepath: VECTORS_PATH });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await tf.setBackend('cpu');
  const text = await serializeVectors(buildSignatureVectors());
  await writeFile(`${VECTORS_PATH}.tmp`, text);
  await rename(`${VECTORS_PATH}.tmp`, VECTORS_PATH);
  console.log(`wrote ${VECTORS_PATH}`);
}
