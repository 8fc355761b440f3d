import { describe, expect, it } from 'vitest';
import { createStrategy } from './create-strategy.ts';
import { FedAvg } from './fedavg.ts';
import { FedProx } from './fedprox.ts';
import { HAND_ROUNDS, everyClientSampler, runRounds } from './test-fixtures.ts';

describe('FedProx', () => {
  it('puts proximalMu into every client instruction', () => {
    const s = new FedProx(everyClientSampler(), 0.1);
    expect(s.configureRound({ round: 4, clients: [{ id: 'b' }, { id: 'a' }] })).toEqual([
      { clientId: 'a', round: 4, proximalMu: 0.1 },
      { clientId: 'b', round: 4, proximalMu: 0.1 },
    ]);
    const fromConfig = createStrategy({ name: 'fedprox' }, { seed: 3 });
    expect(fromConfig.configureRound({ round: 1, clients: [{ id: 'a' }] })[0]?.proximalMu).toBe(0.01);
  });

  it('aggregates exactly like FedAvg', () => {
    expect(runRounds(new FedProx(everyClientSampler(), 1), [1, -2], HAND_ROUNDS)).toEqual(
      runRounds(new FedAvg(everyClientSampler()), [1, -2], HAND_ROUNDS),
    );
  });
});
