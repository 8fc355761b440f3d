/**
 * A federated run on a Hugging Face base, end to end: a Llama-style folder written here (random init, GQA,
 * tied head, byte-level vocabulary) is the scenario's `base.source: hf`; PiCa trains two rounds over
 * in-process clients; `fedpeft export` hands back the base, a PEFT adapter and the merged model, and the
 * independent numpy reference (test/reference/hf_reference.py) reads them: the exported base is the source
 * folder's model, base + adapter equals the merged model, and fedpeft reads the merged folder back the same.
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { Llama, type LlamaConfigInput } from '../../shared/model/llama.ts';
import { hfConfigFromLlama } from '../../shared/model/hf/config-schema.ts';
import { llamaToHfTensors } from '../../shared/model/hf/to-hf-tensors.ts';
import { loadHfFolder } from '../../shared/model/hf/load-folder.ts';
import { writeHfFolder } from '../../shared/model/hf/testing/write-hf-folder.ts';
import { byteBpeTokenizerJson } from '../../shared/model/hf/testing/byte-bpe-tokenizer.ts';
import { simulate } from '../../simulations/simulate.ts';
import { ScenarioFleetRunner } from '../../simulations/runner/fleet-runner.ts';
import { exportRun } from '../../simulations/runner/export-run.ts';
import { REFERENCE_PYTHON } from '../reference/python.ts';
import { tempDir, tinyScenario } from './simulate-fixtures.ts';

const REFERENCE = join(import.meta.dirname, '../reference/hf_reference.py');
const IDS = [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100];
const LLAMA: LlamaConfigInput = {
  vocabSize: 256,
  contextLength: 32,
  dModel: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediateSize: 64,
  tiedHead: true,
};

function reference(modelDir: string, adapterDir?: string): Float32Array {
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

function fedpeftLogits(model: { logits(ids: tf.Tensor2D): tf.Tensor3D }): Float32Array {
  return tf.tidy(() =>
    model
      .logits(tf.tensor2d([IDS], [1, IDS.length], 'int32'))
      .dataSync<'float32'>()
      .slice(),
  );
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
}

async function writeSource(dir: string, config: LlamaConfigInput): Promise<void> {
  const model = new Llama(config, { seed: 8 });
  try {
    await writeHfFolder(dir, { config: hfConfigFromLlama(model.config), tensors: llamaToHfTensors(model) });
  } finally {
    model.dispose();
  }
}

describe('simulate on an hf:<dir> Llama base', () => {
  it(
    'runs PiCa federated and exports a base, adapter and merged model the numpy reference agrees on',
    { timeout: 240_000 },
    async () => {
      await useBackend('cpu');
      const root = await tempDir('sim-hf');
      const source = join(root, 'smol-hf');
      await writeSource(source, LLAMA);
      const tokenizerJson = JSON.stringify(byteBpeTokenizerJson([]));
      await writeFile(join(source, 'tokenizer.json'), tokenizerJson);
      const scenario = tinyScenario({
        name: 'hf-llama',
        transport: 'in-process',
        model: { name: 'test-gpt', overrides: {} },
        base: { source: 'hf', dir: source, cacheDir: join(root, 'cache') },
        method: { name: 'pica', config: { r: 4, roles: ['q', 'v', 'up'] } },
        output: { dir: join(root, 'runs'), plots: false },
      });
      const result = await simulate(new ScenarioFleetRunner(), scenario, { write: () => undefined });
      const runDir = result.runs[0]!.dir;
      const record = JSON.parse(await readFile(join(runDir, 'adapter.json'), 'utf8')) as { model: string };
      expect(record.model).toBe('tiny-llama');

      const base = join(root, 'export-base');
      const adapter = join(root, 'export-adapter');
      const merged = join(root, 'export-merged');
      await exportRun({ runDir, format: 'hf', round: 0, outDir: base });
      await exportRun({ runDir, format: 'peft', outDir: adapter, baseDir: base });
      await exportRun({ runDir, format: 'hf', outDir: merged });

      // The source folder's own tokenizer travels with every exported model folder.
      for (const dir of [base, merged])
        expect(await readFile(join(dir, 'tokenizer.json'), 'utf8')).toBe(tokenizerJson);
      // The run's base is the source folder's model.
      expect(maxDiff(reference(base), reference(source))).toBeLessThan(1e-6);
      const adapted = reference(base, adapter);
      // Training moved the model, and the adapter on the base is the merged model.
      expect(maxDiff(adapted, reference(base))).toBeGreaterThan(1e-5);
      expect(maxDiff(adapted, reference(merged))).toBeLessThan(1e-4);
      const back = await loadHfFolder(merged);
      try {
        expect(maxDiff(fedpeftLogits(back), adapted)).toBeLessThan(1e-4);
      } finally {
        back.dispose();
      }
    },
  );

  it('refuses a folder whose vocabulary is not byte-level, naming the way that works', async () => {
    const root = await tempDir('sim-hf-vocab');
    const source = join(root, 'big-vocab');
    await writeSource(source, { ...LLAMA, vocabSize: 300 });
    await writeFile(join(source, 'tokenizer.json'), '{}');
    const scenario = tinyScenario({
      name: 'hf-vocab',
      transport: 'in-process',
      base: { source: 'hf', dir: source, cacheDir: join(root, 'cache') },
      output: { dir: join(root, 'runs'), plots: false },
    });
    await expect(simulate(new ScenarioFleetRunner(), scenario, { write: () => undefined })).rejects.toThrow(
      /300-token vocabulary.*finetune --base hf:<dir>/,
    );
  });
});
