/** Small scenarios for the simulator's end-to-end tests (test-gpt, few steps, temp folders). */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scenarioSchema, type Scenario, type ScenarioInput } from '../../simulations/scenario.ts';

export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `fedpeft-${label}-`));
}

/** Four SOTU presidents, PiCa on test-gpt with a seeded base, two rounds of two steps. */
export function tinyScenario(over: Partial<ScenarioInput> = {}): Scenario {
  return scenarioSchema.parse({
    name: 'tiny',
    seed: 5,
    data: { dataset: 'sotu', partition: { kind: 'natural', by: 'president', maxClients: 4 } },
    model: { name: 'test-gpt' },
    base: { source: 'random' },
    method: { name: 'pica', config: { r: 4 } },
    strategy: { name: 'fedavg', sampling: { fraction: 0.75, minClients: 2 } },
    training: { rounds: 2, localSteps: 2, batchSize: 2, learningRate: 0.01 },
    evaluation: { windows: 3, batchSize: 4 },
    workers: 2,
    output: { plots: false },
    ...over,
  });
}
