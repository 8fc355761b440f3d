import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import { Rng } from '../../tensor/rng.ts';
import type { Batch } from '../../model/types.ts';
import { attachAdapter, listAdapterMethods } from '../index.ts';
import { FixtureModel, fixtureBatch } from '../testing/fixture-model.ts';
import { FIXTURE_CONFIGS } from '../testing/cases.ts';
import { train } from '../testing/sgd.ts';
import { kernelsOf, logitsOf, maxAbsDiff, randomizeTrainables } from '../testing/helpers.ts';

/** Every preset, plus the non-default variants of the core that deserve the same checks. */
const CASES: [string, string, Record<string, unknown>][] = [
  ...Object.entries(FIXTURE_CONFIGS).map(
    ([name, cfg]) => [name, name, cfg] as [string, string, Record<string, unknown>],
  ),
  ['pica (output projection)', 'pica', { r: 2, projection: 'output' }],
  [
    'losa (trained A, per-layer ranks)',
    'losa',
    { r: 3, alpha: 6, trainA: true, ranks: { 'layers.0.attn.q': 1 } },
  ],
  ['cla (on up/down)', 'cla', { r: 3, alpha: 6, roles: ['up', 'down'] }],
];

const sparsityFor = (method: string) => (method === 'losa' ? 0.3 : 0);

describe('every preset on the fixture model (cpu)', () => {
  let batch: Batch;
  beforeAll(async () => {
    await useBackend('cpu');
    batch = fixtureBatch(11, 16);
  });
  afterAll(() => tf.dispose([batch.inputs, batch.targets]));

  it('covers every registered method', () => {
    const covered = new Set(CASES.map((c) => c[1]));
    expect(
      listAdapterMethods()
        .map((m) => m.name)
        .filter((n) => !covered.has(n)),
    ).toEqual([]);
  });

  describe.each(CASES)('%s', (_label, method, config) => {
    it('equals the base exactly at step 0, trains without leaks, merges, unmerges and detaches cleanly', () => {
      const model = new FixtureModel({ seed: 3, sparsity: sparsityFor(method) });
      const base = logitsOf(model, batch.inputs);
      const baseKernels = kernelsOf(model);
      const before = tf.memory().numTensors;
      const adapter = attachAdapter(model, method, config, { seed: 7 });

      expect(logitsOf(model, batch.inputs)).toEqual(base);

      const firstLoss = train(model, adapter, batch, 1, 0.2);
      const afterOne = tf.memory().numTensors;
      const lastLoss = train(model, adapter, batch, 19, 0.2);
      expect(tf.memory().numTensors).toBe(afterOne);
      expect(lastLoss).toBeLessThan(firstLoss);

      const adapted = logitsOf(model, batch.inputs);
      expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1e-3);
      adapter.merge();
      expect(adapter.merged).toBe(true);
      expect(maxAbsDiff(logitsOf(model, batch.inputs), adapted)).toBeLessThan(1e-5);
      adapter.unmerge();
      for (const [name, k] of kernelsOf(model))
        expect(maxAbsDiff(k, baseKernels.get(name)!)).toBeLessThan(1e-6);
      expect(maxAbsDiff(logitsOf(model, batch.inputs), adapted)).toBeLessThan(1e-5);

      adapter.detach();
      expect(maxAbsDiff(logitsOf(model, batch.inputs), base)).toBeLessThan(1e-5);
      expect(tf.memory().numTensors).toBe(before);
      expect(model.linears().every((l) => l.hook === null)).toBe(true);
      model.dispose();
    });

    it('has gradients that match central finite differences', () => {
      const model = new FixtureModel({ seed: 3, sparsity: sparsityFor(method) });
      const adapter = attachAdapter(model, method, config, { seed: 7 });
      randomizeTrainables(adapter, 5);
      const vars = adapter.trainableVariables();
      const { value, grads } = tf.variableGrads(() => model.loss(batch), vars);
      value.dispose();
      const lossAt = () => tf.tidy(() => model.loss(batch).dataSync()[0] as number);
      const rng = new Rng(17);
      const eps = 1e-2;
      let checked = 0;
      for (const v of vars) {
        const g = grads[v.name]!.dataSync();
        for (let probe = 0; probe < 3; probe++) {
          const i = rng.int(v.size);
          const original = v.dataSync().slice();
          const bump = (delta: number) => {
            const data = original.slice();
            data[i] = (data[i] as number) + delta;
            const t = tf.tensor(data, v.shape);
            v.assign(t);
            t.dispose();
          };
          bump(eps);
          const up = lossAt();
          bump(-eps);
          const down = lossAt();
          bump(0);
          const fd = (up - down) / (2 * eps);
          expect(Math.abs(fd - (g[i] as number))).toBeLessThan(3e-4 + 2e-2 * Math.abs(fd));
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(0);
      tf.dispose(grads);
      adapter.detach();
      model.dispose();
    });
  });
});

describe('cpu and wasm gradients agree', () => {
  const gradsOn = async (backend: 'cpu' | 'wasm', method: string, config: Record<string, unknown>) => {
    await useBackend(backend);
    const model = new FixtureModel({ seed: 3, sparsity: sparsityFor(method) });
    const batch = fixtureBatch(11, 16);
    const adapter = attachAdapter(model, method, config, { seed: 7 });
    randomizeTrainables(adapter, 5);
    const vars = adapter.trainableVariables();
    const { value, grads } = tf.variableGrads(() => model.loss(batch), vars);
    const out = vars.map((v) => grads[v.name]!.dataSync().slice());
    value.dispose();
    tf.dispose([grads, batch.inputs, batch.targets]);
    adapter.detach();
    model.dispose();
    return out;
  };

  it.each(CASES)('%s', async (_label, method, config) => {
    const cpu = await gradsOn('cpu', method, config);
    const wasm = await gradsOn('wasm', method, config);
    expect(wasm.length).toBe(cpu.length);
    cpu.forEach((g, i) => expect(maxAbsDiff(g, wasm[i]!)).toBeLessThan(1e-5));
    await useBackend('cpu');
  });
});
