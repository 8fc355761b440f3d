/**
 * `model.base: hf:<dir>` on the coordinator and `fedpeft join --base hf:<dir>` on a client: both convert the
 * same Hugging Face folder into the same checkpoint bytes, so the client's copy matches the run's fingerprint;
 * the folder's config.json is the run's model, and the coordinator describes the method on those weights.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../shared/tensor/backend.ts';
import { Llama, type LlamaConfigInput } from '../shared/model/llama.ts';
import { checkpointFingerprint } from '../shared/model/checkpoint.ts';
import { hfConfigFromLlama } from '../shared/model/hf/config-schema.ts';
import { llamaToHfTensors } from '../shared/model/hf/to-hf-tensors.ts';
import { writeHfFolder } from '../shared/model/hf/testing/write-hf-folder.ts';
import { checkpointDirOf } from '../shared/model/hf/hf-base.node.ts';
import { describeMethod } from './method-state.ts';
import { resolveRunBase } from './run-base.ts';

const LLAMA: LlamaConfigInput = {
  vocabSize: 256,
  contextLength: 32,
  dModel: 16,
  layers: 1,
  heads: 2,
  kvHeads: 1,
  intermediateSize: 32,
};
let root: string;
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fedpeft-run-base-hf-'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

async function folder(name: string, config: LlamaConfigInput): Promise<string> {
  const model = new Llama(config, { seed: 2 });
  const dir = join(root, name);
  await writeHfFolder(dir, {
    config: hfConfigFromLlama(model.config),
    tensors: llamaToHfTensors(model),
    dtype: 'F16',
  });
  model.dispose();
  return dir;
}

describe('hf:<dir> run bases', () => {
  it("the coordinator and a client's --base hf:<dir> agree on the fingerprint; the folder sets the model", async () => {
    const dir = await folder('llama', LLAMA);
    const base = await resolveRunBase(`hf:${dir}`, { cacheDir: join(root, 'coordinator-cache') });
    expect(base.model?.name).toBe('tiny-llama');
    expect(base.model?.config).toMatchObject({ dModel: 16, kvHeads: 1, vocabSize: 256 });
    // A client converting its own copy (another cache) gets the same bytes.
    const clientDir = await checkpointDirOf(`hf:${dir}`, { cacheDir: join(root, 'client-cache') });
    expect(clientDir).not.toBe(base.dir);
    expect((await checkpointFingerprint(clientDir)).sha256).toBe(base.sha256);
    const described = describeMethod({
      model: base.model!.name,
      modelConfig: base.model!.config,
      method: 'pica',
      methodConfig: { r: 2, roles: ['q'] },
      seed: 1,
      base,
    });
    expect(described.base).toEqual({ sha256: base.sha256, bytes: base.bytes });
    expect(await checkpointDirOf('runs/base')).toBe('runs/base');
  });

  it('refuses a folder whose vocabulary the byte-reading clients cannot feed', async () => {
    const dir = await folder('big-vocab', { ...LLAMA, vocabSize: 300 });
    await expect(resolveRunBase(`hf:${dir}`, { cacheDir: join(root, 'c3') })).rejects.toThrow(
      /300-token vocabulary/,
    );
  });
});
