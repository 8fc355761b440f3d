/**
 * Secure aggregation (Bonawitz et al. 2017) as an update protocol: keys are advertised as soon as the
 * instruction arrives (training runs meanwhile), the forwarded shares make the masked input buildable, and
 * the masked delta goes up as a chunked transfer followed by `secagg_masked_input` (answered by
 * `update_receipt`). The cryptography is client/privacy/secagg-client-driver.ts.
 */
import { FedpeftError } from '../../shared/errors.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import { DEFAULT_CHUNK_BYTES } from '../../shared/wire/limits.ts';
import { ClientPhase, fromWireError, type Frame } from '../../shared/wire/messages.ts';
import type { Peer } from '../../shared/wire/peer.ts';
import { isFedpeftError } from '../../shared/errors.ts';
import type { LocalUpdate } from '../trainer.ts';
import { SecAggClientDriver } from '../privacy/secagg-client-driver.ts';
import type { PrivatizedUpdate } from '../privacy/update-privacy.ts';
import type { Instruction, UpdateProtocol, UpdateProtocolHost } from './update-protocol.ts';

function errorCode(err: unknown): string {
  return isFedpeftError(err) ? err.code : 'INTERNAL';
}

export type SecAggMessage = Extract<
  Frame['message'],
  { kind: 'secaggKeysBroadcast' | 'secaggSharesDelivery' | 'secaggUnmaskRequest' }
>;

/** One round's secure aggregation on this client (client/privacy/secagg-client-driver.ts). */
interface SecAggRound {
  roundId: number;
  driver: SecAggClientDriver;
  /** Resolves when the forwarded shares arrived (the masked input can then be built); rejects on abort. */
  ready: Promise<void>;
  resolveReady: () => void;
  rejectReady: (err: Error) => void;
}

export class SecureAggregationProtocol implements UpdateProtocol {
  readonly needsDelta = true;
  private secagg: SecAggRound | undefined;

  constructor(private readonly host: UpdateProtocolHost) {}

  /** A standalone SECAGG_ABORTED error for the round under way: its wait for shares ends. */
  onError(message: Extract<Frame['message'], { kind: 'error' }>): void {
    const err = fromWireError(message.body);
    if (err.code === 'SECAGG_ABORTED' && this.secagg?.roundId === message.body.roundId)
      this.secagg.rejectReady(err);
  }

  /** A securely aggregated round: build the driver and advertise keys at once (training runs meanwhile). */
  begin(ins: Instruction, peer: Peer): boolean {
    if (!ins.secureAggregation || this.secagg?.roundId === ins.roundId) return false;
    try {
      const driver = new SecAggClientDriver({
        roundId: ins.roundId,
        wireConfig: ins.secureAggregation,
        layout: ins.globalState.tensors.map((t) => ({ name: t.name, shape: [...t.shape] })),
      });
      let resolveReady!: () => void;
      let rejectReady!: (err: Error) => void;
      const ready = new Promise<void>((resolve, reject) => {
        resolveReady = resolve;
        rejectReady = reject;
      });
      ready.catch(() => undefined); // observed by the round task; an abort before it waits is not unhandled
      this.secagg = { roundId: ins.roundId, driver, ready, resolveReady, rejectReady };
      peer.send({ kind: 'secaggAdvertiseKeys', body: driver.start() });
      this.host.logger.log('info', 'secagg-started', {
        round: ins.roundId,
        participant: driver.participantIndex,
        threshold: driver.config.threshold,
      });
    } catch (err) {
      this.host.logger.log('error', 'secagg-refused', {
        round: ins.roundId,
        message: (err as Error).message,
      });
    }
    return true;
  }

  async onMessage(message: SecAggMessage, peer: Peer): Promise<void> {
    const sa = this.secagg;
    if (!sa || sa.roundId !== message.body.roundId) {
      this.host.logger.log('warn', 'secagg-unexpected', { kind: message.kind, round: message.body.roundId });
      return;
    }
    try {
      switch (message.kind) {
        case 'secaggKeysBroadcast':
          peer.send({ kind: 'secaggShareKeys', body: await sa.driver.onKeysBroadcast(message.body) });
          return;
        case 'secaggSharesDelivery':
          sa.driver.onSharesDelivery(message.body);
          sa.resolveReady();
          return;
        case 'secaggUnmaskRequest':
          peer.send({ kind: 'secaggUnmaskResponse', body: sa.driver.onUnmaskRequest(message.body) });
          this.host.logger.log('info', 'secagg-unmasked', { round: sa.roundId });
          return;
      }
    } catch (err) {
      this.host.logger.log('error', 'secagg-failed', {
        round: sa.roundId,
        kind: message.kind,
        code: errorCode(err),
        message: (err as Error).message,
      });
      sa.rejectReady(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Sends the masked input (a chunked transfer, then `secagg_masked_input`, answered by `update_receipt`).
   * Each client counts with weight 1: weights must fit the fixed-point range and would reveal dataset sizes.
   */
  async submit(
    ins: Instruction,
    update: LocalUpdate,
    privatized: PrivatizedUpdate | null,
    persistState: (alsoWrite?: () => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const priv = privatized!; // needsDelta: the round code always takes the delta for this protocol
    await persistState();
    const sa = this.secagg;
    if (!sa || sa.roundId !== ins.roundId) {
      throw new FedpeftError('SECAGG_ABORTED', `round ${ins.roundId}: secure aggregation was not set up`);
    }
    const deadlineAt = Date.now() + Math.max(1, ins.deadlineMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      sa.ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new FedpeftError('DEADLINE_EXCEEDED', 'the secure-aggregation shares did not arrive in time'),
            ),
          Math.max(0, deadlineAt - Date.now()),
        );
      }),
    ]).finally(() => clearTimeout(timer));
    const transferId = this.host.nextTransferId('secagg', ins.roundId);
    const weight = 1;
    const { message, tensors } = sa.driver.maskedInput(priv.delta, weight, transferId);
    if (sa.driver.clippedValueCount > 0) {
      this.host.logger.log('warn', 'secagg-values-clipped', {
        round: ins.roundId,
        count: sa.driver.clippedValueCount,
      });
    }
    const transfer = OutgoingTransfer.fromTensors(transferId, tensors, {
      chunkBytes: this.host.limits()?.chunkBytes || DEFAULT_CHUNK_BYTES,
    });
    for (let attempt = 1; ; attempt++) {
      const peer = await this.host.joinedPeer();
      this.host.setPhase(ClientPhase.UPLOADING);
      try {
        await peer.sendTransfer(transfer, {
          announce: true,
          window: this.host.limits()?.maxInFlightChunks || 8,
          onProgress: (done, total) => this.host.setProgress(total === 0 ? 1 : done / total),
        });
        const reply = await peer.request({ kind: 'secaggMaskedInput', body: message });
        if (reply.message.kind !== 'updateReceipt') {
          throw new FedpeftError(
            'UNEXPECTED_MESSAGE',
            `the coordinator answered secagg_masked_input with ${reply.message.kind}`,
          );
        }
        const m = update.metrics;
        peer.send({
          kind: 'metrics',
          body: {
            roundId: ins.roundId,
            trainLoss: m.trainLoss,
            globalValLoss: m.globalValLoss,
            globalValPpl: m.globalValPpl,
            personalValLoss: m.personalValLoss,
            personalValPpl: m.personalValPpl,
            steps: m.steps,
            computeMs: Math.round(m.computeMs),
          },
        });
        break;
      } catch (err) {
        if (errorCode(err) === 'CONNECTION_CLOSED' && attempt < 5) continue;
        throw err;
      }
    }
    this.host.setPhase(ClientPhase.IDLE);
    await this.host.markCommitted(ins.roundId);
    this.host.logger.log('info', 'masked-input-committed', { round: ins.roundId, transfer: transferId });
    this.host.options.onRoundCommitted?.(ins.roundId, {
      transferId,
      shared: priv.tensors,
      weight,
      update,
      secureDelta: priv.delta,
    });
  }
}
