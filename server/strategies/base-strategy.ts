/**
 * The common flow every built-in strategy shares (Flower's template method): sample clients, build
 * instructions, then per round validate -> (optionally transform) -> combine each update and finally apply a
 * server step. Subclasses override only the hooks they need:
 *
 * - `instructionFor`  per-client instruction (FedProx adds `proximalMu`)
 * - `createCombiner`  streaming rule-based aggregation (default) or buffered robust statistics
 * - `prepareUpdate`   transform a validated update before it is combined (norm bounding clips it)
 * - `serverStep`      turn the combined tensors into the new global (server optimizers)
 * - `exportState` / `importState` for optimizer state
 */
import type { AggregationRule } from '../../shared/adapters/types.ts';
import type { RuleKind } from '../../shared/aggregation/rules/rule-implementation.ts';
import {
  aggregationRuleImplementation,
  registeredAggregationRules,
} from '../../shared/aggregation/rules/rule-registry.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { ClientSampler } from './client-sampler.ts';
import type {
  AggregateContext,
  AggregateOutcome,
  ClientInstruction,
  ClientUpdate,
  ConfigureContext,
  RoundAggregation,
  Strategy,
  StrategyState,
} from './strategy.ts';
import { streamingCombiner, type UpdateCombiner } from './update-combiner.ts';

const registeredKinds = registeredAggregationRules() as RuleKind[];

/** Every registered rule but `local-only` (private tensors are never part of the shared state). */
export const ALL_SHARED_RULES: ReadonlySet<RuleKind> = new Set(
  registeredKinds.filter((k) => k !== 'local-only'),
);

/** Rules whose result is a same-shape (weighted) mean (the registry's `meanLike`): what server optimizers need. */
export const MEAN_LIKE_RULES: ReadonlySet<RuleKind> = new Set(
  registeredKinds.filter((k) => aggregationRuleImplementation(k).meanLike),
);

export type RoundMetrics = Record<string, number>;

export abstract class BaseStrategy implements Strategy {
  abstract readonly name: string;
  /** The rule kinds this strategy can aggregate. */
  protected abstract readonly acceptedRules: ReadonlySet<RuleKind>;

  constructor(protected readonly sampler: ClientSampler) {}

  checkRules(rules: ReadonlyMap<string, AggregationRule>): void {
    for (const [name, rule] of rules) {
      if (rule.kind === 'local-only') {
        throw new FedpeftError(
          'STRATEGY_UNSUPPORTED_RULE',
          `tensor "${name}" is local-only: private tensors are never part of the shared state a strategy aggregates`,
        );
      }
      if (!this.acceptedRules.has(rule.kind)) {
        throw new FedpeftError(
          'STRATEGY_UNSUPPORTED_RULE',
          `strategy "${this.name}" cannot aggregate tensor "${name}" (rule ${rule.kind}); it handles ` +
            `${[...this.acceptedRules].join(', ')}. ${this.unsupportedRuleHint()}`,
        );
      }
    }
  }

  configureRound(context: ConfigureContext): ClientInstruction[] {
    return this.sampler.sample(context.clients, context.round).map((id) => this.instructionFor(id, context));
  }

  beginAggregation(context: AggregateContext): RoundAggregation {
    this.checkRules(context.rules);
    const combiner = this.createCombiner(context);
    const metrics: RoundMetrics = {};
    let finished = false;
    return {
      get count() {
        return combiner.count;
      },
      add: (update) => {
        if (finished)
          throw new FedpeftError('STRATEGY_ROUND_CLOSED', `round ${context.round} is already closed`);
        combiner.add(this.prepareUpdate(update, context, metrics, combiner));
      },
      finish: (): AggregateOutcome => {
        if (finished)
          throw new FedpeftError('STRATEGY_ROUND_CLOSED', `round ${context.round} is already closed`);
        if (combiner.count === 0) {
          throw new FedpeftError(
            'AGGREGATION_EMPTY',
            `round ${context.round} closed without any accepted update`,
          );
        }
        const combined = combiner.result();
        const global = this.serverStep(context, combined, metrics);
        finished = true;
        return {
          global,
          contributors: combiner.contributors,
          totalWeight: combiner.totalWeight,
          metrics: { ...metrics, clients: combiner.count },
        };
      },
    };
  }

  exportState(): StrategyState {
    return { strategy: this.name, tensors: new Map(), values: {} };
  }

  importState(state: StrategyState): void {
    this.assertStateFor(state);
  }

  protected instructionFor(clientId: string, context: ConfigureContext): ClientInstruction {
    return { clientId, round: context.round };
  }

  protected createCombiner(context: AggregateContext): UpdateCombiner {
    return streamingCombiner(context);
  }

  /**
   * Transforms an update before it is combined. The combiner validates what it is given; an override that
   * reads the values must call `combiner.check(update)` first (it must not compute on NaN or a wrong shape).
   */
  protected prepareUpdate(
    update: ClientUpdate,
    _context: AggregateContext,
    _metrics: RoundMetrics,
    _combiner: UpdateCombiner,
  ): ClientUpdate {
    return update;
  }

  /** Default: the combined tensors replace the global ones (FedAvg). */
  protected serverStep(
    context: AggregateContext,
    combined: HostTensorMap,
    _metrics: RoundMetrics,
  ): HostTensorMap {
    const global: HostTensorMap = new Map(context.global);
    for (const [name, tensor] of combined) global.set(name, tensor);
    return global;
  }

  protected unsupportedRuleHint(): string {
    return '';
  }

  protected assertStateFor(state: StrategyState): void {
    if (state.strategy !== this.name) {
      throw new FedpeftError(
        'STRATEGY_STATE_MISMATCH',
        `checkpoint holds state of strategy "${state.strategy}", this run uses "${this.name}"`,
      );
    }
  }
}
