import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import type { Batch } from '../../model/types.ts';
import { attachAdapter } from '../index.ts';
import type { Adapter } from '../types.ts';
import { FixtureModel, fixtureBatch } from '../testing/fixture-model.ts';
import { kernelsOf, logitsOf, maxAbs, maxAbsDiff } from '../testing/helpers.ts';
import { train, sgdStep } from '../testing/sgd.ts';

/** Shapes of every matMul operand run by one training step (forward + backward). */
async function matMulOperandShapes(model: FixtureModel, adapter: Adapter, batch: Batch): Promise<number[][]> {
  const info = await tf.profile(() => {
    sgdStep(model, adapter, batch, 0.1);
  });
  return info.kernels.filter((k) => /MatMul/.test(k.name)).flatMap((k) => k.inputShapes);
}

describe('cLA family', () => {
  let batch: Batch;
  beforeAll(async () => {
    await useBackend('cpu');
    batch = fixtureBatch(9, 16);
  });
  afterAll(() => tf.dispose([batch.inputs, batch.targets]));

  it('never multiplies by an [in, r] matrix (LoRA does, so the probe works)', async () => {
    // q and v are [6, 6], r = 2: an A operand would be [6, 2] (or its transpose [2, 6]).
    const isA = (s: number[]) => (s[0] === 6 && s[1] === 2) || (s[0] === 2 && s[1] === 6);
    const shapesFor = async (method: string) => {
      const model = new FixtureModel({ seed: 3 });
      const adapter = attachAdapter(model, method, { r: 2, alpha: 4 }, { seed: 7 });
      const shapes = await matMulOperandShapes(model, adapter, batch);
      adapter.detach();
      model.dispose();
      return shapes;
    };
    const cla = await shapesFor('cla');
    const lora = await shapesFor('lora');
    expect(cla.length).toBeGreaterThan(10);
    expect(cla.filter(isA)).toEqual([]);
    expect(lora.filter(isA).length).toBeGreaterThan(0);
  });

  it('c3la advanceLink folds s B into rows w..w+r of K exactly, zeroes B and shifts the window by r (mod in)', () => {
    const model = new FixtureModel({ seed: 3 });
    const adapter = attachAdapter(model, 'c3la', { r: 4, alpha: 8, roles: ['q'] }, { seed: 7 });
    expect(adapter.currentLink).toBe(0);
    train(model, adapter, batch, 5, 0.3);
    const B = adapter.shared().get('layers.0.attn.q.B')!.dataSync().slice();
    const K0 = kernelsOf(model).get('layers.0.attn.q')!;
    const before = logitsOf(model, batch.inputs);
    expect(Array.from(adapter.derived().get('layers.0.attn.q.window')!.dataSync())).toEqual([0, 1, 2, 3]);

    adapter.advanceLink!();
    expect(adapter.currentLink).toBe(1);
    const K1 = kernelsOf(model).get('layers.0.attn.q')!;
    const expected = K0.slice();
    for (let j = 0; j < 4; j++) for (let c = 0; c < 6; c++) expected[j * 6 + c]! += 2 * B[j * 6 + c]!;
    expect(maxAbsDiff(K1, expected)).toBeLessThan(1e-6);
    expect(maxAbs(adapter.shared().get('layers.0.attn.q.B')!.dataSync())).toBe(0);
    // The window wraps: 4, 5, 0, 1. The function is unchanged by the fold.
    expect(Array.from(adapter.derived().get('layers.0.attn.q.window')!.dataSync())).toEqual([4, 5, 0, 1]);
    expect(maxAbsDiff(logitsOf(model, batch.inputs), before)).toBeLessThan(1e-5);

    // Training continues on the new window; setLink jumps (folding again).
    const loss = train(model, adapter, batch, 3, 0.3);
    expect(Number.isFinite(loss)).toBe(true);
    adapter.setLink!(3);
    expect(Array.from(adapter.derived().get('layers.0.attn.q.window')!.dataSync())).toEqual([0, 1, 2, 3]);
    adapter.detach();
    model.dispose();
  });

  it('random-c3la visits every window once per cycle, in the same seeded order on every client', () => {
    const order = () => {
      const model = new FixtureModel({ seed: 3, hidden: 12 });
      const adapter = attachAdapter(model, 'random-c3la', { r: 2, alpha: 4, roles: ['down'] }, { seed: 11 });
      const seen: number[] = [];
      for (let link = 0; link < 6; link++) {
        if (link > 0) adapter.advanceLink!();
        seen.push(adapter.derived().get('layers.0.mlp.down.window')!.dataSync()[0]!);
      }
      adapter.detach();
      model.dispose();
      return seen;
    };
    const a = order();
    expect([...a].sort((x, y) => x - y)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(order()).toEqual(a);
    expect(a).not.toEqual([0, 2, 4, 6, 8, 10]);
  });

  it("random-cla puts each layer's window at a seeded offset", () => {
    const offsets = (seed: number) => {
      const model = new FixtureModel({ seed: 3, hidden: 16 });
      const adapter = attachAdapter(model, 'random-cla', { r: 2, alpha: 4, roles: ['down'] }, { seed });
      const w = [...adapter.derived()].map(([, t]) => t.dataSync()[0]!);
      adapter.detach();
      model.dispose();
      return w;
    };
    expect(offsets(1)).toEqual(offsets(1));
    expect([1, 2, 3, 4].map((s) => offsets(s).join()).some((w) => w !== offsets(1).join())).toBe(true);
  });

  it('chains of LoRA: cola re-initialises A, rac-lora resamples the frozen A; both fold and zero B', () => {
    for (const method of ['cola', 'rac-lora']) {
      const model = new FixtureModel({ seed: 3 });
      const adapter = attachAdapter(model, method, { r: 2, alpha: 4, roles: ['q'] }, { seed: 7 });
      const aKey = 'layers.0.attn.q.A';
      const aMap = method === 'cola' ? adapter.shared() : adapter.derived();
      const A0 = aMap.get(aKey)!.dataSync().slice();
      train(model, adapter, batch, 5, 0.3);
      const before = logitsOf(model, batch.inputs);
      const sig0 = adapter.signature();
      adapter.advanceLink!();
      expect(maxAbsDiff(logitsOf(model, batch.inputs), before)).toBeLessThan(1e-5);
      expect(maxAbs(adapter.shared().get('layers.0.attn.q.B')!.dataSync())).toBe(0);
      expect(maxAbsDiff(aMap.get(aKey)!.dataSync(), A0)).toBeGreaterThan(1e-3);
      if (method === 'rac-lora') expect(maxAbsDiff(adapter.signature(), sig0)).toBeGreaterThan(1e-4);
      adapter.detach();
      model.dispose();
    }
  });

  it('methods without links refuse to change link', () => {
    const model = new FixtureModel({ seed: 3 });
    const adapter = attachAdapter(model, 'cla', { r: 2, alpha: 4 }, { seed: 7 });
    expect(adapter.currentLink).toBeUndefined();
    expect(() => adapter.setLink!(1)).toThrow(/not a chained method/);
    adapter.detach();
    model.dispose();
  });
});
