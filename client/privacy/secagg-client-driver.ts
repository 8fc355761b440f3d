/**
 * The client side of secure aggregation as message handlers: it turns the protocol core's `SecAggClient` into
 * functions from the coordinator's secagg records (as decoded from frames) to the records to send back, so it
 * works over any transport (socket.io, the simulator's in-memory links, a test loop).
 *
 *   start()                      -> secaggAdvertiseKeys      (when the round instruction arrives)
 *   onKeysBroadcast(body)        -> secaggShareKeys          (may run while the client trains)
 *   onSharesDelivery(body)          (kept until the update is ready)
 *   maskedInput(delta, weight)   -> secaggMaskedInput + the tensors of its transfer
 *   onUnmaskRequest(body)        -> secaggUnmaskResponse
 *
 * What the client masks is its update's DELTA from the round's global (clipped and noised first when DP is on,
 * see `update-privacy.ts`): deltas are small, so they fit the fixed-point range, and the coordinator adds the
 * global back to the mean.
 */
import type { SecAggConfig } from '../../shared/privacy/secagg/config.ts';
import type { RandomBytes } from '../../shared/privacy/secagg/key-agreement.ts';
import type { SecAggSharesForClient } from '../../shared/privacy/secagg/messages.ts';
import type { UpdateLayout } from '../../shared/privacy/update-vector.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { MessageBody, MessageInput } from '../../shared/wire/messages.ts';
import { SecAggClient } from '../../shared/privacy/secagg/client.ts';
import { secAggError } from '../../shared/privacy/secagg/errors.ts';
import {
  advertiseKeysToWire,
  maskedInputToWire,
  participantId,
  ringBitsFor,
  rosterFromWire,
  secAggConfigFromWire,
  shareKeysToWire,
  sharesDeliveryFromWire,
  unmaskRequestFromWire,
  unmaskResponseToWire,
  type MaskedInputOnWire,
  type SecAggWireContext,
} from '../../shared/privacy/secagg/wire-mapping.ts';

export interface SecAggClientDriverOptions {
  roundId: number;
  /** The instruction's `secureAggregation` record. */
  wireConfig: MessageBody<'roundInstruction'>['secureAggregation'];
  /** The shared tensors' names and shapes in the order of the global state the client received. */
  layout: UpdateLayout;
  /** Tests and simulations only: predictable keys protect nothing. */
  randomBytes?: RandomBytes;
}

export class SecAggClientDriver {
  readonly config: SecAggConfig;
  readonly participantIndex: number;
  private readonly client: SecAggClient;
  private readonly ctx: SecAggWireContext;
  private delivery: SecAggSharesForClient | undefined;
  private rosterSize = 0;

  constructor(options: SecAggClientDriverOptions) {
    const { config, participantIndex } = secAggConfigFromWire(options.wireConfig, options.layout);
    this.config = config;
    this.participantIndex = participantIndex;
    this.ctx = { sessionId: config.sessionId, roundId: options.roundId };
    this.client = new SecAggClient(participantId(participantIndex), config, {
      ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
    });
  }

  /** Values of the last masked input that fell outside [-R, R] (a sign the range or the clip norm is off). */
  get clippedValueCount(): number {
    return this.client.clippedValueCount;
  }

  start(): MessageInput<'secaggAdvertiseKeys'> {
    return advertiseKeysToWire(this.client.advertiseKeys(), this.ctx);
  }

  async onKeysBroadcast(body: MessageBody<'secaggKeysBroadcast'>): Promise<MessageInput<'secaggShareKeys'>> {
    const roster = rosterFromWire(body, {
      ...this.ctx,
      selfIndex: this.participantIndex,
      threshold: this.config.threshold,
    });
    const shared = await this.client.shareKeys(roster);
    this.rosterSize = roster.participants.length;
    return shareKeysToWire(shared, this.ctx);
  }

  onSharesDelivery(body: MessageBody<'secaggSharesDelivery'>): void {
    if (this.delivery) throw secAggError('SECAGG_WRONG_PHASE', 'the shares were already delivered');
    this.delivery = sharesDeliveryFromWire(body, this.ctx, this.participantIndex);
  }

  /** True once the forwarded shares are in: the masked input can be sent as soon as the update is ready. */
  get readyForInput(): boolean {
    return this.delivery !== undefined;
  }

  /** The masked `weight · delta ‖ weight`; `weight` must be in [0, clipRange] (use 1 with DP). */
  maskedInput(delta: HostTensorMap, weight: number, transferId: string): MaskedInputOnWire {
    if (!this.delivery) {
      throw secAggError('SECAGG_WRONG_PHASE', 'the masked input needs the forwarded shares first');
    }
    const masked = this.client.maskedInput(this.delivery, delta, weight);
    return maskedInputToWire(masked, this.ctx, ringBitsFor(this.config, this.rosterSize), transferId);
  }

  onUnmaskRequest(body: MessageBody<'secaggUnmaskRequest'>): MessageInput<'secaggUnmaskResponse'> {
    return unmaskResponseToWire(this.client.unmask(unmaskRequestFromWire(body, this.ctx)), this.ctx);
  }
}
