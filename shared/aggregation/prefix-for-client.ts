/**
 * The global shared state as one client of rank r_k sees it: tensors whose rule has a rank axis (nested
 * prefix mean, HetLoRA zero padding) are truncated to their first r_k entries; the rest are passed through.
 * This is the "truncate later per client" half of HetLoRA and the download side of nested ranks.
 */
import type { AggregationRule } from '../adapters/types.ts';
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import { prefixAlong } from './host-math.ts';

export function globalForClientRank(
  global: HostTensorMap,
  rules: ReadonlyMap<string, AggregationRule>,
  clientRank: number,
): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [name, tensor] of global) {
    const rule = rules.get(name);
    if (rule && (rule.kind === 'nested-prefix-mean' || rule.kind === 'zero-pad-norm-weighted')) {
      const full = tensor.shape[rule.axis] as number;
      out.set(name, prefixAlong(tensor, rule.axis, Math.min(clientRank, full)));
    } else {
      out.set(name, tensor);
    }
  }
  return out;
}
