import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Gpt } from './gpt.ts';
import { MlpClassifier } from './mlp-classifier.ts';
import { Llama } from './llama.ts';
import { createModel } from './zoo.ts';
import {
  CONFIG_FILE,
  WEIGHTS_FILE,
  loadCheckpoint,
  loadCheckpointInto,
  saveCheckpoint,
} from './checkpoint.ts';
import { saveGpt2Checkpoint } from './gpt2-checkpoint.ts';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'fedpeft-ckpt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const CONFIG = { vocabSize: 32, contextLength: 8, dModel: 8, layers: 2, heads: 2 };

function logits(model: Gpt | Llama): number[] {
  return tf.tidy(() => Array.from(model.logits(tf.tensor2d([[1, 5, 2, 31]], [1, 4], 'int32')).dataSync()));
}

describe('model checkpoints', () => {
  it('saves and rebuilds a Llama (GQA, tied head, Qwen2 biases) with identical logits', async () => {
    const model = createModel('test-llama', { seed: 3, tiedHead: true, qkvBias: true });
    const path = join(dir, 'llama');
    await saveCheckpoint(path, model);
    const back = await loadCheckpoint(path);
    expect(back).toBeInstanceOf(Llama);
    expect((back as Llama).config).toEqual(model.config);
    expect(logits(back as Llama)).toEqual(logits(model));
    back.dispose();
    model.dispose();
  });

  it('saves and rebuilds a GPT with identical logits, leaving no temp files', async () => {
    const model = new Gpt(CONFIG, { seed: 1 });
    const path = join(dir, 'gpt');
    await saveCheckpoint(path, model, { note: 'round 3' });
    expect((await readdir(path)).sort()).toEqual([CONFIG_FILE, WEIGHTS_FILE]);
    const readable = JSON.parse(await readFile(join(path, CONFIG_FILE), 'utf8'));
    expect(readable).toMatchObject({ kind: 'gpt', config: { dModel: 8, layers: 2 } });
    const expected = logits(model);
    const before = tf.memory().numTensors;
    const back = (await loadCheckpoint(path)) as Gpt;
    expect(back.kind).toBe('gpt');
    expect(logits(back)).toEqual(expected);
    back.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('loads into an existing model and refreshes its cached kernels', async () => {
    const source = new Gpt(CONFIG, { seed: 2 });
    const path = join(dir, 'into');
    await saveCheckpoint(path, source);
    const target = new Gpt(CONFIG, { seed: 3 });
    const stale = logits(target); // populates the frozen-kernel caches with seed-3 weights
    await loadCheckpointInto(path, target);
    const fresh = logits(target);
    expect(fresh).not.toEqual(stale);
    expect(fresh).toEqual(logits(source));
    source.dispose();
    target.dispose();
  });

  it('round-trips an MLP classifier', async () => {
    const model = new MlpClassifier({ inputDim: 6, hiddenDims: [5, 4], numClasses: 3 }, { seed: 4 });
    const path = join(dir, 'mlp');
    await saveCheckpoint(path, model);
    const back = (await loadCheckpoint(path)) as MlpClassifier;
    const x = tf.tensor2d([[1, 0, 2, 0, 0, 1]]);
    expect(tf.tidy(() => back.logits(x).arraySync())).toEqual(tf.tidy(() => model.logits(x).arraySync()));
    tf.dispose(x);
    model.dispose();
    back.dispose();
  });

  it('refuses checkpoints that do not fit, naming the problem', async () => {
    const small = new Gpt(CONFIG, { seed: 1 });
    const path = join(dir, 'small');
    await saveCheckpoint(path, small);
    const wider = new Gpt({ ...CONFIG, dModel: 12 }, { seed: 1 });
    await expect(loadCheckpointInto(path, wider)).rejects.toThrow(
      /embed.token has shape \[32,8\], the model expects \[32,12\]/,
    );
    const tied = new Gpt({ ...CONFIG, tiedHead: true }, { seed: 1 });
    await expect(loadCheckpointInto(path, tied)).rejects.toThrow(/not in this model: head.kernel/);
    await expect(loadCheckpoint(join(dir, 'nowhere'))).rejects.toThrow(/cannot read/);
    const hf = join(dir, 'hf');
    await saveGpt2Checkpoint(hf, small);
    await expect(loadCheckpoint(hf)).rejects.toThrow(/not a fedpeft model checkpoint/);
    for (const m of [small, wider, tied]) m.dispose();
  });
});
