/**
 * Server optimizers (Reddi et al. 2021, "Adaptive Federated Optimization"; Hsu et al. 2019 for momentum):
 * the round's weighted mean is not taken as the new global directly; the pseudo-gradient between it and the
 * current global drives an optimizer step on the server. Optimizer slots (momentum, second moment) are kept
 * per shared tensor in float32 — exactly what `exportState` writes — so a coordinator restarted from a
 * checkpoint continues bit-for-bit.
 *
 * Only same-shape mean rules make sense here (weighted mean, nested prefix mean): FLoRA stacking changes the
 * shape every round and is merged into the base, HetLoRA's norm weighting is its own aggregator.
 */
import type { RuleKind } from '../../shared/aggregation/rules/rule-implementation.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensor, HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { BaseStrategy, MEAN_LIKE_RULES, type RoundMetrics } from './base-strategy.ts';
import type { AggregateContext, StrategyState } from './strategy.ts';

export type OptimizerSlots = Record<string, Float32Array>;

export abstract class ServerOptimizerStrategy extends BaseStrategy {
  protected readonly acceptedRules: ReadonlySet<RuleKind> = MEAN_LIKE_RULES;
  /** Names of the per-tensor optimizer slots (e.g. `m`, `v`). */
  protected abstract readonly slotNames: readonly string[];
  /** slot values per shared tensor name. */
  private slots = new Map<string, { shape: number[]; values: OptimizerSlots }>();
  private steps = 0;

  /**
   * One optimizer step, element-wise. `x` is the current global, `mean` the round's aggregate; writes the new
   * global into `out` and updates `slots` in place (computed in float64, stored in float32).
   */
  protected abstract step(
    x: Float32Array,
    mean: Float32Array,
    slots: OptimizerSlots,
    out: Float32Array,
  ): void;

  /** Initial slot value (FedAdam/FedYogi start v at tau^2; momentum starts at 0). */
  protected initialSlotValue(_slot: string): number {
    return 0;
  }

  protected override serverStep(
    context: AggregateContext,
    combined: HostTensorMap,
    metrics: RoundMetrics,
  ): HostTensorMap {
    const global: HostTensorMap = new Map(context.global);
    let pseudoGradientSq = 0;
    for (const [name, mean] of combined) {
      const x = context.global.get(name);
      if (!x || x.data.length !== mean.data.length) {
        throw new FedpeftError(
          'STRATEGY_STATE_MISMATCH',
          `server optimizer "${this.name}" needs the current global of tensor "${name}" with the aggregate's shape`,
        );
      }
      for (let i = 0; i < x.data.length; i++) {
        const d = (mean.data[i] as number) - (x.data[i] as number);
        pseudoGradientSq += d * d;
      }
      const out = new Float32Array(x.data.length);
      this.step(x.data, mean.data, this.slotsFor(name, x), out);
      global.set(name, { shape: [...x.shape], data: out });
    }
    this.steps += 1;
    metrics.pseudoGradientNorm = Math.sqrt(pseudoGradientSq);
    return global;
  }

  override exportState(): StrategyState {
    const tensors: HostTensorMap = new Map();
    for (const [name, { shape, values }] of this.slots) {
      for (const slot of this.slotNames) {
        tensors.set(`${slot}/${name}`, { shape: [...shape], data: (values[slot] as Float32Array).slice() });
      }
    }
    return { strategy: this.name, tensors, values: { steps: this.steps } };
  }

  override importState(state: StrategyState): void {
    this.assertStateFor(state);
    const slots = new Map<string, { shape: number[]; values: OptimizerSlots }>();
    for (const [key, tensor] of state.tensors) {
      const cut = key.indexOf('/');
      const slot = key.slice(0, cut);
      const name = key.slice(cut + 1);
      if (cut < 0 || !this.slotNames.includes(slot)) {
        throw new FedpeftError(
          'STRATEGY_STATE_MISMATCH',
          `unexpected optimizer slot "${key}" in the checkpoint`,
        );
      }
      const entry = slots.get(name) ?? { shape: [...tensor.shape], values: {} };
      entry.values[slot] = tensor.data.slice();
      slots.set(name, entry);
    }
    for (const [name, entry] of slots) {
      for (const slot of this.slotNames) {
        if (
          entry.values[slot]?.length !== (entry.values[this.slotNames[0] as string] as Float32Array).length
        ) {
          throw new FedpeftError(
            'STRATEGY_STATE_MISMATCH',
            `checkpoint lacks slot "${slot}" of tensor "${name}"`,
          );
        }
      }
    }
    this.slots = slots;
    this.steps = state.values.steps ?? 0;
  }

  private slotsFor(name: string, x: HostTensor): OptimizerSlots {
    const existing = this.slots.get(name);
    if (existing) {
      const length = (existing.values[this.slotNames[0] as string] as Float32Array).length;
      if (length !== x.data.length) {
        throw new FedpeftError(
          'STRATEGY_STATE_MISMATCH',
          `optimizer state of tensor "${name}" has ${length} values, the global has ${x.data.length}`,
        );
      }
      return existing.values;
    }
    const values: OptimizerSlots = {};
    for (const slot of this.slotNames)
      values[slot] = new Float32Array(x.data.length).fill(this.initialSlotValue(slot));
    this.slots.set(name, { shape: [...x.shape], values });
    return values;
  }

  protected override unsupportedRuleHint(): string {
    return 'A server optimizer needs same-shape averaged tensors; use fedavg/fedprox with this method.';
  }
}
