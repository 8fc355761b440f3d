/**
 * What the coordinator must know about the run's adapter method, learned once at start by attaching the
 * method to the run's base model exactly as a client does (same model name, config and seed): the names,
 * shapes and initial values of the shared tensors, each tensor's declared aggregation rule, whether the method
 * is chained (has a link schedule), and the coordinator's own derived-state signature. Attaching rather than
 * re-declaring keeps the coordinator free of any per-method code; after this the coordinator needs no tfjs.
 */
import { attachAdapter } from '../shared/adapters/registry.ts';
import type { AggregationRule } from '../shared/adapters/types.ts';
import { createModel } from '../shared/model/zoo.ts';
import { toHostMap, type HostTensorMap } from '../shared/tensor/host-tensor.ts';
import { FedpeftError } from '../shared/errors.ts';

export interface MethodState {
  method: string;
  methodConfig: Record<string, unknown>;
  model: string;
  modelConfig: Record<string, unknown>;
  /** Initial global shared tensors, in the adapter's order. */
  initialShared: HostTensorMap;
  shapes: ReadonlyMap<string, readonly number[]>;
  rules: ReadonlyMap<string, AggregationRule>;
  chained: boolean;
  /** The coordinator's own signature of the derived state (empty when the method derives nothing). */
  signature: Float32Array;
}

export function describeMethod(options: {
  model: string;
  modelConfig: Record<string, unknown>;
  method: string;
  methodConfig: Record<string, unknown>;
  seed: number;
}): MethodState {
  const model = createModel(options.model, { seed: options.seed, ...options.modelConfig });
  try {
    const adapter = attachAdapter(model, options.method, options.methodConfig, { seed: options.seed });
    try {
      const initialShared = toHostMap(adapter.shared());
      if (initialShared.size === 0) {
        throw new FedpeftError(
          'INVALID_CONFIG',
          `method '${options.method}' shares no tensor with this model; nothing would be federated`,
        );
      }
      const rules = new Map<string, AggregationRule>();
      const shapes = new Map<string, readonly number[]>();
      for (const [name, t] of initialShared) {
        rules.set(name, adapter.aggregation(name));
        shapes.set(name, t.shape);
      }
      return {
        method: options.method,
        methodConfig: { ...adapter.config },
        model: options.model,
        modelConfig: options.modelConfig,
        initialShared,
        shapes,
        rules,
        chained: typeof adapter.setLink === 'function',
        signature: adapter.signature().slice(),
      };
    } finally {
      adapter.detach();
    }
  } finally {
    model.dispose();
  }
}
