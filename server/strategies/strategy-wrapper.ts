/**
 * The base for strategies that wrap another one (differential privacy, secure aggregation, logging): every
 * call is delegated to the inner strategy, so a wrapper overrides only what it changes — typically
 * `beginAggregation`, to see each update (clip, unmask) and the result (add noise). Its own checkpoint state
 * nests the inner one's, so any wrapper stack restores in one `importState`.
 */
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type {
  AggregateContext,
  ClientInstruction,
  ConfigureContext,
  RoundAggregation,
  Strategy,
  StrategyState,
} from './strategy.ts';

export abstract class StrategyWrapper implements Strategy {
  constructor(protected readonly inner: Strategy) {}

  /** e.g. `dp`: the wrapped strategy is named `dp(fedadam)`. */
  protected abstract readonly wrapperName: string;

  get name(): string {
    return `${this.wrapperName}(${this.inner.name})`;
  }

  checkRules(rules: ReadonlyMap<string, AggregationRule>): void {
    this.inner.checkRules(rules);
  }

  configureRound(context: ConfigureContext): ClientInstruction[] {
    return this.inner.configureRound(context);
  }

  beginAggregation(context: AggregateContext): RoundAggregation {
    return this.inner.beginAggregation(context);
  }

  /** Override `exportOwnState`/`importOwnState` for the wrapper's own state; the inner state is nested. */
  exportState(): StrategyState {
    return { ...this.exportOwnState(), strategy: this.name, inner: this.inner.exportState() };
  }

  importState(state: StrategyState): void {
    if (state.strategy !== this.name || !state.inner) {
      throw new FedpeftError(
        'STRATEGY_STATE_MISMATCH',
        `checkpoint holds state of strategy "${state.strategy}", this run uses "${this.name}"`,
      );
    }
    this.inner.importState(state.inner);
    this.importOwnState(state);
  }

  protected exportOwnState(): Omit<StrategyState, 'strategy' | 'inner'> {
    return { tensors: new Map(), values: {} };
  }

  protected importOwnState(_state: StrategyState): void {}
}
