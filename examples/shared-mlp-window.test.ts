/**
 * The checks every adapter method should pass, run on the example method of docs/custom-adapter.md — and
 * proof that `--plugin` makes a user's method available to the CLI.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { tf } from '../shared/tensor/tf.ts';
import { attachAdapter, getAdapterMethod } from '../shared/adapters/index.ts';
import { FixtureModel, fixtureBatch } from '../shared/adapters/testing/fixture-model.ts';
import { kernelsOf, logitsOf, maxAbsDiff } from '../shared/adapters/testing/helpers.ts';
import { train } from '../shared/adapters/testing/sgd.ts';
import './shared-mlp-window.ts';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/fedpeft.js', import.meta.url));
const plugin = fileURLToPath(new URL('./shared-mlp-window.ts', import.meta.url));

describe('example method mlp-window', () => {
  it('is registered with its defaults', () => {
    const method = getAdapterMethod('mlp-window');
    expect(method.configSchema.parse({})).toEqual({ r: 8, alpha: 16, roles: ['up', 'down'] });
  });

  it('starts at the base, learns, merges exactly and leaks nothing', () => {
    const model = new FixtureModel({ seed: 1 });
    const batch = fixtureBatch(2, 16);
    // The first forward caches each frozen kernel's transpose; count tensors after it.
    const base = logitsOf(model, batch.inputs);
    const before = tf.memory().numTensors;
    const adapter = attachAdapter(model, 'mlp-window', { r: 2 }, { seed: 7 });
    expect(maxAbsDiff(logitsOf(model, batch.inputs), base)).toBe(0);
    const first = train(model, adapter, batch, 1, 0.1);
    const last = train(model, adapter, batch, 30, 0.1);
    expect(last).toBeLessThan(first);
    const adapted = logitsOf(model, batch.inputs);
    adapter.merge();
    expect(maxAbsDiff(logitsOf(model, batch.inputs), adapted)).toBeLessThan(1e-5);
    adapter.unmerge();
    expect(
      [...adapter.shared().keys()].every((k) => k.includes('.mlp') || k.includes('up') || k.includes('down')),
    ).toBe(true);
    expect(adapter.derived().size).toBeGreaterThan(0); // the seeded window offset
    adapter.detach();
    // Merging refreshed the kernels' cached transposes; one forward re-creates them, then counts must match.
    expect(maxAbsDiff(logitsOf(model, batch.inputs), base)).toBeLessThan(1e-6);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([batch.inputs, batch.targets]);
    model.dispose();
  });

  it('two clients with the same seed derive the same window; averaging B is exact', () => {
    const a = new FixtureModel({ seed: 3 });
    const b = new FixtureModel({ seed: 3 });
    const adA = attachAdapter(a, 'mlp-window', { r: 2 }, { seed: 11 });
    const adB = attachAdapter(b, 'mlp-window', { r: 2 }, { seed: 11 });
    expect(Array.from(adA.signature())).toEqual(Array.from(adB.signature()));
    const base = kernelsOf(a);
    train(a, adA, fixtureBatch(4, 16), 10, 0.1);
    train(b, adB, fixtureBatch(5, 16), 10, 0.1);
    // Mean of the shared factors, applied to one adapter...
    const mean = new Map([...adA.shared()].map(([k, t]) => [k, tf.div(tf.add(t, adB.shared().get(k)!), 2)]));
    // ...equals the mean of the two clients' merged weight updates.
    adA.merge();
    adB.merge();
    const mergedA = kernelsOf(a);
    const mergedB = kernelsOf(b);
    adA.unmerge();
    adA.setShared(mean);
    adA.merge();
    const mergedMean = kernelsOf(a);
    for (const [name, k0] of base) {
      const expected = k0.map((v, i) => (mergedA.get(name)![i]! - v + (mergedB.get(name)![i]! - v)) / 2 + v);
      expect(maxAbsDiff(mergedMean.get(name)!, expected)).toBeLessThan(1e-5);
    }
    tf.dispose([...mean.values()]);
    adA.detach();
    adB.detach();
    a.dispose();
    b.dispose();
  });

  it('is usable from the CLI through --plugin', async () => {
    const { stdout } = await run(process.execPath, [bin, '--plugin', plugin, 'methods', '--json'], {
      timeout: 90_000,
    });
    const names = (JSON.parse(stdout) as { methods: { method: string }[] }).methods.map((m) => m.method);
    expect(names).toContain('mlp-window');
    const err = await run(process.execPath, [bin, '--plugin', './no/such/plugin.ts', 'methods'], {
      timeout: 90_000,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/cannot load plugin/);
  });
});
