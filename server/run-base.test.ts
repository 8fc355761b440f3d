/**
 * The coordinator's view of a `model.base` checkpoint: its fingerprint is the sha-256 of the weights file,
 * and `describeMethod` on it derives its state from the checkpoint (not from the seeded base); a checkpoint of another architecture is refused with the differing fields.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveCheckpoint } from '../shared/model/checkpoint.ts';
import { createModel } from '../shared/model/zoo.ts';
import { useBackend } from '../shared/tensor/backend.ts';
import { tf } from '../shared/tensor/tf.ts';
import { describeMethod } from './method-state.ts';
import { resolveRunBase } from './run-base.ts';

const METHOD = { method: 'pica', methodConfig: { r: 4, roles: ['q', 'v'] }, seed: 7 };
let root: string;

beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fedpeft-run-base-'));
  const model = createModel('test-gpt', { seed: 1234 });
  await saveCheckpoint(join(root, 'base'), model);
  model.dispose();
});
afterAll(async () => rm(root, { recursive: true, force: true }));

describe('resolveRunBase + describeMethod', () => {
  it('fingerprints the weights file and describes the method on the checkpoint', async () => {
    const before = tf.memory().numTensors;
    const base = await resolveRunBase(join(root, 'base'));
    const file = await readFile(join(root, 'base', 'model.safetensors'));
    expect(base.sha256).toBe(createHash('sha256').update(file).digest('hex'));
    expect(base.bytes).toBe(file.length);

    const onBase = describeMethod({ model: 'test-gpt', modelConfig: {}, ...METHOD, base });
    const seeded = describeMethod({ model: 'test-gpt', modelConfig: {}, ...METHOD });
    expect(onBase.base).toEqual({ sha256: base.sha256, bytes: base.bytes });
    expect(seeded.base).toBeUndefined();
    const diff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    // PiCa's projectors come from the base weights: another base, another signature.
    expect(diff(onBase.signature, seeded.signature)).toBeGreaterThan(1e-3);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses a checkpoint that is not the run's model, naming the differing fields", async () => {
    const base = await resolveRunBase(join(root, 'base'));
    expect(() => describeMethod({ model: 'test-gpt', modelConfig: { layers: 3 }, ...METHOD, base })).toThrow(
      /layers is \d+, the run needs 3/,
    );
  });
});
