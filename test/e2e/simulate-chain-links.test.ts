/**
 * `method.roundsPerLink` in a scenario reaches the coordinator: with one round per link, c3LA's second round
 * trains a fresh link on top of the folded first one, so its global state differs from cLA's (same seed, same
 * data, same rank), and the summary says how many links ran. With the coordinator's old fixed default (5) a
 * 2-round c3LA run never left link 0 and was cLA.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../shared/tensor/backend.ts';
import { parseSafetensors } from '../../shared/model/safetensors.ts';
import { simulate } from '../../simulations/simulate.ts';
import { ScenarioFleetRunner } from '../../simulations/runner/fleet-runner.ts';
import { adapterRoundFile } from '../../simulations/runner/run-adapter.ts';
import { tempDir, tinyScenario } from './simulate-fixtures.ts';

async function run(method: 'cla' | 'c3la', dir: string) {
  const scenario = tinyScenario({
    name: `links-${method}`,
    transport: 'in-process',
    method: { name: method, config: { r: 2, alpha: 4 }, roundsPerLink: 1 },
    output: { dir, plots: false },
  });
  const result = await simulate(new ScenarioFleetRunner(), scenario, { write: () => undefined });
  const run = result.runs[0]!;
  const finalState = parseSafetensors(await readFile(join(run.dir, adapterRoundFile(2)))).tensors;
  return { summary: run.summary, finalState };
}

describe('chain links in a simulation', () => {
  it('c3LA with roundsPerLink 1 runs two links and differs from cLA', { timeout: 180_000 }, async () => {
    await useBackend('cpu');
    const dir = await tempDir('sim-links');
    const cla = await run('cla', dir);
    const c3la = await run('c3la', dir);
    expect(c3la.summary.links).toBe(2);
    expect(cla.summary.links).toBeNull();
    let maxDiff = 0;
    for (const [name, t] of c3la.finalState) {
      const u = cla.finalState.get(name);
      if (!u || u.data.length !== t.data.length) {
        maxDiff = Infinity;
        continue;
      }
      for (let i = 0; i < t.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(t.data[i]! - u.data[i]!));
    }
    expect(maxDiff).toBeGreaterThan(1e-6);
  });
});
