import { describe, expect, it } from 'vitest';
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { createStrategy } from './create-strategy.ts';
import { FedAdam } from './fedadam.ts';
import { HAND_ROUNDS, everyClientSampler, restartScenario, runRounds } from './test-fixtures.ts';

const hyper = { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 };

describe('FedAdam', () => {
  it('matches a hand-computed two-round example', () => {
    // v starts at tau^2 = 1e-4. Round 1, coordinate 0: Δ = 2 - 1 = 1; m = 0.1; v = 0.99e-4 + 0.01 = 0.010099;
    // x = 1 + 0.1 * 0.1 / (sqrt(0.010099) + 0.01) = 1.0905029. Coordinate 1: Δ = 1.5; m = 0.15;
    // v = 0.99e-4 + 0.0225 = 0.022599; x = -2 + 0.015 / (0.1503300 + 0.01) = -1.9064428.
    // Round 2 continues from there (computed the same way in float32 storage).
    const got = runRounds(new FedAdam(everyClientSampler(), hyper), [1, -2], HAND_ROUNDS.slice(0, 2));
    const expected = [
      [1.0905028581619263, -1.9064427614212036],
      [1.1150418519973755, -1.7783859968185425],
    ];
    got.flat().forEach((v, i) => expect(v).toBeCloseTo(expected.flat()[i] as number, 6));
  });

  it('exports m and v: a restarted coordinator continues identically', () => {
    const { continuous, restarted, withoutState } = restartScenario(
      () => new FedAdam(everyClientSampler(), hyper),
    );
    expect(restarted).toEqual(continuous);
    expect(withoutState).not.toEqual(continuous);
    const state = new FedAdam(everyClientSampler(), hyper).exportState();
    expect(state.strategy).toBe('fedadam');
  });

  it('rejects a corrupt checkpoint', () => {
    const s = new FedAdam(everyClientSampler(), hyper);
    runRounds(s, [1, -2], HAND_ROUNDS.slice(0, 1));
    const state = s.exportState();
    expect([...state.tensors.keys()].sort()).toEqual(['m/B', 'v/B']);
    state.tensors.delete('v/B');
    expect(() => new FedAdam(everyClientSampler(), hyper).importState(state)).toThrow(/lacks slot "v"/);
  });

  it('is refused with FLoRA stacking when the coordinator is configured', () => {
    const rules = new Map<string, AggregationRule>([['A', { kind: 'stack', axis: 1, scaleByWeight: true }]]);
    expect(() => createStrategy({ name: 'fedadam' }, { seed: 1, rules })).toThrow(
      /strategy "fedadam" cannot aggregate tensor "A" \(rule stack\)/,
    );
  });
});
