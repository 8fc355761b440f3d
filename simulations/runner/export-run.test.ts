/**
 * `fedpeft export` checked against an independent reference: test/reference/hf_reference.py (numpy, written from
 * GPT-2's, Llama's and PEFT's published definitions) loads the exported files and must reproduce fedpeft's own logits.
 * Run folders are made here the way the fleet runner writes them, with random global states, so every update
 * is far from zero (an export that dropped a link or a block would miss by much more than the tolerance).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { attachAdapter } from '../../shared/adapters/registry.ts';
import { LinkSchedule } from '../../shared/adapters/link-schedule.ts';
import { createModel } from '../../shared/model/zoo.ts';
import { serializeSafetensors } from '../../shared/model/safetensors.ts';
import { toHostMap } from '../../shared/tensor/host-tensor.ts';
import { asBuffer } from '../../shared/model/checkpoint.ts';
import { PEFT_CONFIG_KEYS } from '../../shared/hf-export/peft-lora.ts';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { ADAPTER_FILE, adapterRoundFile, type RunAdapterRecord } from './run-adapter.ts';
import { exportRun } from './export-run.ts';
import { loadHfFolder } from '../../shared/model/hf/load-folder.ts';
import { REFERENCE_PYTHON } from '../../test/reference/python.ts';

const REFERENCE = join(import.meta.dirname, '../../test/reference/hf_reference.py');
const MODEL = 'test-gpt';
const SEED = 5;
const IDS = [3, 71, 200, 15, 15, 99, 0, 255, 42, 7];

/**
 * Every LoraConfig / PeftConfig field in PEFT's documentation (huggingface.co/docs/peft, "LoRA" and
 * "Configuration" reference pages): the keys a PEFT version may accept in adapter_config.json.
 */
const PEFT_LORA_CONFIG_FIELDS = new Set([
  // PeftConfigMixin / PeftConfig
  'peft_type',
  'task_type',
  'base_model_name_or_path',
  'revision',
  'inference_mode',
  'auto_mapping',
  // LoraConfig
  'r',
  'target_modules',
  'exclude_modules',
  'lora_alpha',
  'lora_dropout',
  'fan_in_fan_out',
  'bias',
  'use_rslora',
  'modules_to_save',
  'init_lora_weights',
  'layers_to_transform',
  'layers_pattern',
  'rank_pattern',
  'alpha_pattern',
  'megatron_config',
  'megatron_core',
  'loftq_config',
  'use_dora',
  'layer_replication',
  'runtime_config',
  'lora_bias',
]);

let root: string;

beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fedpeft-export-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface MadeRun {
  runDir: string;
  /** fedpeft's logits for IDS with the run's final global adapter live on its base. */
  logits: Float32Array;
}

/** A run folder as the fleet runner writes it, with `rounds` random global states; fedpeft's own logits. */
async function makeRun(
  method: string,
  methodConfig: Record<string, unknown>,
  rounds: number,
  modelName: string = MODEL,
  modelConfig: Record<string, unknown> = {},
): Promise<MadeRun> {
  const runDir = join(
    root,
    `run-${modelName}-${JSON.stringify(modelConfig).replace(/\W/g, '')}-${method}-${rounds}`,
  );
  await mkdir(join(runDir, 'adapters'), { recursive: true });
  const model = createModel(modelName, { seed: SEED, ...modelConfig });
  const adapter = attachAdapter(model, method, methodConfig, { seed: SEED });
  const schedule = new LinkSchedule(parseCoordinatorConfig({}).method.roundsPerLink);
  const rng = new Rng(99);
  try {
    for (let r = 1; r <= rounds; r++) {
      if (adapter.currentLink !== undefined) adapter.setLink!(schedule.linkAt(r - 1));
      const global = new Map<string, tf.Tensor>();
      for (const [name, t] of adapter.shared())
        global.set(name, rng.fork(`${r}:${name}`).normalTensor(t.shape, 0.3));
      adapter.setShared(global);
      await writeFile(join(runDir, adapterRoundFile(r)), asBuffer(serializeSafetensors(toHostMap(global))));
      tf.dispose([...global.values()]);
    }
    const record: RunAdapterRecord = {
      format: 'fedpeft-run-adapter',
      method,
      methodConfig,
      model: modelName,
      modelConfig,
      seed: SEED,
      baseDir: null,
      rounds: Array.from({ length: rounds }, (_, i) => i + 1),
    };
    await writeFile(join(runDir, ADAPTER_FILE), JSON.stringify(record));
    const ids = tf.tensor2d([IDS], [1, IDS.length], 'int32');
    const out = model.logits(ids);
    const logits = out.dataSync<'float32'>().slice();
    tf.dispose([ids, out]);
    return { runDir, logits };
  } finally {
    adapter.detach();
    model.dispose();
  }
}

function fedpeftLogits(model: { logits(ids: tf.Tensor2D): tf.Tensor3D }): Float32Array {
  return tf.tidy(() =>
    model
      .logits(tf.tensor2d([IDS], [1, IDS.length], 'int32'))
      .dataSync<'float32'>()
      .slice(),
  );
}

function referenceLogits(modelDir: string, adapterDir?: string): Float32Array {
  const args = [
    REFERENCE,
    modelDir,
    '--ids',
    IDS.join(','),
    ...(adapterDir ? ['--adapter', adapterDir] : []),
  ];
  const out = JSON.parse(execFileSync(REFERENCE_PYTHON, args, { encoding: 'utf8' })) as {
    logits: number[][];
  };
  return Float32Array.from(out.logits.flat());
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

describe('fedpeft export matches the independent numpy reference', () => {
  const cases: [string, Record<string, unknown>, number][] = [
    ['lora', { r: 4, alpha: 8, roles: ['q', 'v', 'down'] }, 2],
    ['pica', { r: 4, roles: ['q', 'k', 'v', 'up', 'down'] }, 2],
    // 12 rounds at 5 rounds per link: links 0, 1 and 2, two of them folded into the base.
    ['c3la', { r: 4, alpha: 8, roles: ['q', 'v', 'o'] }, 12],
    ['flora', { r: 2, alpha: 4, roles: ['k', 'up'] }, 3],
    ['paca', { r: 3, roles: ['v'] }, 1],
  ];
  for (const [method, config, rounds] of cases) {
    it(`${method}: base (--round 0 hf) + PEFT adapter, and the merged hf export, give fedpeft's logits`, async () => {
      const { runDir, logits } = await makeRun(method, config, rounds);
      const out = join(root, `${method}-adapter`);
      const base = join(root, `${method}-base`);
      const before = tf.memory().numTensors;
      const result = await exportRun({ runDir, format: 'peft', outDir: out, baseDir: base });
      expect(tf.memory().numTensors).toBe(before);
      expect(result.base?.written).toBe(true);

      const baseLogits = referenceLogits(base);
      // The adapter matters: without it the reference is far from fedpeft's adapted logits.
      expect(maxAbsDiff(baseLogits, logits)).toBeGreaterThan(1e-2);
      expect(maxAbsDiff(referenceLogits(base, out), logits)).toBeLessThan(1e-4);

      const merged = join(root, `${method}-merged`);
      await exportRun({ runDir, format: 'hf', outDir: merged });
      expect(maxAbsDiff(referenceLogits(merged), logits)).toBeLessThan(1e-4);
    });
  }

  it('stacks every folded c3la link (rank = r x links) on the fused c_attn as one block-structured LoRA', async () => {
    const { runDir } = await makeRun('c3la', { r: 4, alpha: 8, roles: ['q', 'v', 'o'] }, 12);
    const out = join(root, 'c3la-ranks');
    await exportRun({ runDir, format: 'peft', outDir: out, baseDir: join(root, 'c3la-ranks-base') });
    const config = await readJson(join(out, 'adapter_config.json'));
    expect(config.fan_in_fan_out).toBe(true);
    // c_attn: q and v, 3 links each -> 24; c_proj (o): 3 links -> 12.
    expect(config.target_modules).toEqual([
      'transformer.h.0.attn.c_attn',
      'transformer.h.0.attn.c_proj',
      'transformer.h.1.attn.c_attn',
      'transformer.h.1.attn.c_proj',
    ]);
    expect(config.r).toBe(24);
    expect(config.rank_pattern).toEqual({ 'h\\.0\\.attn\\.c_proj': 12, 'h\\.1\\.attn\\.c_proj': 12 });
    expect(config.alpha_pattern).toEqual(config.rank_pattern);
    const meta = await readJson(join(out, 'fedpeft_export.json'));
    expect(meta).toMatchObject({ method: 'c3la', round: 12, links: 3, family: 'gpt2' });
  });
});

describe('fedpeft export of a Llama-family run matches the independent numpy reference', () => {
  const cases: [string, Record<string, unknown>, number, Record<string, unknown>][] = [
    ['lora', { r: 4, alpha: 8, roles: ['q', 'k', 'gate', 'down'] }, 2, {}],
    ['pica', { r: 4, roles: ['q', 'v', 'o', 'up'] }, 2, {}],
    ['cla', { r: 3, roles: ['k', 'gate'] }, 1, {}],
    // 12 rounds at 5 rounds per link: three links, two folded.
    ['c3la', { r: 2, alpha: 4, roles: ['q', 'v', 'down'] }, 12, {}],
    // q/k/v biases without an o bias: a Qwen2 model.
    ['pica', { r: 2, roles: ['q', 'k', 'v'] }, 1, { qkvBias: true }],
  ];
  for (const [method, config, rounds, modelConfig] of cases) {
    const family = modelConfig.qkvBias ? 'qwen2' : 'llama';
    it(`${family} ${method}: base + PEFT adapter (q_proj.. names) and the merged hf export give fedpeft's logits`, async () => {
      const { runDir, logits } = await makeRun(method, config, rounds, 'test-llama', modelConfig);
      const tag = `llama-${family}-${method}`;
      const out = join(root, `${tag}-adapter`);
      const base = join(root, `${tag}-base`);
      await exportRun({ runDir, format: 'peft', outDir: out, baseDir: base });
      const adapterConfig = await readJson(join(out, 'adapter_config.json'));
      expect(adapterConfig.fan_in_fan_out).toBe(false);
      for (const m of adapterConfig.target_modules as string[])
        expect(m).toMatch(/^model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)$/);
      expect((await readJson(join(base, 'config.json'))).model_type).toBe(family);

      expect(maxAbsDiff(referenceLogits(base), logits)).toBeGreaterThan(1e-2);
      expect(maxAbsDiff(referenceLogits(base, out), logits)).toBeLessThan(1e-4);

      const merged = join(root, `${tag}-merged`);
      await exportRun({ runDir, format: 'hf', outDir: merged });
      expect(maxAbsDiff(referenceLogits(merged), logits)).toBeLessThan(1e-4);
      // Round trip: fedpeft's own HF loader reads the merged folder back to the same logits.
      const back = await loadHfFolder(merged);
      try {
        expect(maxAbsDiff(fedpeftLogits(back), logits)).toBeLessThan(1e-5);
      } finally {
        back.dispose();
      }
    });
  }
});

describe('fedpeft export files', () => {
  it('adapter_config.json holds only PEFT LoraConfig fields; fedpeft metadata is a separate file', async () => {
    const { runDir } = await makeRun('lora', { r: 2, alpha: 4 }, 1);
    const out = join(root, 'keys-adapter');
    await exportRun({ runDir, format: 'peft', outDir: out });
    const config = await readJson(join(out, 'adapter_config.json'));
    for (const key of Object.keys(config)) expect(PEFT_LORA_CONFIG_FIELDS.has(key), key).toBe(true);
    expect(new Set(Object.keys(config))).toEqual(new Set(PEFT_CONFIG_KEYS));
    expect(config.peft_type).toBe('LORA');
    expect(await readdir(out)).toEqual(
      expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'fedpeft_export.json']),
    );
  });

  it('names the base relative to the working directory, never as an absolute path; the default base is <out>-base', async () => {
    const { runDir } = await makeRun('lora', { r: 2, alpha: 4 }, 1);
    const out = join(root, 'rel-adapter');
    const result = await exportRun({ runDir, format: 'peft', outDir: out });
    expect(result.base?.dir).toBe(join(root, 'rel-adapter-base'));
    const config = await readJson(join(out, 'adapter_config.json'));
    const named = config.base_model_name_or_path as string;
    const cwdInsideRoot = !relative(root, process.cwd()).startsWith('..');
    // Under a temp folder the path from the cwd climbs out with '..'; it is still relative, never the cache.
    if (!cwdInsideRoot) expect(isAbsolute(named)).toBe(false);
    expect(named).not.toMatch(/\.cache|fedpeft-cache/);
    expect(join(process.cwd(), named)).toBe(join(root, 'rel-adapter-base'));
    expect((await readJson(join(root, 'rel-adapter-base', 'config.json'))).model_type).toBe('gpt2');
    expect(existsSync(join(root, 'rel-adapter-base', 'tokenizer.json'))).toBe(true);
  });

  it('--round 0 --format hf is the base a peft export attaches to (the same bytes), and a peft export reuses it', async () => {
    const { runDir } = await makeRun('pica', { r: 2, roles: ['q'] }, 2);
    const base = join(root, 'round0-base');
    const result = await exportRun({ runDir, format: 'hf', outDir: base, round: 0 });
    expect(result.files).toEqual(
      expect.arrayContaining(['model.safetensors', 'config.json', 'tokenizer.json']),
    );
    const bytes = await readFile(join(base, 'model.safetensors'));
    const reused = await exportRun({
      runDir,
      format: 'peft',
      outDir: join(root, 'round0-adapter2'),
      baseDir: base,
    });
    expect(reused.base?.written).toBe(false);
    expect((await readFile(join(base, 'model.safetensors'))).equals(bytes)).toBe(true);
  });

  it('refuses an existing --base that holds another model, and writes nothing', async () => {
    const a = await makeRun('lora', { r: 2, alpha: 4 }, 1);
    const otherBase = join(root, 'other-base');
    await exportRun({ runDir: a.runDir, format: 'hf', outDir: otherBase });
    const out = join(root, 'mismatch-adapter');
    await expect(
      exportRun({ runDir: a.runDir, format: 'peft', outDir: out, baseDir: otherBase }),
    ).rejects.toThrow(/holds a different model/);
    expect(existsSync(out)).toBe(false);
  });

  for (const [method, config, pattern] of [
    ['full', { roles: ['q'] }, /dense delta.*--format hf/],
    ['losa', { r: 2, roles: ['q'] }, /masked.*--format hf/],
    ['fedsa-lora', { r: 2, alpha: 4 }, /private on each client/],
  ] as const) {
    it(`refuses ${method} for peft and leaves no folder behind`, async () => {
      const { runDir } = await makeRun(method, config, 1);
      const out = join(root, `refused-${method}`);
      await expect(exportRun({ runDir, format: 'peft', outDir: out })).rejects.toThrow(pattern);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}-base`)).toBe(false);
    });
  }

  it('refuses --round 0 for peft (the base has no adapter) and writes nothing', async () => {
    const { runDir } = await makeRun('lora', { r: 2, alpha: 4 }, 1);
    const out = join(root, 'round0-adapter');
    await expect(exportRun({ runDir, format: 'peft', outDir: out, round: 0 })).rejects.toThrow(/--format hf/);
    expect(existsSync(out)).toBe(false);
  });
});
