/**
 * Folds client contributions into the next global shared state, one rule per shared tensor name, as each
 * contribution arrives. Every tensor of a contribution is validated (client id, weight, names, shapes,
 * extents, norms, finite values) before any of them is folded, so a rejected contribution leaves the
 * aggregate exactly as it was and the round can go on.
 *
 * Memory: streaming rules (weighted mean, nested prefix mean, HetLoRA zero padding) hold one float64
 * accumulator per tensor whatever the number of clients; `stack` (FLoRA) necessarily keeps every client's
 * factors until `result()`. `streaming` says which applies.
 */
import type { AggregationRule } from '../adapters/types.ts';
import { FedpeftError } from '../errors.ts';
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import type { Contribution } from './contribution.ts';
import { assertSameNames } from './running-weighted-sum.ts';
import type { RuleAccumulator, TensorPart } from './rules/rule-implementation.ts';
import { aggregationRuleImplementation, createRuleAccumulator } from './rules/rule-registry.ts';
import { assertValidWeight } from './weighted-sum-buffer.ts';

export interface AggregatorOptions {
  /** The rule of every shared tensor name (from the method: `adapter.aggregation(name)`). */
  rules: ReadonlyMap<string, AggregationRule>;
  /** The current global shared tensors: shapes to check against and values kept where no client trained. */
  previous?: HostTensorMap;
}

export class Aggregator {
  private readonly rules: ReadonlyMap<string, AggregationRule>;
  private readonly previous: HostTensorMap | undefined;
  private readonly accumulators = new Map<string, RuleAccumulator>();
  private readonly clientIds = new Set<string>();
  private names: ReadonlyMap<string, true> | undefined;
  private weightSum = 0;

  constructor(options: AggregatorOptions) {
    this.rules = options.rules;
    this.previous = options.previous;
    for (const rule of this.rules.values()) aggregationRuleImplementation(rule.kind);
  }

  /** Whether memory stays independent of the number of clients for the tensors seen so far. */
  get streaming(): boolean {
    return [...this.rules.values()].every((r) => aggregationRuleImplementation(r.kind).streaming);
  }

  get count(): number {
    return this.clientIds.size;
  }

  get totalWeight(): number {
    return this.weightSum;
  }

  get contributors(): string[] {
    return [...this.clientIds];
  }

  /** Throws a `FedpeftError` (and changes nothing) if `add` would reject the contribution. */
  check(contribution: Contribution): void {
    this.validate(contribution);
  }

  add(contribution: Contribution): void {
    const parts = this.validate(contribution);
    for (const [name, part] of parts) this.accumulator(name).fold(part);
    this.names ??= new Map([...contribution.tensors.keys()].map((n) => [n, true]));
    this.clientIds.add(contribution.clientId);
    this.weightSum += contribution.weight;
  }

  /** The aggregated tensors, in the order of the first contribution's names. */
  result(): HostTensorMap {
    if (!this.names) throw new FedpeftError('AGGREGATION_EMPTY', 'no contribution was added this round');
    const out: HostTensorMap = new Map();
    for (const name of this.names.keys()) out.set(name, this.accumulator(name).result());
    return out;
  }

  private validate(c: Contribution): Map<string, TensorPart> {
    const who = `client "${String(c.clientId)}"`;
    if (typeof c.clientId !== 'string' || c.clientId.length === 0) {
      throw new FedpeftError('AGGREGATION_INVALID_CLIENT', 'a contribution needs a non-empty client id');
    }
    if (this.clientIds.has(c.clientId)) {
      throw new FedpeftError('AGGREGATION_DUPLICATE_CLIENT', `${who} already contributed to this aggregate`);
    }
    assertValidWeight(c.weight, who);
    if (c.tensors.size === 0) {
      throw new FedpeftError('AGGREGATION_NAME_MISMATCH', `${who}: the update contains no tensor`);
    }
    for (const name of c.tensors.keys()) {
      if (!this.rules.has(name)) {
        throw new FedpeftError(
          'AGGREGATION_UNKNOWN_TENSOR',
          `${who}: tensor "${name}" is not a shared tensor of this method (known: ${[...this.rules.keys()].join(', ')})`,
        );
      }
    }
    for (const [field, map] of [
      ['trainedExtents', c.trainedExtents],
      ['norms', c.norms],
    ] as const) {
      for (const name of map?.keys() ?? []) {
        if (!c.tensors.has(name)) {
          throw new FedpeftError(
            'AGGREGATION_UNKNOWN_TENSOR',
            `${who}: ${field} names tensor "${name}" it did not send`,
          );
        }
      }
    }
    const parts = new Map<string, TensorPart>();
    for (const [name, tensor] of c.tensors) {
      const part: TensorPart = { clientId: c.clientId, weight: c.weight, tensor };
      const extent = c.trainedExtents?.get(name);
      if (extent !== undefined) part.trainedExtent = extent;
      const norm = c.norms?.get(name);
      if (norm !== undefined) part.norm = norm;
      this.accumulator(name).check(part, `${who}, tensor "${name}"`);
      parts.set(name, part);
    }
    // After the per-tensor checks, so a local-only tensor is reported as such rather than as an extra name.
    if (this.names) assertSameNames(this.names, c.tensors);
    return parts;
  }

  private accumulator(name: string): RuleAccumulator {
    let acc = this.accumulators.get(name);
    if (!acc) {
      acc = createRuleAccumulator(this.rules.get(name) as AggregationRule, name, this.previous?.get(name));
      this.accumulators.set(name, acc);
    }
    return acc;
  }
}
