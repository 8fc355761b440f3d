/**
 * Secure aggregation (Bonawitz et al., CCS 2017) as a wrapper around a strategy: the coordinator runs the four
 * phases with `SecAggServer` and only ever learns the SUM of the clients' weighted deltas, which it hands to
 * the wrapped strategy as one update (`SECURE_SUM_CLIENT_ID`: global + Σ w·δ / Σ w, weight Σ w). For every
 * weighted-mean rule (and PiCa's nested-prefix-mean at full rank) that equals the plaintext weighted mean (up
 * to the fixed-point error), so FedAvg, server optimizers and distributed DP compose unchanged. Other rules
 * are refused: stacking (FLoRA) is not a sum, HetLoRA's norm weights would have to be revealed per client.
 *
 * Per round, `beginAggregation` returns a `SecureRound` — the driver the coordinator feeds with the secagg
 * records each sampled client sends (decoded from frames, sender = the authenticated connection) and asks for
 * the records to send back when it closes a phase (all expected records in, or its deadline):
 *
 *   configFor(id)        the instruction's SecAggConfig (session, threshold, fixed point, participant index)
 *   receive(id, msg)     secaggAdvertiseKeys | secaggShareKeys | secaggMaskedInput (+ its transfer) | secaggUnmaskResponse
 *   closePhase()         -> records per client: key rosters, forwarded shares, unmask requests
 *   complete()           -> the wrapped strategy's outcome for the unmasked sum
 *
 * A plaintext update given to `add` is refused (SECAGG_PLAINTEXT_UPDATE): in a securely aggregated round there
 * is nothing a client may send in the clear. Rounds need 2..255 clients (the Shamir implementation works in
 * GF(2^8)); sample at most 255 per round.
 */
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { FedpeftError } from '../../shared/errors.ts';
import {
  MAX_SECAGG_CLIENTS,
  parseSecAggConfig,
  type SecAggConfig,
} from '../../shared/privacy/secagg/config.ts';
import { secAggError } from '../../shared/privacy/secagg/errors.ts';
import { SecAggServer, type HeldVector } from '../../shared/privacy/secagg/server.ts';
import {
  advertiseKeysFromWire,
  maskedInputFromWire,
  maskedLength,
  participantIndex,
  ringBitsFor,
  rosterToWire,
  secAggConfigToWire,
  shareKeysFromWire,
  sharesDeliveryToWire,
  unmaskRequestToWire,
  unmaskResponseFromWire,
  type SecAggWireContext,
} from '../../shared/privacy/secagg/wire-mapping.ts';
import type { UpdateLayout } from '../../shared/privacy/update-vector.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { MessageBody, MessageInput, WireMessageInput } from '../../shared/wire/messages.ts';
import type { TypedTensor } from '../../shared/wire/tensor-codec.ts';
import { StrategyWrapper } from '../strategies/strategy-wrapper.ts';
import type {
  AggregateContext,
  AggregateOutcome,
  ClientInstruction,
  ConfigureContext,
  RoundAggregation,
  Strategy,
} from '../strategies/strategy.ts';
import { DifferentiallyPrivate } from './dp-strategy.ts';
import { SECURE_SUM_CLIENT_ID, defaultSecAggThreshold } from './secure-sum.ts';

/**
 * Rules whose aggregate is a weighted sum divided by the total weight. `nested-prefix-mean` (PiCa's shared B)
 * is one when every client trains the full rank, which is what a masked full-size delta is: nested ranks
 * (clients training only a prefix) would need per-row client counts and are not supported under secure
 * aggregation.
 */
const SUM_RULES: ReadonlySet<AggregationRule['kind']> = new Set(['weighted-mean', 'nested-prefix-mean']);

export interface SecureAggregationOptions {
  /** Sessions are `<runId>/round-<n>`: keys and masks are bound to one run and round. */
  runId: string;
  /** t for n participants. Default: the smallest t > n/2. */
  threshold?: (participants: number) => number;
  /** R: weighted delta values are clipped to [-R, R] before encoding. Default 8. */
  clipRange?: number;
  /** f: fixed-point scale 2^f. Default 16. */
  fractionalBits?: number;
  /** Audit hook: every vector the coordinator holds (tests check none is an individual update). */
  onVectorHeld?: (held: HeldVector) => void;
}

/** Secagg records a client sends, as decoded from frames. */
export type SecAggClientRecord =
  | { kind: 'secaggAdvertiseKeys'; body: MessageBody<'secaggAdvertiseKeys'> }
  | { kind: 'secaggShareKeys'; body: MessageBody<'secaggShareKeys'> }
  | {
      kind: 'secaggMaskedInput';
      body: MessageBody<'secaggMaskedInput'>;
      /** The completed transfer `body.transferId` (`TransferReceiver.tensors()`). */
      tensors: ReadonlyArray<{ spec: { name: string }; tensor: TypedTensor }>;
    }
  | { kind: 'secaggUnmaskResponse'; body: MessageBody<'secaggUnmaskResponse'> };

export interface OutgoingSecAggRecord {
  clientId: string;
  message: WireMessageInput;
}

export class SecureAggregation extends StrategyWrapper {
  protected readonly wrapperName = 'secagg';
  private readonly options: SecureAggregationOptions;
  private readonly participants = new Map<number, string[]>();

  constructor(inner: Strategy, options: SecureAggregationOptions) {
    super(inner);
    if (inner instanceof DifferentiallyPrivate && inner.needsIndividualUpdates) {
      throw new FedpeftError(
        'SECAGG_INVALID_CONFIG',
        'central DP clips each client update, which secure aggregation hides from the coordinator: use dp placement "distributed" (or "local") with secure aggregation',
      );
    }
    this.options = options;
  }

  override checkRules(rules: ReadonlyMap<string, AggregationRule>): void {
    this.inner.checkRules(rules);
    for (const [name, rule] of rules) {
      if (!SUM_RULES.has(rule.kind)) {
        throw new FedpeftError(
          'SECAGG_UNSUPPORTED_RULE',
          `secure aggregation reveals only a weighted sum; tensor "${name}" uses rule ${rule.kind}, which needs ` +
            'per-client values (use a single-factor method: PiCa, cLA/c3LA, FFA-LoRA, LoSA)',
        );
      }
    }
  }

  override configureRound(context: ConfigureContext): ClientInstruction[] {
    const instructions = this.inner.configureRound(context);
    const n = instructions.length;
    if (n < 2) {
      throw secAggError(
        'SECAGG_TOO_FEW_CLIENTS',
        `round ${context.round} samples ${n} client(s); secure aggregation needs at least 2 (the sum of one client is its update)`,
      );
    }
    if (n > MAX_SECAGG_CLIENTS) {
      throw secAggError(
        'SECAGG_INVALID_CONFIG',
        `round ${context.round} samples ${n} clients; secure aggregation handles at most ${MAX_SECAGG_CLIENTS} per round (set sampling.maxClients)`,
      );
    }
    this.participants.set(
      context.round,
      instructions.map((i) => i.clientId),
    );
    return instructions.map((i) => ({ ...i, extra: { ...i.extra, secureAggregation: true } }));
  }

  /** The round's driver; `participants` defaults to the clients `configureRound` sampled for this round. */
  override beginAggregation(context: AggregateContext, participants?: readonly string[]): SecureRound {
    this.checkRules(context.rules);
    const ids = participants ?? this.participants.get(context.round);
    if (!ids) {
      throw new FedpeftError(
        'SECAGG_INVALID_CONFIG',
        `round ${context.round} was not configured through the secure-aggregation wrapper, so its participants are unknown`,
      );
    }
    this.participants.delete(context.round);
    const threshold = (this.options.threshold ?? defaultSecAggThreshold)(ids.length);
    const layout: UpdateLayout = [...context.global].map(([name, t]) => ({ name, shape: [...t.shape] }));
    const config = parseSecAggConfig({
      sessionId: `${this.options.runId}/round-${context.round}`,
      threshold,
      layout,
      ...(this.options.clipRange !== undefined ? { clipRange: this.options.clipRange } : {}),
      ...(this.options.fractionalBits !== undefined ? { fractionalBits: this.options.fractionalBits } : {}),
    });
    return new SecureRound(config, context, ids, this.inner, this.options.onVectorHeld);
  }
}

/** Functional form, Flower style. */
export function secureAggregation(inner: Strategy, options: SecureAggregationOptions): SecureAggregation {
  return new SecureAggregation(inner, options);
}

export function isSecureRound(aggregation: RoundAggregation): aggregation is SecureRound {
  return aggregation instanceof SecureRound;
}

/** One round's secure aggregation, driven by the coordinator. */
export class SecureRound implements RoundAggregation {
  readonly config: SecAggConfig;
  private readonly server: SecAggServer;
  private readonly ctx: SecAggWireContext;
  private readonly indexOf = new Map<string, number>();
  private readonly idOf: string[];
  private readonly advertised: string[] = [];
  private rosterSize = 0;
  private maskedCount = 0;
  private outcome: AggregateOutcome | undefined;

  constructor(
    config: SecAggConfig,
    private readonly context: AggregateContext,
    participants: readonly string[],
    private readonly inner: Strategy,
    onVectorHeld?: (held: HeldVector) => void,
  ) {
    this.config = config;
    this.server = new SecAggServer(config, onVectorHeld ? { onVectorHeld } : {});
    this.ctx = { sessionId: config.sessionId, roundId: context.round };
    this.idOf = [...participants];
    this.idOf.forEach((id, i) => {
      if (this.indexOf.has(id))
        throw secAggError('SECAGG_DUPLICATE_CLIENT', `client '${id}' is listed twice`);
      this.indexOf.set(id, i);
    });
  }

  get phase(): SecAggServer['phase'] {
    return this.server.phase;
  }

  /** Clients (coordinator ids) still expected in the current phase: close it early when this is empty. */
  get awaiting(): string[] {
    if (this.server.phase === 'advertise-keys') {
      const advertised = new Set(this.advertised);
      return this.idOf.filter((id) => !advertised.has(id));
    }
    return this.server.awaiting.map((p) => this.idOf[participantIndex(p)] as string);
  }

  /** Masked inputs folded in so far. */
  get count(): number {
    return this.maskedCount;
  }

  /** The instruction's `secureAggregation` record for one participant. */
  configFor(clientId: string): MessageInput<'roundInstruction'>['secureAggregation'] {
    return secAggConfigToWire(this.config, this.index(clientId), this.idOf.length);
  }

  /** Feeds one record from `clientId` (the authenticated sender); throws a SECAGG_* error and changes nothing if it is rejected. */
  receive(clientId: string, record: SecAggClientRecord): void {
    const index = this.index(clientId);
    switch (record.kind) {
      case 'secaggAdvertiseKeys':
        this.server.receiveAdvertiseKeys(advertiseKeysFromWire(record.body, this.ctx, index));
        this.advertised.push(clientId);
        return;
      case 'secaggShareKeys':
        this.server.receiveShareKeys(shareKeysFromWire(record.body, this.ctx, index));
        return;
      case 'secaggMaskedInput':
        this.server.receiveMaskedInput(
          maskedInputFromWire(record.body, record.tensors, {
            ...this.ctx,
            senderIndex: index,
            ringBits: ringBitsFor(this.config, this.rosterSize),
            length: maskedLength(this.config.layout),
          }),
        );
        this.maskedCount += 1;
        return;
      case 'secaggUnmaskResponse':
        this.server.receiveUnmaskResponse(unmaskResponseFromWire(record.body, this.ctx, index));
        return;
    }
  }

  /** Closes the current phase and returns what to send to whom (throws SECAGG_TOO_FEW_CLIENTS below t). */
  closePhase(): OutgoingSecAggRecord[] {
    switch (this.server.phase) {
      case 'advertise-keys': {
        const roster = this.server.closeAdvertiseKeys();
        this.rosterSize = roster.participants.length;
        return roster.participants.map((p) => {
          const index = participantIndex(p.clientId);
          return {
            clientId: this.idOf[index] as string,
            message: {
              kind: 'secaggKeysBroadcast',
              body: rosterToWire(roster, this.ctx, index, this.config.threshold),
            },
          };
        });
      }
      case 'share-keys':
        return this.server.closeShareKeys().map((delivery) => ({
          clientId: this.idOf[participantIndex(delivery.recipientId)] as string,
          message: { kind: 'secaggSharesDelivery', body: sharesDeliveryToWire(delivery, this.ctx) },
        }));
      case 'masked-input': {
        const sharedKeys = this.server.awaiting; // U2 members without a masked input: dropped
        const request = this.server.closeMaskedInput();
        const body = unmaskRequestToWire(request, this.ctx, sharedKeys);
        return request.survivors.map((p) => ({
          clientId: this.idOf[participantIndex(p)] as string,
          message: { kind: 'secaggUnmaskRequest', body },
        }));
      }
      default:
        throw secAggError('SECAGG_WRONG_PHASE', `no phase to close in phase '${this.server.phase}'`);
    }
  }

  add(): void {
    throw new FedpeftError(
      'SECAGG_PLAINTEXT_UPDATE',
      `round ${this.context.round} is securely aggregated: updates arrive masked (secaggMaskedInput), never in the clear`,
    );
  }

  finish(): AggregateOutcome {
    if (this.outcome) return this.outcome;
    throw secAggError('SECAGG_WRONG_PHASE', 'a secure round finishes asynchronously: await complete()');
  }

  /** Unmasks the sum and runs the wrapped strategy on it (after the unmask phase's responses or deadline). */
  async complete(): Promise<AggregateOutcome> {
    const result = await this.server.finish();
    if (!(result.totalWeight > 0)) {
      throw new FedpeftError(
        'AGGREGATION_EMPTY',
        `round ${this.context.round}: the securely summed weight is 0`,
      );
    }
    const mean: HostTensorMap = new Map();
    for (const [name, g] of this.context.global) {
      const s = result.sum.get(name)?.data as Float32Array;
      const data = new Float32Array(g.data.length);
      for (let i = 0; i < data.length; i++)
        data[i] = (g.data[i] as number) + (s[i] as number) / result.totalWeight;
      mean.set(name, { shape: [...g.shape], data });
    }
    const aggregation = this.inner.beginAggregation(this.context);
    aggregation.add({ clientId: SECURE_SUM_CLIENT_ID, weight: result.totalWeight, tensors: mean });
    const inner = aggregation.finish();
    const contributors = result.included.map((p) => this.idOf[participantIndex(p)] as string);
    this.outcome = {
      global: inner.global,
      contributors,
      totalWeight: result.totalWeight,
      metrics: {
        ...inner.metrics,
        clients: contributors.length,
        secaggIncluded: result.included.length,
        secaggExcluded: result.excluded.length,
        secaggUnresponsive: result.unresponsive.length,
        secaggQuantizationErrorBound: result.quantizationErrorBound,
        secaggRingBits: result.ringBits,
      },
    };
    return this.outcome;
  }

  private index(clientId: string): number {
    const i = this.indexOf.get(clientId);
    if (i === undefined) {
      throw secAggError(
        'SECAGG_UNKNOWN_CLIENT',
        `'${clientId}' is not a participant of this secure aggregation`,
      );
    }
    return i;
  }
}
