import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../shared/tensor/tf.ts';
import { useBackend } from '../shared/tensor/backend.ts';
import { Rng } from '../shared/tensor/rng.ts';
import { createModel } from '../shared/model/zoo.ts';
import { saveCheckpoint } from '../shared/model/checkpoint.ts';
import type { TextDocument } from '../shared/data/text-document.ts';
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import { LocalLmData } from './local-lm-data.ts';
import { ClientTrainer, type ClientRunConfig, type LocalRound } from './trainer.ts';
import { describeMethod } from '../server/method-state.ts';

/** Repetitive synthetic text: a byte-level model learns it within a few dozen steps. */
function documents(seed: number, count = 6): TextDocument[] {
  const rng = new Rng(seed);
  const words = ['the', 'federated', 'adapter', 'round', 'client', 'shares', 'only', 'its', 'factor'];
  return Array.from({ length: count }, (_, i) => ({
    id: `doc-${i}`,
    text: Array.from({ length: 120 }, () => words[rng.int(words.length)]).join(' '),
    attributes: {},
  }));
}

const PICA: ClientRunConfig = { model: 'test-gpt', method: 'pica', methodConfig: { r: 4 }, seed: 7 };
const round = (roundId: number, extra: Partial<LocalRound> = {}): LocalRound => ({
  roundId,
  localSteps: 4,
  batchSize: 4,
  learningRate: 1e-2,
  ...extra,
});
const data = () =>
  LocalLmData.fromDocuments(documents(1), 7, 'test', { contextLength: 32, maxEvalWindows: 8 });

function maxDiff(a: HostTensorMap, b: HostTensorMap): number {
  let d = 0;
  for (const [name, t] of a) {
    const u = b.get(name)!;
    for (let i = 0; i < t.data.length; i++) d = Math.max(d, Math.abs(t.data[i]! - u.data[i]!));
  }
  return d;
}

describe('ClientTrainer', () => {
  let dir: string;
  beforeAll(async () => {
    await useBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'fedpeft-trainer-'));
    const base = createModel('test-gpt', { seed: 7 });
    await saveCheckpoint(join(dir, 'base'), base);
    base.dispose();
    const other = createModel('test-gpt', { seed: 7, dModel: 16 });
    await saveCheckpoint(join(dir, 'other'), other);
    other.dispose();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a chained method's signature stays link 0's after training a later link (what the coordinator checks)", async () => {
    for (const method of ['c3la', 'rac-lora']) {
      const run: ClientRunConfig = { model: 'test-gpt', method, methodConfig: { r: 4 }, seed: 7 };
      const reference = describeMethod({
        model: run.model,
        modelConfig: {},
        method,
        methodConfig: { r: 4 },
        seed: run.seed,
      }).signature;
      const trainer = await ClientTrainer.create({ run, data: data() });
      try {
        await trainer.train(round(2, { linkIndex: 1, localSteps: 1 }), null);
        expect(trainer.adapter.currentLink, method).toBe(1);
        // The link-1 derived state differs (so the check below is not vacuous) ...
        const atLink1 = trainer.adapter.signature();
        expect(
          atLink1.some((v, i) => Math.abs(v - reference[i]!) > 1e-3),
          method,
        ).toBe(true);
        // ... but the Join carries link 0's, equal to the coordinator's reference.
        expect(Array.from(trainer.signature()), method).toEqual(Array.from(reference));
      } finally {
        trainer.dispose();
      }
    }
  });

  it('lowers the local loss, and personal validation loss ends below global', async () => {
    const trainer = await ClientTrainer.create({
      run: PICA,
      data: data(),
      baseCheckpoint: join(dir, 'base'),
    });
    try {
      const first = await trainer.train(round(1, { localSteps: 30 }), null);
      expect(first.metrics.personalValLoss!).toBeLessThan(first.metrics.globalValLoss! - 0.1);
      expect(first.metrics.globalValPpl).toBeCloseTo(Math.exp(first.metrics.globalValLoss!), 6);
      expect(first.metrics.steps).toBe(30);
      // The next round starts from what was learnt: its mean training loss is lower than round 1's.
      const second = await trainer.train(round(2, { localSteps: 10 }), first.shared);
      expect(second.metrics.trainLoss!).toBeLessThan(first.metrics.trainLoss!);
    } finally {
      trainer.dispose();
    }
  });

  it('the adapted model equals the base at step 0 (B starts at zero)', async () => {
    const trainer = await ClientTrainer.create({
      run: PICA,
      data: data(),
      baseCheckpoint: join(dir, 'base'),
    });
    const withAdapter = (await trainer.evaluate()).loss;
    trainer.adapter.detach();
    const baseOnly = (await trainer.evaluate()).loss;
    trainer.model.dispose();
    expect(withAdapter).toBe(baseOnly);
  });

  it('uploads exactly the shared tensors (never private or derived)', async () => {
    for (const [method, methodConfig] of [
      ['pica', { r: 4 }],
      ['fedsa-lora', { r: 2 }],
    ] as const) {
      const trainer = await ClientTrainer.create({
        run: { ...PICA, method, methodConfig },
        data: data(),
        baseCheckpoint: join(dir, 'base'),
      });
      try {
        const update = await trainer.train(
          round(1, { evaluateGlobal: false, evaluatePersonal: false }),
          null,
        );
        const declared = [...trainer.adapter.shared().keys()].sort();
        expect([...update.shared.keys()].sort()).toEqual(declared);
        for (const name of [...trainer.adapter.private().keys(), ...trainer.adapter.derived().keys()]) {
          expect(update.shared.has(name)).toBe(false);
        }
        expect([...update.trainedExtents.keys()].sort()).toEqual(declared);
        if (method === 'fedsa-lora') expect(trainer.adapter.private().size).toBeGreaterThan(0);
        if (method === 'pica') expect(trainer.adapter.derived().size).toBeGreaterThan(0);
        expect(update.metrics.globalValLoss).toBeNull();
      } finally {
        trainer.dispose();
      }
    }
  });

  it('reports nested-rank extents for a client of smaller rank', async () => {
    const trainer = await ClientTrainer.create({
      run: PICA,
      data: data(),
      baseCheckpoint: join(dir, 'base'),
    });
    try {
      const update = await trainer.train(
        round(1, { clientRank: 2, evaluateGlobal: false, evaluatePersonal: false }),
        null,
      );
      for (const [name, extent] of update.trainedExtents) {
        const shape = update.shared.get(name)!.shape;
        expect(extent).toEqual([2, ...shape.slice(1)]);
        // Rows beyond the client's rank keep their (zero) starting values.
        expect(Array.from(update.shared.get(name)!.data.subarray(2 * shape[1]!)).every((v) => v === 0)).toBe(
          true,
        );
      }
    } finally {
      trainer.dispose();
    }
  });

  it('leaks no tensors across rounds', async () => {
    const trainer = await ClientTrainer.create({
      run: PICA,
      data: data(),
      baseCheckpoint: join(dir, 'base'),
    });
    try {
      let global = (await trainer.train(round(1), null)).shared;
      const before = tf.memory().numTensors;
      for (let r = 2; r <= 4; r++) {
        global = (await trainer.train(round(r, { proximalMu: 0.1 }), global)).shared;
        await trainer.evaluateWith(global);
        await trainer.exportPrivateState();
      }
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      trainer.dispose();
    }
  });

  it('a trainer restored from exported private state continues exactly like the original', async () => {
    const make = () => ClientTrainer.create({ run: PICA, data: data(), baseCheckpoint: join(dir, 'base') });
    const original = await make();
    const first = await original.train(round(1), null);
    const state = await original.exportPrivateState();
    const continued = await original.train(round(2), first.shared);
    original.dispose();

    const restored = await make();
    restored.importPrivateState(state);
    expect(maxDiff(restored.personal()!, first.shared)).toBe(0);
    const resumed = await restored.train(round(2), first.shared);
    restored.dispose();
    expect(maxDiff(resumed.shared, continued.shared)).toBe(0);

    // Without the optimizer state the update differs (so the check above is not vacuous).
    const fresh = await make();
    const differs = await fresh.train(round(2), first.shared);
    fresh.dispose();
    expect(maxDiff(differs.shared, continued.shared)).toBeGreaterThan(0);
  });

  it('refuses a base checkpoint of another architecture', async () => {
    await expect(
      ClientTrainer.create({ run: PICA, data: data(), baseCheckpoint: join(dir, 'other') }),
    ).rejects.toThrow(/dModel is 16, the run needs 32/);
  });

  it('refuses a global state of the wrong shape', async () => {
    const trainer = await ClientTrainer.create({
      run: PICA,
      data: data(),
      baseCheckpoint: join(dir, 'base'),
    });
    try {
      const wrong = new Map(
        [...(await trainer.sharedValues())].map(([n, h]) => [n, { shape: [1], data: h.data.subarray(0, 1) }]),
      );
      await expect(trainer.train(round(1), wrong)).rejects.toThrow(/does not fit/);
    } finally {
      trainer.dispose();
    }
  });
});
