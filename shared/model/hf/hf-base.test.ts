import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import { Llama } from '../llama.ts';
import { Gpt } from '../gpt.ts';
import { checkpointFingerprint, loadCheckpoint } from '../checkpoint.ts';
import { gpt2ConfigFor, gpt2TensorsFromGpt } from '../gpt2-checkpoint.ts';
import { hfConfigFromLlama } from './config-schema.ts';
import { llamaToHfTensors } from './to-hf-tensors.ts';
import { loadHfFolder } from './load-folder.ts';
import { ensureHfBase, hfBaseDir } from './hf-base.node.ts';
import { writeHfFolder } from './testing/write-hf-folder.ts';
import { byteBpeTokenizerJson } from './testing/byte-bpe-tokenizer.ts';

let root: string;
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fedpeft-hf-base-'));
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

describe('hf:<dir> bases', () => {
  it('parses hf:<dir> specs (and nothing else)', () => {
    expect(hfBaseDir('hf:/models/x')).toBe('/models/x');
    expect(hfBaseDir('runs/base')).toBeNull();
    expect(() => hfBaseDir('hf:')).toThrow(/needs a folder/);
  });

  it('converts a sharded bf16 Llama folder once into a checkpoint with the same logits, tokenizer beside it', async () => {
    const source = new Llama(
      {
        vocabSize: 300,
        contextLength: 16,
        dModel: 16,
        layers: 2,
        heads: 4,
        kvHeads: 2,
        intermediateSize: 24,
        tiedHead: true,
      },
      { seed: 4 },
    );
    const dir = join(root, 'smol');
    await writeHfFolder(dir, {
      config: hfConfigFromLlama(source.config),
      tensors: llamaToHfTensors(source),
      dtype: 'BF16',
      shards: 2,
    });
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(byteBpeTokenizerJson([['t', 'h']])));
    const cacheDir = join(root, 'cache');
    const first = await ensureHfBase(dir, { cacheDir });
    expect(first.created).toBe(true);
    expect(first.model).toMatchObject({ family: 'llama', name: 'tiny-llama' });
    expect(first.tokenizerFile).toBe(join(first.dir, 'tokenizer.json'));
    expect(existsSync(first.tokenizerFile!)).toBe(true);
    const converted = await loadCheckpoint(first.dir);
    const direct = await loadHfFolder(dir);
    expect(converted).toBeInstanceOf(Llama);
    expect(converted.config).toEqual(direct.config);
    const a = logits(converted as Llama);
    const b = logits(direct);
    expect(a.every((v, i) => v === b[i])).toBe(true);

    const again = await ensureHfBase(dir, { cacheDir });
    expect(again.created).toBe(false);
    expect(again.dir).toBe(first.dir);
    // No temporary folders are left in the cache.
    expect(await readdir(join(cacheDir, 'hf-bases'))).toEqual([first.sourceSha256]);
    [source, converted, direct].forEach((m) => m.dispose());
  });

  it('a changed folder is a different base; a GPT-2 folder becomes a gpt checkpoint', async () => {
    const gpt = new Gpt({ vocabSize: 64, contextLength: 16, dModel: 16, layers: 1, heads: 2 }, { seed: 1 });
    const dir = join(root, 'gpt2');
    const tensors = new Map(
      [...gpt2TensorsFromGpt(gpt)].map(([n, t]) => [n === 'lm_head.weight' ? n : `transformer.${n}`, t]),
    );
    await writeHfFolder(dir, { config: gpt2ConfigFor(gpt), tensors });
    const cacheDir = join(root, 'cache2');
    const one = await ensureHfBase(dir, { cacheDir });
    expect(one.model).toMatchObject({ family: 'gpt2', name: 'tiny-gpt' });
    expect(one.tokenizerFile).toBeNull();
    expect((await loadCheckpoint(one.dir)).kind).toBe('gpt');
    await writeHfFolder(dir, { config: gpt2ConfigFor(gpt), tensors, dtype: 'F16' });
    const two = await ensureHfBase(dir, { cacheDir });
    expect(two.dir).not.toBe(one.dir);
    expect((await checkpointFingerprint(two.dir)).sha256).not.toBe(
      (await checkpointFingerprint(one.dir)).sha256,
    );
    gpt.dispose();
  });

  it('refuses an unsupported model_type by name and leaves nothing in the cache', async () => {
    const dir = join(root, 'bert');
    await writeHfFolder(dir, { config: { model_type: 'bert' }, tensors: new Map() });
    const cacheDir = join(root, 'cache3');
    await expect(ensureHfBase(dir, { cacheDir })).rejects.toThrow(/model_type 'bert' is not supported/);
    expect(existsSync(join(cacheDir, 'hf-bases'))).toBe(false);
  });
});
