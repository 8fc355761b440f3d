/**
 * What the coordinator must know about the run's adapter method, learned once at start by attaching the
 * method to the run's base model exactly as a client does (same model name, config and seed): the names,
 * shapes and initial values of the shared tensors, each tensor's declared aggregation rule, whether the method
 * is chained (has a link schedule), and the coordinator's own derived-state signature. Attaching rather than
 * re-declaring keeps the coordinator free of any per-method code; after this the coordinator needs no tfjs.
 */
import { attachAdapter } from '../shared/adapters/registry.ts';
import type { AggregationRule } from '../shared/adapters/types.ts';
import { assignParameters } from '../shared/model/parameters.ts';
import { createModel, type ZooModel } from '../shared/model/zoo.ts';
import { toHostMap, type HostTensorMap } from '../shared/tensor/host-tensor.ts';
import { FedpeftError } from '../shared/errors.ts';

/**
 * How a method's clients fold shared state into their base over a run (the fold history, docs/protocol.md):
 * `chained` folds each finished link's final global, `fresh-each-round` (a `stack` aggregation, the adapter
 * spec's `freshEachRound`: FLoRA) folds every round's global, `none` never folds.
 */
export type FoldKind = 'none' | 'chained' | 'fresh-each-round';

export interface MethodState {
  method: string;
  methodConfig: Record<string, unknown>;
  model: string;
  modelConfig: Record<string, unknown>;
  /** Initial global shared tensors, in the adapter's order. */
  initialShared: HostTensorMap;
  shapes: ReadonlyMap<string, readonly number[]>;
  rules: ReadonlyMap<string, AggregationRule>;
  /**
   * Chained methods (c³LA, random-c³LA, CoLA, RAC-LoRA): the adapter reports a `currentLink`. Every core
   * adapter has a `setLink` method (it throws for unchained specs), so its presence says nothing.
   */
  chained: boolean;
  /** Which fold history the method's clients need (read from `chained` and the declared rules). */
  foldKind: FoldKind;
  /** The method's configured rank `r` (0 when it has none); per-client ranks are capped by it. */
  rank: number;
  /**
   * Whether clients may train at a rank r_k < r (nested prefixes: pica, losa; per-client factors: hetlora,
   * flora), read from the declared rules: only those rules fold tensors of a partial rank.
   */
  heterogeneousRanks: boolean;
  /** The coordinator's own signature of the derived state (empty when the method derives nothing). */
  signature: Float32Array;
  /** The run's base checkpoint (what every client must train on), or undefined for a seeded base. */
  base?: { sha256: string; bytes: number };
  /**
   * Chained methods: the shared tensors as every client resets them when it starts link `link` (after
   * folding the previous link). The coordinator aggregates a link's first round relative to this, not
   * relative to the previous link's final aggregate. Attaches the method again (tfjs), so call it once per link.
   */
  linkStart(link: number): HostTensorMap;
}

const RANK_RULES: ReadonlySet<AggregationRule['kind']> = new Set([
  'nested-prefix-mean',
  'zero-pad-norm-weighted',
  'stack',
]);

export interface DescribeMethodOptions {
  model: string;
  modelConfig: Record<string, unknown>;
  method: string;
  methodConfig: Record<string, unknown>;
  seed: number;
  /**
   * The run's base weights (server/run-base.ts) instead of a fresh seeded model: PiCa's projectors and every
   * derived signature come from them, so the coordinator must see the same base its clients train on.
   */
  base?: RunBaseWeights;
  /**
   * The base's weights when the coordinator does not serve the base (the fleet runner's clients load the same
   * checkpoint themselves): the derived state and signature come from them. Ignored when `base` is given.
   */
  baseWeights?: HostTensorMap;
}

export interface RunBaseWeights {
  /** Every base parameter, by its stable `parameters()` name. */
  weights: HostTensorMap;
  /** The model config recorded in the checkpoint (checked against the run's model). */
  config: object;
  sha256: string;
  bytes: number;
  /** Where the weights came from, for error messages. */
  source: string;
}

/** The run's base: a fresh seeded model, or that model with the checkpoint's weights assigned. */
function runBaseModel(options: DescribeMethodOptions): ZooModel {
  const model = createModel(options.model, { seed: options.seed, ...options.modelConfig });
  const base = options.base;
  if (!base) {
    if (!options.baseWeights) return model;
    try {
      assignParameters(model, options.baseWeights, 'the base weights');
      return model;
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
  try {
    const actual = base.config as Record<string, unknown>;
    const differing = Object.entries(model.config as Record<string, unknown>).filter(
      ([k, v]) => JSON.stringify(actual[k]) !== JSON.stringify(v),
    );
    if (differing.length > 0) {
      throw new FedpeftError(
        'CHECKPOINT_MISMATCH',
        `model.base ${base.source} is not the run's '${options.model}' model: ` +
          differing
            .map(([k, v]) => `${k} is ${JSON.stringify(actual[k])}, the run needs ${JSON.stringify(v)}`)
            .join('; ') +
          " — set model.name / model.config to the checkpoint's model",
      );
    }
    assignParameters(model, base.weights, `model.base ${base.source}`);
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** Shared tensors of the method at the start of `link` (a fresh attach on a fresh base, then `setLink`). */
function sharedAtLinkStart(options: DescribeMethodOptions, link: number): HostTensorMap {
  const model = runBaseModel(options);
  try {
    const adapter = attachAdapter(model, options.method, options.methodConfig, { seed: options.seed });
    try {
      if (link > 0) adapter.setLink?.(link);
      return toHostMap(adapter.shared());
    } finally {
      adapter.detach();
    }
  } finally {
    model.dispose();
  }
}

/**
 * A `stack` rule is what a fresh-each-round spec declares (core-adapter: per-client rank + freshEachRound):
 * its clients fold every round's stacked global into the base and start the next round fresh.
 */
export function foldKindOf(chained: boolean, rules: ReadonlyMap<string, AggregationRule>): FoldKind {
  if (chained) return 'chained';
  return [...rules.values()].some((r) => r.kind === 'stack') ? 'fresh-each-round' : 'none';
}

export function describeMethod(options: DescribeMethodOptions): MethodState {
  const model = runBaseModel(options);
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
        chained: adapter.currentLink !== undefined,
        foldKind: foldKindOf(adapter.currentLink !== undefined, rules),
        rank: typeof adapter.config.r === 'number' ? adapter.config.r : 0,
        heterogeneousRanks: [...rules.values()].some((r) => RANK_RULES.has(r.kind)),
        signature: adapter.signature().slice(),
        ...(options.base ? { base: { sha256: options.base.sha256, bytes: options.base.bytes } } : {}),
        linkStart: (link) => (link === 0 ? initialShared : sharedAtLinkStart(options, link)),
      };
    } finally {
      adapter.detach();
    }
  } finally {
    model.dispose();
  }
}
