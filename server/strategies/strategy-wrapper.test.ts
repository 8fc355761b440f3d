import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../shared/tensor/host-tensor.ts';
import { FedAdam } from './fedadam.ts';
import type { AggregateContext, RoundAggregation, StrategyState } from './strategy.ts';
import { StrategyWrapper } from './strategy-wrapper.ts';
import { HAND_ROUNDS, everyClientSampler, restartScenario, runRounds } from './test-fixtures.ts';

/** What a privacy wrapper looks like: it sees every update and the result, and keeps its own state. */
class ScaleUpdatesWrapper extends StrategyWrapper {
  protected readonly wrapperName = 'scale';
  seen: string[] = [];
  rounds = 0;

  override beginAggregation(context: AggregateContext): RoundAggregation {
    const inner = super.beginAggregation(context);
    return {
      get count() {
        return inner.count;
      },
      add: (update) => {
        this.seen.push(update.clientId);
        const tensors = new Map(
          [...update.tensors].map(
            ([n, t]) => [n, { shape: t.shape, data: t.data.map((v) => v * 0.5) }] as const,
          ),
        );
        inner.add({ ...update, tensors });
      },
      finish: () => {
        this.rounds += 1;
        const outcome = inner.finish();
        return { ...outcome, metrics: { ...outcome.metrics, wrapped: this.rounds } };
      },
    };
  }

  protected override exportOwnState(): Omit<StrategyState, 'strategy' | 'inner'> {
    return { tensors: new Map(), values: { rounds: this.rounds } };
  }

  protected override importOwnState(state: StrategyState): void {
    this.rounds = state.values.rounds ?? 0;
  }
}

const hyper = { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 };
const wrapped = () => new ScaleUpdatesWrapper(new FedAdam(everyClientSampler(), hyper));

describe('StrategyWrapper', () => {
  it('delegates to the inner strategy and lets the wrapper intercept updates and results', () => {
    const w = wrapped();
    expect(w.name).toBe('scale(fedadam)');
    expect(w.configureRound({ round: 1, clients: [{ id: 'a' }] })).toEqual([{ clientId: 'a', round: 1 }]);
    expect(() => w.checkRules(new Map([['A', { kind: 'stack', axis: 0, scaleByWeight: false }]]))).toThrow(
      /fedadam/,
    );
    const viaWrapper = runRounds(w, [1, -2], HAND_ROUNDS.slice(0, 1));
    expect(w.seen).toEqual(['c0', 'c1']);
    // Halving the clients' values before FedAdam equals FedAdam on halved updates.
    const halved = [
      [
        [1, [1, -1]],
        [3, [1, 0]],
      ],
    ] as const;
    expect(viaWrapper).toEqual(runRounds(new FedAdam(everyClientSampler(), hyper), [1, -2], halved));
  });

  it('nests the inner state in its checkpoint and restores the whole stack', () => {
    const { continuous, restarted, withoutState } = restartScenario(wrapped);
    expect(restarted).toEqual(continuous);
    expect(withoutState).not.toEqual(continuous);
    const w = wrapped();
    runRounds(w, [1, -2], HAND_ROUNDS.slice(0, 2));
    const state = w.exportState();
    expect(state.strategy).toBe('scale(fedadam)');
    expect(state.values.rounds).toBe(2);
    expect(state.inner?.strategy).toBe('fedadam');
    expect(state.inner?.tensors.get('m/B')).toBeDefined();
    const restored = wrapped();
    restored.importState(state);
    expect(restored.rounds).toBe(2);
    expect(restored.exportState()).toEqual(state);
    expect(() => restored.importState(state.inner as StrategyState)).toThrow(
      /this run uses "scale\(fedadam\)"/,
    );
    expect((state.inner?.tensors.get('v/B') as HostTensor).shape).toEqual([2]);
  });
});
