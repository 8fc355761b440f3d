import { describe, expect, it } from 'vitest';
import { FedAvg } from './fedavg.ts';
import { FedAvgM } from './fedavgm.ts';
import { HAND_ROUNDS, everyClientSampler, restartScenario, runRounds } from './test-fixtures.ts';

const fedAvgM = (momentum: number, nesterov = false, serverLearningRate = 1) =>
  new FedAvgM(everyClientSampler(), { serverLearningRate, momentum, nesterov });
const twoRounds = HAND_ROUNDS.slice(0, 2);

describe('FedAvgM', () => {
  it('matches a hand-computed two-round example (lr 1, momentum 0.5)', () => {
    // Round 1: mean [2,-0.5]; g = x - mean = [-1, -1.5]; buf = g; x = [1,-2] - buf = [2, -0.5].
    // Round 2: mean [0.5,0.5]; g = [1.5, -1]; buf = 0.5 [-1,-1.5] + g = [1, -1.75]; x = [1, 1.25].
    expect(runRounds(fedAvgM(0.5), [1, -2], twoRounds)).toEqual([
      [2, -0.5],
      [1, 1.25],
    ]);
  });

  it('Nesterov looks ahead along the momentum', () => {
    // Round 1: buf = g = [-1,-1.5]; step = g + 0.5 buf = [-1.5, -2.25]; x = [2.5, 0.25].
    expect(runRounds(fedAvgM(0.5, true), [1, -2], twoRounds)[0]).toEqual([2.5, 0.25]);
  });

  it('with lr 1 and momentum 0 is FedAvg (up to float32 rounding of the stored momentum)', () => {
    const avg = runRounds(new FedAvg(everyClientSampler()), [1, -2], HAND_ROUNDS).flat();
    runRounds(fedAvgM(0), [1, -2], HAND_ROUNDS)
      .flat()
      .forEach((v, i) => expect(v).toBeCloseTo(avg[i] as number, 6));
  });

  it('exports and imports its momentum: a restarted coordinator continues identically', () => {
    const { continuous, restarted, withoutState } = restartScenario(() => fedAvgM(0.9, false, 0.7));
    expect(restarted).toEqual(continuous);
    expect(withoutState).not.toEqual(continuous);
    expect(() => new FedAvg(everyClientSampler()).importState(fedAvgM(0.9).exportState())).toThrow(
      /strategy "fedavgm"/,
    );
  });

  it('refuses FLoRA stacking and HetLoRA padding at configuration time', () => {
    const s = fedAvgM(0.9);
    expect(() => s.checkRules(new Map([['A', { kind: 'stack', axis: 1, scaleByWeight: true }]]))).toThrow(
      /cannot aggregate tensor "A"/,
    );
    expect(() => s.checkRules(new Map([['A', { kind: 'zero-pad-norm-weighted', axis: 0 }]]))).toThrow(
      /server optimizer/,
    );
    expect(() => s.checkRules(new Map([['A', { kind: 'nested-prefix-mean', axis: 0 }]]))).not.toThrow();
  });
});
