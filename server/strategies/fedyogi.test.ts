import { describe, expect, it } from 'vitest';
import { FedAdam } from './fedadam.ts';
import { FedYogi } from './fedyogi.ts';
import { HAND_ROUNDS, everyClientSampler, restartScenario, runRounds } from './test-fixtures.ts';

const hyper = { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 };

describe('FedYogi', () => {
  it('matches a hand-computed two-round example', () => {
    // Round 1, coordinate 0: Δ = 1, v0 = 1e-4 < Δ² so sign(v - Δ²) = -1 and v = 1e-4 + 0.01 * 1 = 0.0101
    // (Adam: 0.010099); m = 0.1; x = 1 + 0.01 / (sqrt(0.0101) + 0.01) = 1.0904988.
    const got = runRounds(new FedYogi(everyClientSampler(), hyper), [1, -2], HAND_ROUNDS.slice(0, 2));
    const expected = [
      [1.0904988050460815, -1.9064446687698364],
      [1.1149531602859497, -1.7785624265670776],
    ];
    got.flat().forEach((v, i) => expect(v).toBeCloseTo(expected.flat()[i] as number, 6));
    const adam = runRounds(new FedAdam(everyClientSampler(), hyper), [1, -2], HAND_ROUNDS.slice(0, 2));
    expect(Math.abs((adam[1]?.[1] as number) - (got[1]?.[1] as number))).toBeGreaterThan(1e-4);
  });

  it('exports m and v: a restarted coordinator continues identically', () => {
    const { continuous, restarted, withoutState } = restartScenario(
      () => new FedYogi(everyClientSampler(), hyper),
    );
    expect(restarted).toEqual(continuous);
    expect(withoutState).not.toEqual(continuous);
  });
});
