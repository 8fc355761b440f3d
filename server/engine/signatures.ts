/**
 * Derived-state signatures (docs/protocol.md, "Signatures"): a Join proves the client's derived state (PiCa's
 * projectors, ...) matches the run's reference — the coordinator's own (default), or with the opt-in
 * `first-client` the first accepted client's.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { MessageBody } from '../../shared/wire/messages.ts';
import { decodeHostTensor } from '../../shared/wire/tensor-codec.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { MethodState } from '../method-state.ts';

export class SignatureGate {
  /** The run's reference (persisted with each checkpoint), or null until the first signed client. */
  reference: Float32Array | null = null;

  constructor(
    private readonly method: MethodState,
    private readonly config: CoordinatorConfig,
  ) {
    if (config.signatures.reference === 'coordinator' && method.signature.length > 0) {
      this.reference = method.signature;
    }
  }

  /**
   * True when the join proves the client's derived state (or the method derives none); false when it carries
   * no signature (a new client that learns the run from the Welcome: admitted, not sampled); throws
   * SIGNATURE_MISMATCH for a signature that differs from the run's reference.
   */
  check(join: MessageBody<'join'>): boolean {
    const method = this.method;
    if (method.signature.length === 0) return true;
    const sig = join.signatures.find((s) => s.method === method.method);
    if (!sig) return false;
    let value: Float32Array;
    try {
      value = decodeHostTensor(sig.value.spec, sig.value.data, { maxTensorBytes: 64 * 1024 }).data;
    } catch (err) {
      throw new FedpeftError('SIGNATURE_MISMATCH', `unreadable signature: ${(err as Error).message}`);
    }
    const ref = this.reference;
    if (!ref) return true;
    if (value.length !== ref.length) {
      throw new FedpeftError(
        'SIGNATURE_MISMATCH',
        `signature of '${method.method}' has ${value.length} values; the run's reference has ${ref.length} ` +
          `(different method config or model?)`,
      );
    }
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(value[i]! - ref[i]!);
      diff = d > diff || Number.isNaN(d) ? d : diff;
      scale = Math.max(scale, Math.abs(ref[i]!));
    }
    const tolerance = this.config.signatures.tolerance * Math.max(1, scale);
    if (!(diff <= tolerance)) {
      throw new FedpeftError(
        'SIGNATURE_MISMATCH',
        `derived state of '${method.method}' differs from the run's reference by ${diff.toPrecision(3)} ` +
          `(tolerance ${tolerance.toPrecision(3)}): this client's base model weights or run seed differ from the ` +
          `other clients'. Use model '${method.model}' with the run seed ${this.config.run.seed}.`,
      );
    }
    return true;
  }

  /** The first accepted client's signature becomes the reference (persisted with the next checkpoint). */
  accept(join: MessageBody<'join'>): void {
    if (this.reference || this.method.signature.length === 0) return;
    const sig = join.signatures.find((s) => s.method === this.method.method);
    if (!sig) return;
    this.reference = decodeHostTensor(sig.value.spec, sig.value.data).data.slice();
  }
}
