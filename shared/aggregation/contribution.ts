/** One client's update as the aggregator sees it (the coordinator builds it from a decoded, authenticated upload). */
import type { HostTensorMap } from '../tensor/host-tensor.ts';

export interface Contribution {
  clientId: string;
  /** Positive, finite; usually the number of local training examples. */
  weight: number;
  /** The client's new values of the shared tensors (not deltas). */
  tensors: HostTensorMap;
  /** Nested ranks: per tensor, how many entries along the rule's axis this client trained (default: all it sent). */
  trainedExtents?: ReadonlyMap<string, number>;
  /** HetLoRA: per tensor, ‖B_k A_k‖_F of the layer it belongs to. */
  norms?: ReadonlyMap<string, number>;
}
