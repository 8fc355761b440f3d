/**
 * What an aggregation rule implementation provides. Methods declare an `AggregationRule` per shared tensor
 * (`shared/adapters/types.ts`); the aggregator looks the rule's `kind` up in the registry and folds each
 * client's tensor into the accumulator the implementation creates. Strategies read `meanLike`/`streaming`
 * to decide what they can do with a tensor, never the method's name.
 */
import type { AggregationRule } from '../../adapters/types.ts';
import type { HostTensor } from '../../tensor/host-tensor.ts';

export type RuleKind = AggregationRule['kind'];
export type RuleOf<K extends RuleKind> = Extract<AggregationRule, { kind: K }>;

/** One client's tensor for one shared name, with what the rules may need beside the values. */
export interface TensorPart {
  clientId: string;
  weight: number;
  tensor: HostTensor;
  /** Nested ranks: how many entries along the rule's axis this client trained. */
  trainedExtent?: number;
  /** HetLoRA: ‖B_k A_k‖_F of the layer this tensor belongs to. */
  norm?: number;
}

export interface RuleAccumulator {
  /** Throws a `FedpeftError` if `fold` would reject the part; never changes the accumulator. */
  check(part: TensorPart, label: string): void;
  /** Folds a part that `check` accepted. */
  fold(part: TensorPart): void;
  /** The aggregated tensor (a new array; the accumulator stays usable). */
  result(): HostTensor;
}

export interface RuleImplementation<K extends RuleKind = RuleKind> {
  readonly kind: K;
  readonly description: string;
  /** Memory independent of the number of clients (the coordinator's running-sum promise holds). */
  readonly streaming: boolean;
  /**
   * The result keeps the global's shape and is a weighted mean of the clients' tensors, so a pseudo-gradient
   * `global - aggregate` means something and coordinate-wise robust statistics can replace the mean.
   */
  readonly meanLike: boolean;
  /** `previous` is the current global value of the tensor (absent e.g. in FLoRA, which starts fresh). */
  createAccumulator(rule: RuleOf<K>, name: string, previous: HostTensor | undefined): RuleAccumulator;
}
