/**
 * A classification federation end to end, in-process: spam emails split over a few clients by a Dirichlet
 * label skew, an MLP classifier trained in full on its `up` and `head` Linears with FedAvg. The seeded,
 * untrained classifier is the base; after a few rounds the global model must classify held-out mail better
 * than it did, and every record of the run folder must carry accuracies (perplexities null).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../shared/tensor/backend.ts';
import { tf } from '../../shared/tensor/tf.ts';
import { simulate } from '../../simulations/simulate.ts';
import { ScenarioFleetRunner } from '../../simulations/runner/fleet-runner.ts';
import { tempDir, tinyScenario } from './simulate-fixtures.ts';

const quiet = () => undefined;

describe('fleet runner: classification (spam)', () => {
  it(
    'trains a spam classifier whose accuracy beats the base, with accuracy records',
    { timeout: 120_000 },
    async () => {
      await useBackend('cpu');
      const before = tf.memory().numTensors;
      const scenario = tinyScenario({
        name: 'tiny-spam',
        data: { dataset: 'spam', partition: { kind: 'dirichlet', clients: 4, alpha: 2 } },
        model: { name: 'mlp-classifier', overrides: { inputDim: 512, hiddenDims: [16] } },
        method: { name: 'full', config: { roles: ['up', 'head'] } },
        strategy: { name: 'fedavg', sampling: { fraction: 1, minClients: 4 } },
        training: { rounds: 3, localSteps: 15, batchSize: 32, learningRate: 0.02 },
        evaluation: { global: 'all', personal: true },
        transport: 'in-process',
        output: { dir: await tempDir('sim-cls'), plots: false },
      });
      const result = await simulate(new ScenarioFleetRunner(), scenario, { write: quiet });
      const dir = result.runs[0]!.dir;

      const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(summary.task).toBe('classification');
      expect(summary.rounds).toBe(3);
      expect(summary.base_ppl).toBeNull();
      const base = summary.base_accuracy as number;
      const global = summary.final_global_accuracy as number;
      const personal = summary.final_personal_accuracy as number;
      for (const a of [base, global, personal]) {
        expect(a).toBeGreaterThanOrEqual(0);
        expect(a).toBeLessThanOrEqual(1);
      }
      // A random MLP is near chance on ham/spam; three rounds of FedAvg must clearly improve on it.
      expect(global).toBeGreaterThan(Math.max(base, 0.85));
      expect(personal).toBeGreaterThan(base);

      const rows = (await readFile(join(dir, 'metrics.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, number | null>);
      expect(rows).toHaveLength(3);
      for (const r of rows) {
        expect(r.global_val_accuracy).toEqual(expect.any(Number));
        expect(r.personal_val_accuracy).toEqual(expect.any(Number));
        expect(r.global_val_loss).toEqual(expect.any(Number));
        expect(r.global_val_ppl).toBeNull();
      }
      expect(rows.at(-1)!.global_val_accuracy).toBeCloseTo(global, 10);

      const clients = JSON.parse(await readFile(join(dir, 'clients.json'), 'utf8')) as Array<
        Record<string, unknown>
      >;
      expect(clients).toHaveLength(4);
      for (const c of clients) {
        expect(c.base_accuracy).toEqual(expect.any(Number));
        expect(c.global_accuracy).toEqual(expect.any(Number));
        expect(c.personal_accuracy).toEqual(expect.any(Number));
        expect(c.base_ppl).toBeNull();
      }
      const report = await readFile(join(dir, 'report.md'), 'utf8');
      expect(report.toLowerCase()).toContain('accuracy');
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});
