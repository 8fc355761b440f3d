/**
 * What an attached adapter costs: trainable parameters, bytes uploaded per round, and which tensors are
 * shared / private / derived. Measured from the live adapter (not computed from formulas), so it is right
 * for every preset and config, including per-role sharing and nested ranks.
 */
import type { Adapter, AggregationRule } from './types.ts';

export interface TensorSummary {
  name: string;
  shape: number[];
  size: number;
}

export interface AdapterSummary {
  method: string;
  trainableParams: number;
  sharedParams: number;
  /** float32 bytes of every shared tensor: one upload per round (the download is the same size). */
  bytesPerRound: number;
  shared: (TensorSummary & { aggregation: AggregationRule['kind'] })[];
  private: TensorSummary[];
  derived: TensorSummary[];
}

export function summarizeAdapter(adapter: Adapter): AdapterSummary {
  const describe = (name: string, t: { shape: number[]; size: number }): TensorSummary => ({
    name,
    shape: [...t.shape],
    size: t.size,
  });
  const shared = [...adapter.shared()].map(([name, t]) => ({
    ...describe(name, t),
    aggregation: adapter.aggregation(name).kind,
  }));
  const sharedParams = shared.reduce((s, t) => s + t.size, 0);
  return {
    method: adapter.method,
    trainableParams: adapter.trainableVariables().reduce((s, v) => s + v.size, 0),
    sharedParams,
    bytesPerRound: sharedParams * 4,
    shared,
    private: [...adapter.private()].map(([name, t]) => describe(name, t)),
    derived: [...adapter.derived()].map(([name, t]) => describe(name, t)),
  };
}
