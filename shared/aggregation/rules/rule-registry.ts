/**
 * Aggregation rule implementations keyed by `AggregationRule.kind` (tfjs-core's kernel registry is the model:
 * a map, registration that throws on duplicates, an explicit list of what is registered). The built-ins are
 * registered below; a new rule kind is one file plus one `registerAggregationRule` call.
 */
import type { AggregationRule } from '../../adapters/types.ts';
import { FedpeftError } from '../../errors.ts';
import type { HostTensor } from '../../tensor/host-tensor.ts';
import { localOnlyRule } from './local-only.ts';
import { nestedPrefixMeanRule } from './nested-prefix-mean.ts';
import type { RuleAccumulator, RuleImplementation, RuleKind } from './rule-implementation.ts';
import { stackRule } from './stack.ts';
import { weightedMeanRule } from './weighted-mean.ts';
import { zeroPadNormWeightedRule } from './zero-pad-norm-weighted.ts';

const registry = new Map<string, RuleImplementation>();

export function registerAggregationRule<K extends RuleKind>(implementation: RuleImplementation<K>): void {
  if (registry.has(implementation.kind)) {
    throw new Error(`aggregation rule "${implementation.kind}" is already registered`);
  }
  registry.set(implementation.kind, implementation as unknown as RuleImplementation);
}

export function aggregationRuleImplementation(kind: RuleKind): RuleImplementation {
  const implementation = registry.get(kind);
  if (!implementation) {
    throw new FedpeftError(
      'AGGREGATION_UNKNOWN_RULE',
      `unknown aggregation rule "${kind}"; registered: ${registeredAggregationRules().join(', ')}`,
    );
  }
  return implementation;
}

export function registeredAggregationRules(): string[] {
  return [...registry.keys()];
}

export function createRuleAccumulator(
  rule: AggregationRule,
  name: string,
  previous: HostTensor | undefined,
): RuleAccumulator {
  return aggregationRuleImplementation(rule.kind).createAccumulator(rule, name, previous);
}

registerAggregationRule(weightedMeanRule);
registerAggregationRule(nestedPrefixMeanRule);
registerAggregationRule(stackRule);
registerAggregationRule(zeroPadNormWeightedRule);
registerAggregationRule(localOnlyRule);
