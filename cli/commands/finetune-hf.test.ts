/**
 * `fedpeft finetune --base hf:<dir>`: PiCa on a Llama-style Hugging Face folder (random init, SmolLM2's
 * structure at a test size: GQA, tied head, SwiGLU, bf16 weights, its own byte-level BPE tokenizer.json),
 * through the real CLI. No download: the folder is written here in the formats transformers saves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../../shared/tensor/backend.ts';
import { Llama, type LlamaConfigInput } from '../../shared/model/llama.ts';
import { hfConfigFromLlama } from '../../shared/model/hf/config-schema.ts';
import { llamaToHfTensors } from '../../shared/model/hf/to-hf-tensors.ts';
import { writeHfFolder } from '../../shared/model/hf/testing/write-hf-folder.ts';
import { byteBpeTokenizerJson } from '../../shared/model/hf/testing/byte-bpe-tokenizer.ts';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/fedpeft.js', import.meta.url));

let root: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-finetune-hf-'));
  env = { ...process.env, FEDPEFT_BACKEND: 'wasm', FEDPEFT_CACHE_DIR: path.join(root, 'cache') };
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const SMALL: LlamaConfigInput = {
  vocabSize: 320,
  contextLength: 32,
  dModel: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediateSize: 64,
  tiedHead: true,
};

/** HuggingFaceTB/SmolLM2-135M's config.json, as fedpeft reads it. */
const SMOLLM2_135M: LlamaConfigInput = {
  vocabSize: 49152,
  contextLength: 8192,
  dModel: 576,
  layers: 30,
  heads: 9,
  kvHeads: 3,
  intermediateSize: 1536,
  tiedHead: true,
  ropeTheta: 100000,
  rmsNormEps: 1e-5,
};

async function writeLlamaFolder(
  dir: string,
  withTokenizer: boolean,
  config: LlamaConfigInput = SMALL,
): Promise<void> {
  const model = new Llama(config, { seed: 3 });
  try {
    await writeHfFolder(dir, {
      config: hfConfigFromLlama(model.config),
      tensors: llamaToHfTensors(model),
      dtype: 'BF16',
    });
  } finally {
    model.dispose();
  }
  if (withTokenizer) {
    const merges: [string, string][] = [
      ['t', 'h'],
      ['th', 'e'],
      ['Ġ', 'the'],
      ['a', 'n'],
      ['Ġ', 'an'],
    ];
    await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(byteBpeTokenizerJson(merges)));
  }
}

describe('fedpeft finetune --base hf:<dir>', () => {
  it('fine-tunes PiCa on a Llama folder with its tokenizer.json and converts the base into the cache once', async () => {
    const dir = path.join(root, 'smol');
    await writeLlamaFolder(dir, true);
    const args = [
      bin,
      'finetune',
      '--method',
      'pica',
      '--config',
      '{"r": 4}',
      '--client',
      'abraham lincoln',
      '--steps',
      '4',
      '--eval-windows',
      '4',
      '--context-length',
      '16',
      '--base',
      `hf:${dir}`,
      '--json',
    ];
    const { stdout, stderr } = await run(process.execPath, args, { env, timeout: 120_000 });
    const result = JSON.parse(stdout) as {
      method: string;
      base: string;
      steps: number;
      trainableParams: number;
      before: { perplexity: number };
      after: { perplexity: number };
    };
    expect(stderr).toMatch(/converting Hugging Face folder .* \(llama\)/);
    expect(result).toMatchObject({ method: 'pica', base: dir, steps: 4 });
    expect(result.trainableParams).toBeGreaterThan(0);
    // Perplexity over a 320-token vocabulary: a random model is near uniform, far above a byte model's ceiling.
    expect(result.before.perplexity).toBeGreaterThan(100);
    expect(Number.isFinite(result.after.perplexity)).toBe(true);
    expect(await readdir(path.join(root, 'cache', 'hf-bases'))).toHaveLength(1);

    const second = await run(process.execPath, args, { env, timeout: 120_000 });
    expect(second.stderr).not.toMatch(/converting/);
  });

  it('refuses a folder whose vocabulary needs a tokenizer it does not ship, in one line with exit code 2', async () => {
    const dir = path.join(root, 'no-tokenizer');
    await writeLlamaFolder(dir, false);
    const err = await run(
      process.execPath,
      [bin, 'finetune', '--method', 'pica', '--steps', '2', '--base', `hf:${dir}`],
      { env, timeout: 120_000 },
    ).then(
      () => {
        throw new Error('expected a failure');
      },
      (e: { code: number; stderr: string }) => e,
    );
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/320-token vocabulary and no tokenizer\.json/);
  });

  // 135M parameters: ~20 s to build the fixture, ~2 min and 3.5 GB to convert and train two steps on a loaded
  // 2-core machine, so it runs only when asked for (FEDPEFT_LARGE_TESTS=1).
  it.runIf(process.env.FEDPEFT_LARGE_TESTS === '1')(
    "fine-tunes PiCa on a random-init folder of SmolLM2-135M's shapes",
    { timeout: 600_000 },
    async () => {
      const dir = path.join(root, 'SmolLM2-135M-shaped');
      await writeLlamaFolder(dir, true, SMOLLM2_135M);
      const { stdout } = await run(
        process.execPath,
        [
          bin,
          'finetune',
          '--method',
          'pica',
          '--config',
          '{"r": 8}',
          '--client',
          'abraham lincoln',
          '--steps',
          '2',
          '--batch-size',
          '1',
          '--eval-windows',
          '1',
          '--context-length',
          '128',
          '--base',
          `hf:${dir}`,
          '--json',
        ],
        { env, timeout: 590_000, maxBuffer: 1 << 24 },
      );
      const result = JSON.parse(stdout) as { steps: number; before: { perplexity: number } };
      expect(result.steps).toBe(2);
      // A random model over 49152 tokens is near uniform.
      expect(result.before.perplexity).toBeGreaterThan(10_000);
    },
  );
});
