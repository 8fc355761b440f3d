/**
 * The strategy contract (Flower's `Strategy` is the model): a strategy decides who trains in a round and with
 * what instruction (`configureRound`), and how client updates become the next global shared state
 * (`beginAggregation` -> `add` per update as it arrives -> `finish`). Aggregation is a per-round object
 * rather than one call over a list so the coordinator can fold updates in as they stream in, and so privacy
 * wrappers (DP, secure aggregation) can intercept each update and the final result of any strategy.
 *
 * The adapter method's `AggregationRule`s travel in the context: strategies act on rule kinds, never on
 * method names, and refuse combinations they cannot handle in `checkRules` (at configuration time).
 */
import type { AggregationRule } from '../../shared/adapters/types.ts';
import type { Contribution } from '../../shared/aggregation/contribution.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';

/** A connected client as the coordinator knows it when a round starts. */
export interface ClientDescriptor {
  id: string;
  /** Set to false to exclude the client from sampling (busy, low battery, failed signature check). */
  eligible?: boolean;
  /** Anything else an eligibility predicate may look at (device class, nested rank, region). */
  traits?: Readonly<Record<string, string | number | boolean>>;
}

export interface ConfigureContext {
  round: number;
  /** The candidates; order does not matter (sampling sorts by id so it is reproducible). */
  clients: readonly ClientDescriptor[];
}

export interface AggregateContext {
  round: number;
  /** The current global shared tensors (what the sampled clients started from). */
  global: HostTensorMap;
  /** The method's rule for each shared tensor name. */
  rules: ReadonlyMap<string, AggregationRule>;
}

/** What a sampled client is told beside the global tensors (the coordinator adds method config and deadline). */
export interface ClientInstruction {
  clientId: string;
  round: number;
  /** FedProx: weight of the client's proximal term (mu / 2) ||w - w_global||^2. */
  proximalMu?: number;
  /** Client-side DP (RoundInstruction.client_noise): what the client clips to and adds (DP wrapper). */
  clientNoise?: ClientNoiseRequest;
  /** Extra per-client settings (merged into hyperparams_json). */
  extra?: Readonly<Record<string, number | string | boolean>>;
}

/** A client-side DP request: clip the update to `clipNorm`, add Gaussian noise of std `noiseStd`. */
export interface ClientNoiseRequest {
  placement: 'central' | 'distributed' | 'local';
  clipNorm: number;
  noiseStd: number;
}

/** A client's update: its new shared tensors, weight and rule side-information. */
export type ClientUpdate = Contribution;

export interface AggregateOutcome {
  /** The new global shared tensors (tensors nobody updated are carried over from the context). */
  global: HostTensorMap;
  contributors: string[];
  totalWeight: number;
  /** Numbers worth logging (e.g. `pseudoGradientNorm`, `clippedClients`). */
  metrics: Record<string, number>;
}

/** One round's aggregation in progress. */
export interface RoundAggregation {
  readonly count: number;
  /** Validates and folds one update; throws a `FedpeftError` (leaving the aggregate untouched) if it is rejected. */
  add(update: ClientUpdate): void;
  /** Closes the round: combines what was added and applies the server step. */
  finish(): AggregateOutcome;
}

/** Server-side state a checkpoint must hold for a restart to continue identically. */
export interface StrategyState {
  strategy: string;
  tensors: HostTensorMap;
  values: Record<string, number>;
  /** A wrapper's inner strategy's state. */
  inner?: StrategyState;
}

export interface Strategy {
  readonly name: string;
  /** Throws a `FedpeftError` if this strategy cannot aggregate tensors with these rules. */
  checkRules(rules: ReadonlyMap<string, AggregationRule>): void;
  configureRound(context: ConfigureContext): ClientInstruction[];
  beginAggregation(context: AggregateContext): RoundAggregation;
  exportState(): StrategyState;
  importState(state: StrategyState): void;
}

/** Aggregates a whole list at once (tests, the simulator); the coordinator streams through `beginAggregation`. */
export function aggregate(
  strategy: Strategy,
  context: AggregateContext,
  updates: Iterable<ClientUpdate>,
): AggregateOutcome {
  const round = strategy.beginAggregation(context);
  for (const update of updates) round.add(update);
  return round.finish();
}
