/**
 * Hugging Face GPT-2 checkpoints <-> the fedpeft GPT.
 *
 * GPT-2 names (with or without a `transformer.` prefix): `wte`, `wpe`, `h.N.ln_1`, `h.N.attn.c_attn` (q,k,v
 * fused along the output axis), `h.N.attn.c_proj`, `h.N.ln_2`, `h.N.mlp.c_fc`, `h.N.mlp.c_proj`, `ln_f`, each
 * `.weight`/`.bias`. GPT-2's Conv1D stores weights `[in, out]` — already the TF.js kernel convention, so
 * kernels copy without a transpose. The LM head is tied to `wte` unless an `lm_head.weight` (`[vocab, d]`,
 * PyTorch Linear convention) is present. The number of heads is not in the weights: it comes from the
 * `config.json` beside them or from the caller.
 */
import { readFile, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../errors.ts';
import { hostTensor, toHost, type HostTensor, type HostTensorMap } from '../tensor/host-tensor.ts';
import { Gpt } from './gpt.ts';
import { asBuffer, assignParameters } from './checkpoint.ts';
import { parseSafetensors, serializeSafetensors } from './safetensors.ts';

export interface Gpt2LoadOptions {
  /** Attention heads (GPT-2 small: 12). Required unless a config.json gives `n_head`. */
  heads?: number;
  /** Keep the head tied to the token embedding (GPT-2's own layout). Default false: the head becomes an
   * untied copy of `wte^T`, a Linear with role `head` that adapters can target. */
  tiedHead?: boolean;
  /** LayerNorm epsilon; default 1e-5 (GPT-2's `layer_norm_epsilon`). */
  layerNormEps?: number;
  source?: string;
}

/** The subset of Hugging Face's GPT2Config this loader reads. */
export interface Gpt2HfConfig {
  n_head?: number;
  n_embd?: number;
  n_layer?: number;
  n_positions?: number;
  vocab_size?: number;
  layer_norm_epsilon?: number;
  activation_function?: string;
}

// Causal-mask buffers older PyTorch GPT-2 checkpoints carry; not weights.
const IGNORED = /^h\.\d+\.attn\.(bias|masked_bias)$/;

function fail(source: string, message: string): FedpeftError {
  return new FedpeftError('INVALID_GPT2_CHECKPOINT', `${source}: ${message}`);
}

/** Builds a GPT from GPT-2 tensors (names as in the Hugging Face checkpoint). */
export function gptFromGpt2Tensors(raw: HostTensorMap, options: Gpt2LoadOptions = {}): Gpt {
  const source = options.source ?? 'GPT-2 checkpoint';
  const tensors: HostTensorMap = new Map();
  for (const [name, t] of raw) tensors.set(name.replace(/^transformer\./, ''), t);
  const get = (name: string, shape: number[]): HostTensor => {
    const t = tensors.get(name);
    if (!t) throw fail(source, `missing tensor '${name}'`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw fail(source, `'${name}' has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`);
    }
    return t;
  };
  const wte = tensors.get('wte.weight');
  const wpe = tensors.get('wpe.weight');
  if (!wte || wte.shape.length !== 2) throw fail(source, "missing 2-D 'wte.weight' (token embedding)");
  if (!wpe || wpe.shape.length !== 2) throw fail(source, "missing 2-D 'wpe.weight' (position embedding)");
  const [vocabSize, d] = wte.shape as [number, number];
  const contextLength = wpe.shape[0] as number;
  let layers = 0;
  while (tensors.has(`h.${layers}.ln_1.weight`)) layers++;
  if (layers === 0) throw fail(source, "no transformer blocks ('h.0.ln_1.weight' missing)");
  const heads = options.heads;
  if (heads === undefined) {
    throw fail(
      source,
      'the number of attention heads is not stored in the weights: pass heads or a config.json',
    );
  }
  const hidden = tensors.get('h.0.mlp.c_fc.weight')?.shape[1];
  if (hidden === undefined) throw fail(source, "missing 'h.0.mlp.c_fc.weight'");
  const lmHead = tensors.get('lm_head.weight');
  const expected = new Set(['wte.weight', 'wpe.weight', 'ln_f.weight', 'ln_f.bias', 'lm_head.weight']);
  const model = new Gpt(
    {
      vocabSize,
      contextLength,
      dModel: d,
      layers,
      heads,
      mlpRatio: hidden / d,
      tiedHead: options.tiedHead ?? false,
      bias: true,
      layerNormEps: options.layerNormEps ?? 1e-5,
    },
    { seed: 0, initialize: false },
  );
  try {
    const out: HostTensorMap = new Map();
    out.set('embed.token', get('wte.weight', [vocabSize, d]));
    out.set('embed.position', get('wpe.weight', [contextLength, d]));
    for (let i = 0; i < layers; i++) {
      const h = `h.${i}`;
      const p = `layers.${i}`;
      const take = (name: string, shape: number[]) => {
        expected.add(name);
        return get(name, shape);
      };
      out.set(`${p}.ln1.gamma`, take(`${h}.ln_1.weight`, [d]));
      out.set(`${p}.ln1.beta`, take(`${h}.ln_1.bias`, [d]));
      const qkv = take(`${h}.attn.c_attn.weight`, [d, 3 * d]);
      const qkvBias = take(`${h}.attn.c_attn.bias`, [3 * d]);
      ['q', 'k', 'v'].forEach((role, j) => {
        out.set(`${p}.attn.${role}.kernel`, columns(qkv, j * d, d));
        out.set(`${p}.attn.${role}.bias`, hostTensor([d], qkvBias.data.slice(j * d, (j + 1) * d)));
      });
      out.set(`${p}.attn.o.kernel`, take(`${h}.attn.c_proj.weight`, [d, d]));
      out.set(`${p}.attn.o.bias`, take(`${h}.attn.c_proj.bias`, [d]));
      out.set(`${p}.ln2.gamma`, take(`${h}.ln_2.weight`, [d]));
      out.set(`${p}.ln2.beta`, take(`${h}.ln_2.bias`, [d]));
      out.set(`${p}.mlp.up.kernel`, take(`${h}.mlp.c_fc.weight`, [d, hidden]));
      out.set(`${p}.mlp.up.bias`, take(`${h}.mlp.c_fc.bias`, [hidden]));
      out.set(`${p}.mlp.down.kernel`, take(`${h}.mlp.c_proj.weight`, [hidden, d]));
      out.set(`${p}.mlp.down.bias`, take(`${h}.mlp.c_proj.bias`, [d]));
    }
    out.set('final_norm.gamma', get('ln_f.weight', [d]));
    out.set('final_norm.beta', get('ln_f.bias', [d]));
    if (model.head) {
      // Untied: the head is a copy of the tied matrix unless the checkpoint has its own.
      out.set('head.kernel', transpose(lmHead ? get('lm_head.weight', [vocabSize, d]) : wte));
    }
    const unknown = [...tensors.keys()].filter((n) => !expected.has(n) && !IGNORED.test(n));
    if (unknown.length) {
      throw fail(source, `unexpected tensors (not a GPT-2 layout?): ${unknown.slice(0, 10).join(', ')}`);
    }
    assignParameters(model, out, source);
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** The model's weights under GPT-2 names (no prefix). Untied models also get `lm_head.weight`. */
export function gpt2TensorsFromGpt(model: Gpt): HostTensorMap {
  const { dModel: d, layers } = model.config;
  const p = model.parameters();
  const host = (name: string): HostTensor => {
    const v = p.get(name);
    if (!v) throw new Error(`gpt2 export: the model has no parameter '${name}'`);
    return toHost(v);
  };
  // GPT-2 always has biases; a bias-free model exports zeros (the same function).
  const bias = (name: string, size: number): HostTensor =>
    p.has(name) ? host(name) : hostTensor([size], new Float32Array(size));
  const out: HostTensorMap = new Map();
  out.set('wte.weight', host('embed.token'));
  out.set('wpe.weight', host('embed.position'));
  for (let i = 0; i < layers; i++) {
    const h = `h.${i}`;
    const l = `layers.${i}`;
    out.set(`${h}.ln_1.weight`, host(`${l}.ln1.gamma`));
    out.set(`${h}.ln_1.bias`, host(`${l}.ln1.beta`));
    const qkv = ['q', 'k', 'v'].map((r) => host(`${l}.attn.${r}.kernel`));
    out.set(`${h}.attn.c_attn.weight`, concatColumns(qkv));
    const qkvBias = ['q', 'k', 'v'].map((r) => bias(`${l}.attn.${r}.bias`, d));
    out.set(`${h}.attn.c_attn.bias`, hostTensor([3 * d], concat(qkvBias.map((b) => b.data))));
    out.set(`${h}.attn.c_proj.weight`, host(`${l}.attn.o.kernel`));
    out.set(`${h}.attn.c_proj.bias`, bias(`${l}.attn.o.bias`, d));
    out.set(`${h}.ln_2.weight`, host(`${l}.ln2.gamma`));
    out.set(`${h}.ln_2.bias`, host(`${l}.ln2.beta`));
    const up = host(`${l}.mlp.up.kernel`);
    out.set(`${h}.mlp.c_fc.weight`, up);
    out.set(`${h}.mlp.c_fc.bias`, bias(`${l}.mlp.up.bias`, up.shape[1] as number));
    out.set(`${h}.mlp.c_proj.weight`, host(`${l}.mlp.down.kernel`));
    out.set(`${h}.mlp.c_proj.bias`, bias(`${l}.mlp.down.bias`, d));
  }
  out.set('ln_f.weight', host('final_norm.gamma'));
  out.set('ln_f.bias', host('final_norm.beta'));
  if (model.head) out.set('lm_head.weight', transpose(host('head.kernel')));
  return out;
}

/** The Hugging Face config.json describing `model` as a GPT-2. */
export function gpt2ConfigFor(model: Gpt): Record<string, unknown> {
  const c = model.config;
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.contextLength,
    n_embd: c.dModel,
    n_layer: c.layers,
    n_head: c.heads,
    n_inner: Math.round(c.mlpRatio * c.dModel),
    activation_function: 'gelu_new',
    layer_norm_epsilon: c.layerNormEps,
    tie_word_embeddings: c.tiedHead,
  };
}

/**
 * Load from a directory (`model.safetensors` + optional `config.json`) or a `.safetensors` file (a
 * `config.json` beside it is used when present). Options override the config.
 */
export async function loadGpt2Checkpoint(path: string, options: Gpt2LoadOptions = {}): Promise<Gpt> {
  const isDir = await stat(path).then(
    (s) => s.isDirectory(),
    (err: Error) => {
      throw new FedpeftError('CHECKPOINT_NOT_FOUND', `cannot read ${path}: ${err.message}`);
    },
  );
  const weightsPath = isDir ? join(path, 'model.safetensors') : path;
  const configPath = join(isDir ? path : dirname(path), 'config.json');
  let hf: Gpt2HfConfig = {};
  try {
    hf = JSON.parse(await readFile(configPath, 'utf8')) as Gpt2HfConfig;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') {
      throw fail(configPath, `unreadable config.json: ${(err as Error).message}`);
    }
  }
  if (hf.activation_function && !['gelu_new', 'gelu_pytorch_tanh'].includes(hf.activation_function)) {
    throw fail(
      configPath,
      `activation '${hf.activation_function}' is not supported (only gelu_new, GPT-2's)`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(weightsPath);
  } catch (err) {
    throw new FedpeftError('CHECKPOINT_NOT_FOUND', `cannot read ${weightsPath}: ${(err as Error).message}`);
  }
  const file = parseSafetensors(bytes, { source: weightsPath, skipUnsupported: true });
  const heads = options.heads ?? hf.n_head;
  const layerNormEps = options.layerNormEps ?? hf.layer_norm_epsilon;
  return gptFromGpt2Tensors(file.tensors, {
    ...options,
    ...(heads !== undefined ? { heads } : {}),
    ...(layerNormEps !== undefined ? { layerNormEps } : {}),
    source: weightsPath,
  });
}

/** Write `model.safetensors` (GPT-2 names, `format: pt` metadata as transformers expects) and `config.json`. */
export async function saveGpt2Checkpoint(dir: string, model: Gpt): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(
    join(dir, 'model.safetensors'),
    asBuffer(serializeSafetensors(gpt2TensorsFromGpt(model), { format: 'pt' })),
  );
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(gpt2ConfigFor(model), null, 2)}\n`);
}

function columns(t: HostTensor, start: number, count: number): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++)
    out.set(t.data.subarray(r * cols + start, r * cols + start + count), r * count);
  return hostTensor([rows, count], out);
}

function concatColumns(parts: HostTensor[]): HostTensor {
  const rows = parts[0]?.shape[0] as number;
  const total = parts.reduce((s, p) => s + (p.shape[1] as number), 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let at = r * total;
    for (const p of parts) {
      const c = p.shape[1] as number;
      out.set(p.data.subarray(r * c, (r + 1) * c), at);
      at += c;
    }
  }
  return hostTensor([rows, total], out);
}

function concat(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function transpose(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c] as number;
  return hostTensor([cols, rows], out);
}
