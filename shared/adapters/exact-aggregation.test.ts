import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import type { Batch } from '../model/types.ts';
import { attachAdapter } from './index.ts';
import type { Adapter } from './types.ts';
import { FixtureModel, fixtureBatch } from './testing/fixture-model.ts';
import { train } from './testing/sgd.ts';
import { kernelsOf, maxAbs } from './testing/helpers.ts';

/**
 * design.md §4: with one factor trained and the other identical on every client, averaging the shared factor
 * IS averaging the clients' weight updates; FedIT-style LoRA averaging is not (cross terms B_k A_j). Each
 * client here trains from the same global state on different data; we compare the weight update of the
 * aggregated adapter with the weighted mean of the clients' own merged weight updates.
 */
const WEIGHTS = [1, 2, 3];
const P = WEIGHTS.map((w) => w / WEIGHTS.reduce((a, b) => a + b, 0));

interface ClientResult {
  shared: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  update: Map<string, Float32Array>;
}

function runClient(
  method: string,
  config: Record<string, unknown>,
  batch: Batch,
  clientRank?: number,
): ClientResult {
  const model = new FixtureModel({ seed: 3, sparsity: method === 'losa' ? 0.3 : 0 });
  const base = kernelsOf(model);
  const adapter = attachAdapter(model, method, config, { seed: 7, ...(clientRank ? { clientRank } : {}) });
  train(model, adapter, batch, 12, 0.5);
  const shared = new Map([...adapter.shared()].map(([k, t]) => [k, t.dataSync<'float32'>().slice()]));
  const shapes = new Map([...adapter.shared()].map(([k, t]) => [k, [...t.shape]]));
  adapter.merge();
  const update = new Map([...kernelsOf(model)].map(([k, v]) => [k, v.map((x, i) => x - base.get(k)![i]!)]));
  adapter.detach();
  model.dispose();
  return { shared, shapes, update };
}

/** Weighted mean of the clients' weight updates, per layer. */
function meanUpdate(clients: ClientResult[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, first] of clients[0]!.update) {
    const acc = new Float32Array(first.length);
    clients.forEach((c, k) => c.update.get(name)!.forEach((v, i) => (acc[i]! += P[k]! * v)));
    out.set(name, acc);
  }
  return out;
}

/** The weight update a fresh client gets from `global` (setShared, then merge). */
function updateFrom(
  method: string,
  config: Record<string, unknown>,
  global: Map<string, tf.Tensor>,
  after?: (a: Adapter) => void,
) {
  const model = new FixtureModel({ seed: 3, sparsity: method === 'losa' ? 0.3 : 0 });
  const base = kernelsOf(model);
  const adapter = attachAdapter(model, method, config, { seed: 7 });
  adapter.setShared(global);
  after?.(adapter);
  if (!adapter.merged) adapter.merge();
  const update = new Map([...kernelsOf(model)].map(([k, v]) => [k, v.map((x, i) => x - base.get(k)![i]!)]));
  adapter.detach();
  model.dispose();
  return update;
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let d = 0;
  for (const [k, v] of a) v.forEach((x, i) => (d = Math.max(d, Math.abs(x - b.get(k)![i]!))));
  return d;
}

function maxOver(a: Map<string, Float32Array>): number {
  return Math.max(...[...a.values()].map(maxAbs));
}

describe('aggregating the shared factor vs averaging weight updates', () => {
  let batches: Batch[];
  beforeAll(async () => {
    await useBackend('cpu');
    batches = WEIGHTS.map((_, k) => fixtureBatch(100 + k, 12));
  });
  afterAll(() => batches.forEach((b) => tf.dispose([b.inputs, b.targets])));

  const weightedMean = (clients: ClientResult[]) => {
    const global = new Map<string, tf.Tensor>();
    for (const [name, first] of clients[0]!.shared) {
      const acc = new Float32Array(first.length);
      clients.forEach((c, k) => c.shared.get(name)!.forEach((v, i) => (acc[i]! += P[k]! * v)));
      global.set(name, tf.tensor(acc, clients[0]!.shapes.get(name)));
    }
    return global;
  };

  it.each([
    ['ffa-lora', { r: 2, alpha: 4 }],
    ['cla', { r: 2, alpha: 4 }],
    ['pica', { r: 2 }],
    ['losa', { r: 3, alpha: 6 }],
    ['rac-lora', { r: 2, alpha: 4 }],
    ['paca', { r: 2 }],
  ])('%s: weighted mean of the shared factor is exact (1e-5)', (method, config) => {
    const clients = batches.map((b) => runClient(method, config, b));
    const target = meanUpdate(clients);
    expect(maxOver(target)).toBeGreaterThan(1e-2); // the clients really moved
    const global = weightedMean(clients);
    const got = updateFrom(method, config, global);
    tf.dispose([...global.values()]);
    expect(maxDiff(got, target)).toBeLessThan(1e-5);
  });

  it('lora (FedIT: A and B averaged separately) is NOT exact', () => {
    const config = { r: 2, alpha: 4 };
    const clients = batches.map((b) => runClient('lora', config, b));
    const target = meanUpdate(clients);
    const global = weightedMean(clients);
    const got = updateFrom('lora', config, global);
    tf.dispose([...global.values()]);
    const gap = maxDiff(got, target);
    expect(gap).toBeGreaterThan(1e-3);
    expect(gap).toBeGreaterThan(100 * 1e-5);
  });

  it('flora: stacking [p_k A_k], [B_k] is exact for heterogeneous client ranks', () => {
    const config = { r: 3, alpha: 6 };
    const ranks = [1, 2, 3];
    const clients = batches.map((b, k) => runClient('flora', config, b, ranks[k]));
    expect(clients.map((c) => c.shapes.get('layers.0.attn.q.A')![1])).toEqual(ranks);
    const target = meanUpdate(clients);
    expect(maxOver(target)).toBeGreaterThan(1e-2);
    const stacked = new Map<string, tf.Tensor>();
    for (const name of clients[0]!.shared.keys()) {
      const isA = name.endsWith('.A');
      const parts = clients.map((c, k) => {
        const t = tf.tensor(c.shared.get(name)!, c.shapes.get(name));
        return isA ? tf.mul(t, P[k]!) : t;
      });
      stacked.set(name, tf.concat(parts, isA ? 1 : 0));
      tf.dispose(parts);
    }
    // setShared folds the stacked product into the base and starts fresh (B = 0), so merge adds nothing more.
    const got = updateFrom('flora', config, stacked, (a) => {
      expect(maxAbs(a.shared().get('layers.0.attn.q.B')!.dataSync())).toBe(0);
    });
    tf.dispose([...stacked.values()]);
    expect(maxDiff(got, target)).toBeLessThan(1e-5);
  });
});
