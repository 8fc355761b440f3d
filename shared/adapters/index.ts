/**
 * The adapter library's public entry: the registry (with every built-in preset registered), the contract,
 * the link schedule for chained methods and adapter summaries.
 */
export {
  AdapterRegistry,
  attachAdapter,
  getAdapterMethod,
  listAdapterMethods,
  registerAdapterMethod,
  METHOD_NAME_PATTERN,
} from './registry.ts';
export type {
  Adapter,
  AdapterMethod,
  AggregationRule,
  AttachContext,
  LowRankFactors,
  LowRankUpdate,
  TensorMap,
} from './types.ts';
export { LinkSchedule } from './link-schedule.ts';
export { summarizeAdapter, type AdapterSummary } from './summary.ts';
export { definePreset, type PresetDefinition, type PresetSpec } from './preset.ts';
export type { CoreSpec } from './core/spec.ts';
