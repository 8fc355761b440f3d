import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import type { Gpt } from '../model/gpt.ts';
import { runPretraining, SUMMARY_FILE, type PretrainSummary } from './pretrain-run.node.ts';
import type { PretrainConfigInput } from './pretrain-config.ts';

// test-gpt, a few dozen steps: seconds on wasm.
const CONFIG: PretrainConfigInput = {
  size: 'test-gpt',
  corpus: 'moby-dick',
  seed: 3,
  steps: 40,
  learningRate: 1e-2,
  warmupSteps: 5,
  evalEvery: 20,
  evalWindows: 16,
  finalEvalWindows: 32,
};

let root: string;
beforeAll(async () => {
  await useBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'fedpeft-pretrain-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function weights(model: Gpt): Map<string, Float32Array> {
  return new Map([...model.parameters()].map(([n, v]) => [n, v.dataSync<'float32'>().slice()]));
}

describe('runPretraining', () => {
  it('learns, checkpoints a model that reloads to identical logits, and resumes exactly where it stopped', async () => {
    const before = tf.memory().numTensors;

    // Uninterrupted 40 steps.
    const straightLosses = new Map<number, number>();
    const straight = await runPretraining({
      config: CONFIG,
      outDir: join(root, 'straight'),
      events: { onStep: (s) => straightLosses.set(s.step, s.loss) },
    });
    expect(straight.steps).toBe(40);
    expect(straight.stoppedBy).toBe('budget');
    // Validation loss goes down: from ~ln(256) = 5.55 at initialisation, and between the two validations.
    expect(straight.history.map((h) => h.step)).toEqual([20, 40]);
    const [mid, end] = straight.history as [(typeof straight.history)[0], (typeof straight.history)[0]];
    expect(mid.validationLoss).toBeLessThan(Math.log(256) - 0.5);
    expect(end.validationLoss).toBeLessThan(mid.validationLoss);
    expect(straight.validation.bitsPerByte).toBeLessThan(straight.unigramBitsPerByte + 0.5);
    const summary = JSON.parse(
      await readFile(join(root, 'straight', SUMMARY_FILE), 'utf8'),
    ) as PretrainSummary;
    expect(summary.steps).toBe(40);
    expect(summary.validation.loss).toBeCloseTo(straight.validation.loss, 10);

    // The published checkpoint reloads to bit-identical logits.
    const reloaded = (await loadCheckpoint(join(root, 'straight'))) as Gpt;
    const ids = tf.tensor2d([[84, 104, 101, 32, 119, 104, 97, 108, 101]], [1, 9], 'int32');
    const a = straight.model.logits(ids);
    const b = reloaded.logits(ids);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([ids, a, b]);
    reloaded.dispose();

    // Interrupted at step 20 (the same 40-step budget, so the same schedule), then resumed.
    const stop = new AbortController();
    const first = await runPretraining({
      config: CONFIG,
      outDir: join(root, 'resumed'),
      signal: stop.signal,
      events: { onStep: (s) => s.step === 20 && stop.abort() },
    });
    expect(first.stoppedBy).toBe('signal');
    expect(first.steps).toBe(20);
    first.model.dispose();

    const resumedLosses = new Map<number, number>();
    let resumedFrom = -1;
    const resumed = await runPretraining({
      config: CONFIG,
      outDir: join(root, 'resumed'),
      resume: true,
      events: {
        onStart: (s) => (resumedFrom = s.resumedFromStep),
        onStep: (s) => resumedLosses.set(s.step, s.loss),
      },
    });
    expect(resumedFrom).toBe(20);
    expect([...resumedLosses.keys()]).toEqual(Array.from({ length: 20 }, (_, i) => 21 + i));
    // Same batches, same optimizer moments, same schedule: the resumed run *is* the straight one.
    for (const [step, loss] of resumedLosses) expect(loss, `step ${step}`).toBe(straightLosses.get(step));
    expect(resumed.history.map((h) => h.step)).toEqual([20, 40]);
    const ws = weights(straight.model);
    for (const [name, w] of weights(resumed.model)) expect(w, name).toEqual(ws.get(name));

    straight.model.dispose();
    resumed.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses to overwrite a run without --resume, and to resume with a different recipe', async () => {
    const dir = join(root, 'straight');
    await expect(runPretraining({ config: CONFIG, outDir: dir })).rejects.toThrow(/--resume/);
    await expect(
      runPretraining({ config: { ...CONFIG, learningRate: 2e-2 }, outDir: dir, resume: true }),
    ).rejects.toThrow(/learningRate/);
    await expect(
      runPretraining({ config: CONFIG, outDir: join(root, 'nothing-here'), resume: true }),
    ).rejects.toThrow(/does not exist/);
  });
});
