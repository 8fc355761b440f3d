/**
 * Maps the secure-aggregation protocol core's messages (`messages.ts`: string ids, a session id in every
 * message) to and from the protobuf records of `proto/fedpeft.proto` (`SecAgg*`: compact participant indices
 * and the round id). Both directions validate, so a malformed record from the network becomes a `SECAGG_*`
 * error with a stable code before the state machines see it.
 *
 * Naming: participants of one aggregation are named on the wire by their index in the round's participant list
 * (`SecAggConfig.participant_index` tells each client its own), and inside the protocol core by the pseudonym
 * `p<index>`. Pseudonyms rather than the coordinator's session ids because every participant learns every
 * other participant's name from the key roster: a round-local index says nothing about anyone's session.
 *
 * The session id is sent once, in the round instruction's `SecAggConfig`; each later record carries only the
 * round id, which must match the context's (SECAGG_WRONG_SESSION otherwise), and the context supplies the
 * session id to the core. The sender of a client record is never taken from the record: the coordinator passes
 * the index it assigned to the authenticated connection the record arrived on.
 *
 * The masked input is the one large message: it travels as a chunked transfer of one UINT32 tensor
 * (`SECAGG_MASKED_TENSOR`), shape [n] in Z_2^32 or [n, 2] (low word, high word) in Z_2^52.
 */
import type { SecAggConfig, SecAggConfigInput } from './config.ts';
import type {
  SecAggAdvertiseKeys,
  SecAggEncryptedShare,
  SecAggKeyRoster,
  SecAggMaskedInput,
  SecAggRevealedShare,
  SecAggShareKeys,
  SecAggSharesForClient,
  SecAggUnmaskRequest,
  SecAggUnmaskResponse,
} from './messages.ts';
import type { UpdateLayout } from '../update-vector.ts';
import type { MessageBody, MessageInput } from '../../wire/messages.ts';
import type { TypedTensor } from '../../wire/tensor-codec.ts';
import { ShareKind } from '../../wire/messages.ts';
import { chooseRing } from './fixed-point-ring.ts';
import { MAX_SECAGG_CLIENTS, parseSecAggConfig } from './config.ts';
import { secAggError } from './errors.ts';
import { layoutSize } from '../update-vector.ts';

/** The name of the one tensor of a masked-input transfer. */
export const SECAGG_MASKED_TENSOR = 'secagg.masked';

/** Participant indices are bounded well above the 255-client group limit, but bounded. */
const MAX_PARTICIPANT_INDEX = 65_535;

/** What both ends know about the aggregation a record belongs to. */
export interface SecAggWireContext {
  sessionId: string;
  roundId: number;
}

export function participantId(index: number): string {
  if (!(Number.isInteger(index) && index >= 0 && index <= MAX_PARTICIPANT_INDEX)) {
    throw secAggError('SECAGG_UNKNOWN_CLIENT', `participant index ${index} is out of range`);
  }
  return `p${index}`;
}

export function participantIndex(id: string): number {
  const m = /^p(0|[1-9][0-9]{0,4})$/.exec(id);
  const index = m ? Number(m[1]) : NaN;
  if (!(index <= MAX_PARTICIPANT_INDEX)) {
    throw secAggError('SECAGG_UNKNOWN_CLIENT', `'${id}' is not a participant name (p<index>)`);
  }
  return index;
}

/**
 * A plain Uint8Array copy of a received byte field. protobufjs yields Node `Buffer`s (views into the frame),
 * and `shamir-secret-sharing` rejects anything whose constructor is not exactly Uint8Array; a copy also
 * detaches the protocol state from a frame buffer the transport may reuse.
 */
function own(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function checkRound(ctx: SecAggWireContext, roundId: number, what: string): void {
  if (roundId !== ctx.roundId) {
    throw secAggError(
      'SECAGG_WRONG_SESSION',
      `${what} is for round ${roundId}, this secure aggregation is round ${ctx.roundId}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// The aggregation's parameters (inside the round instruction)

/** The ring masked inputs live in, for a roster of `clients`: both sides compute it the same way. */
export function ringBitsFor(config: SecAggConfig, clients: number): 32 | 52 {
  return chooseRing({ ...config, clients }).bits;
}

/** `SecAggConfig` of the round instruction for the participant at `index` of `participants`. */
export function secAggConfigToWire(
  config: SecAggConfig,
  index: number,
  participants: number,
): MessageInput<'roundInstruction'>['secureAggregation'] {
  participantId(index);
  return {
    threshold: config.threshold,
    fieldBits: ringBitsFor(config, Math.min(participants, MAX_SECAGG_CLIENTS)),
    scale: 2 ** config.fractionalBits,
    clip: config.clipRange,
    sessionId: config.sessionId,
    participantIndex: index,
  };
}

/**
 * The core config a client rebuilds from its instruction; the layout is the shared tensors of the global
 * state it was sent (same names, shapes and order as the update it will mask).
 */
export function secAggConfigFromWire(
  wire: MessageBody<'roundInstruction'>['secureAggregation'],
  layout: UpdateLayout,
): { config: SecAggConfig; participantIndex: number } {
  if (!wire)
    throw secAggError('SECAGG_INVALID_CONFIG', 'the round instruction has no secure aggregation config');
  const fractionalBits = Math.log2(wire.scale);
  if (!Number.isInteger(fractionalBits)) {
    throw secAggError('SECAGG_INVALID_CONFIG', `fixed-point scale ${wire.scale} is not a power of two`);
  }
  const input: SecAggConfigInput = {
    sessionId: wire.sessionId,
    threshold: wire.threshold,
    layout,
    clipRange: wire.clip,
    fractionalBits,
  };
  let config: SecAggConfig;
  try {
    config = parseSecAggConfig(input);
  } catch (err) {
    throw secAggError(
      'SECAGG_INVALID_CONFIG',
      `invalid secure aggregation config: ${(err as Error).message}`,
    );
  }
  participantId(wire.participantIndex);
  return { config, participantIndex: wire.participantIndex };
}

// ---------------------------------------------------------------------------------------------------------
// Round 0: advertise keys, key roster

export function advertiseKeysToWire(
  m: SecAggAdvertiseKeys,
  ctx: SecAggWireContext,
): MessageInput<'secaggAdvertiseKeys'> {
  return { roundId: ctx.roundId, cPublicKey: m.encryptionPublicKey, sPublicKey: m.maskPublicKey };
}

export function advertiseKeysFromWire(
  body: MessageBody<'secaggAdvertiseKeys'>,
  ctx: SecAggWireContext,
  senderIndex: number,
): SecAggAdvertiseKeys {
  checkRound(ctx, body.roundId, 'AdvertiseKeys');
  return {
    sessionId: ctx.sessionId,
    clientId: participantId(senderIndex),
    encryptionPublicKey: own(body.cPublicKey),
    maskPublicKey: own(body.sPublicKey),
  };
}

export function rosterToWire(
  roster: SecAggKeyRoster,
  ctx: SecAggWireContext,
  recipientIndex: number,
  threshold: number,
): MessageInput<'secaggKeysBroadcast'> {
  return {
    roundId: ctx.roundId,
    yourIndex: recipientIndex,
    threshold,
    peers: roster.participants.map((p) => ({
      peerIndex: participantIndex(p.clientId),
      cPublicKey: p.encryptionPublicKey,
      sPublicKey: p.maskPublicKey,
    })),
  };
}

/** The roster as the client at `selfIndex` receives it; the rest is checked by `SecAggClient.shareKeys`. */
export function rosterFromWire(
  body: MessageBody<'secaggKeysBroadcast'>,
  ctx: SecAggWireContext & { selfIndex: number; threshold: number },
): SecAggKeyRoster {
  checkRound(ctx, body.roundId, 'the key roster');
  if (body.yourIndex !== ctx.selfIndex) {
    throw secAggError(
      'SECAGG_UNKNOWN_CLIENT',
      `the key roster is addressed to participant ${body.yourIndex}, this is participant ${ctx.selfIndex}`,
    );
  }
  if (body.threshold !== ctx.threshold) {
    throw secAggError(
      'SECAGG_INVALID_CONFIG',
      `the key roster says threshold ${body.threshold}, the round instruction said ${ctx.threshold}`,
    );
  }
  return {
    sessionId: ctx.sessionId,
    participants: body.peers.map((p) => ({
      sessionId: ctx.sessionId,
      clientId: participantId(p.peerIndex),
      encryptionPublicKey: own(p.cPublicKey),
      maskPublicKey: own(p.sPublicKey),
    })),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Round 1: share keys, forwarded shares

function sharesToWire(shares: SecAggEncryptedShare[]): MessageInput<'secaggShareKeys'>['shares'] {
  return shares.map((s) => ({
    fromIndex: participantIndex(s.senderId),
    toIndex: participantIndex(s.recipientId),
    ciphertext: s.ciphertext,
  }));
}

function sharesFromWire(shares: MessageBody<'secaggShareKeys'>['shares']): SecAggEncryptedShare[] {
  return shares.map((s) => ({
    senderId: participantId(s.fromIndex),
    recipientId: participantId(s.toIndex),
    ciphertext: own(s.ciphertext),
  }));
}

export function shareKeysToWire(m: SecAggShareKeys, ctx: SecAggWireContext): MessageInput<'secaggShareKeys'> {
  return {
    roundId: ctx.roundId,
    shares: sharesToWire(m.encryptedShares),
    selfMaskCommitment: m.selfMaskCommitment,
  };
}

export function shareKeysFromWire(
  body: MessageBody<'secaggShareKeys'>,
  ctx: SecAggWireContext,
  senderIndex: number,
): SecAggShareKeys {
  checkRound(ctx, body.roundId, 'ShareKeys');
  for (const s of body.shares) {
    if (s.fromIndex !== senderIndex) {
      throw secAggError(
        'SECAGG_MALFORMED_SHARES',
        `participant ${senderIndex} sent a share claiming to be from participant ${s.fromIndex}`,
      );
    }
  }
  return {
    sessionId: ctx.sessionId,
    clientId: participantId(senderIndex),
    selfMaskCommitment: own(body.selfMaskCommitment),
    encryptedShares: sharesFromWire(body.shares),
  };
}

export function sharesDeliveryToWire(
  m: SecAggSharesForClient,
  ctx: SecAggWireContext,
): MessageInput<'secaggSharesDelivery'> {
  return { roundId: ctx.roundId, shares: sharesToWire(m.encryptedShares) };
}

export function sharesDeliveryFromWire(
  body: MessageBody<'secaggSharesDelivery'>,
  ctx: SecAggWireContext,
  selfIndex: number,
): SecAggSharesForClient {
  checkRound(ctx, body.roundId, 'the forwarded shares');
  return {
    sessionId: ctx.sessionId,
    recipientId: participantId(selfIndex),
    encryptedShares: sharesFromWire(body.shares),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Round 2: masked input (a commit record plus a transfer of one UINT32 tensor)

export interface MaskedInputOnWire {
  message: MessageInput<'secaggMaskedInput'>;
  /** The transfer's tensors (`OutgoingTransfer.fromTensors(message.transferId, tensors)`). */
  tensors: Array<readonly [string, TypedTensor]>;
}

/** Elements of a masked vector for this layout: the weighted values plus the weight itself. */
export function maskedLength(layout: UpdateLayout): number {
  return layoutSize(layout) + 1;
}

export function maskedInputToWire(
  m: SecAggMaskedInput,
  ctx: SecAggWireContext,
  ringBits: 32 | 52,
  transferId: string,
): MaskedInputOnWire {
  const bytes = m.maskedInput;
  let tensor: TypedTensor;
  if (ringBits === 32) {
    const data = new Uint32Array(bytes.slice().buffer);
    tensor = { dtype: 'uint32', shape: [data.length], data };
  } else {
    const values = new Float64Array(bytes.slice().buffer);
    const data = new Uint32Array(2 * values.length);
    for (let i = 0; i < values.length; i++) {
      const x = values[i] as number;
      data[2 * i] = x % 4294967296;
      data[2 * i + 1] = Math.floor(x / 4294967296);
    }
    tensor = { dtype: 'uint32', shape: [values.length, 2], data };
  }
  // The weight field stays 0: the weight is inside the masked vector (see proto/fedpeft.proto).
  return {
    message: { roundId: ctx.roundId, transferId, weight: 0 },
    tensors: [[SECAGG_MASKED_TENSOR, tensor]],
  };
}

/**
 * A received masked input: the commit record plus the completed transfer's tensors, checked against the ring
 * and the expected length; the element range is checked again by the core (`FixedPointRing.fromBytes`).
 */
export function maskedInputFromWire(
  body: MessageBody<'secaggMaskedInput'>,
  received: ReadonlyArray<{ spec: { name: string }; tensor: TypedTensor }>,
  ctx: SecAggWireContext & { senderIndex: number; ringBits: 32 | 52; length: number },
): SecAggMaskedInput {
  checkRound(ctx, body.roundId, 'MaskedInput');
  if (body.weight !== 0) {
    throw secAggError(
      'SECAGG_MALFORMED_INPUT',
      'a masked input must not carry a plaintext weight (it travels inside the masked vector)',
    );
  }
  const only = received.length === 1 ? received[0] : undefined;
  if (!only || only.spec.name !== SECAGG_MASKED_TENSOR || only.tensor.dtype !== 'uint32') {
    throw secAggError(
      'SECAGG_MALFORMED_INPUT',
      `a masked input is one uint32 tensor named '${SECAGG_MASKED_TENSOR}'`,
    );
  }
  const { shape, data } = only.tensor;
  const words = ctx.ringBits === 32 ? 1 : 2;
  const expectedShape = words === 1 ? [ctx.length] : [ctx.length, 2];
  if (shape.length !== expectedShape.length || shape.some((d, i) => d !== expectedShape[i])) {
    throw secAggError(
      'SECAGG_MALFORMED_INPUT',
      `masked input has shape ${JSON.stringify(shape)}, expected ${JSON.stringify(expectedShape)} (Z_2^${ctx.ringBits})`,
    );
  }
  let maskedInput: Uint8Array;
  if (words === 1) {
    maskedInput = new Uint8Array(Uint32Array.from(data).buffer);
  } else {
    const values = new Float64Array(ctx.length);
    for (let i = 0; i < ctx.length; i++) {
      const hi = data[2 * i + 1] as number;
      if (hi >= 2 ** 20) {
        throw secAggError('SECAGG_MALFORMED_INPUT', `masked input element ${i} is not in Z_2^52`);
      }
      values[i] = hi * 4294967296 + (data[2 * i] as number);
    }
    maskedInput = new Uint8Array(values.buffer);
  }
  return { sessionId: ctx.sessionId, clientId: participantId(ctx.senderIndex), maskedInput };
}

// ---------------------------------------------------------------------------------------------------------
// Round 3: unmask request and response

export function unmaskRequestToWire(
  m: SecAggUnmaskRequest,
  ctx: SecAggWireContext,
  dropped: readonly string[],
): MessageInput<'secaggUnmaskRequest'> {
  return {
    roundId: ctx.roundId,
    survivors: m.survivors.map(participantIndex),
    dropped: dropped.map(participantIndex),
  };
}

export function unmaskRequestFromWire(
  body: MessageBody<'secaggUnmaskRequest'>,
  ctx: SecAggWireContext,
): SecAggUnmaskRequest {
  checkRound(ctx, body.roundId, 'the unmask request');
  const survivors = new Set(body.survivors);
  if (body.dropped.some((d) => survivors.has(d))) {
    throw secAggError(
      'SECAGG_DUPLICATE_CLIENT',
      'the unmask request lists a participant as both survivor and dropped',
    );
  }
  return { sessionId: ctx.sessionId, survivors: body.survivors.map(participantId) };
}

export function unmaskResponseToWire(
  m: SecAggUnmaskResponse,
  ctx: SecAggWireContext,
): MessageInput<'secaggUnmaskResponse'> {
  const reveal = (shares: SecAggRevealedShare[], kind: ShareKind) =>
    shares.map((s) => ({ ownerIndex: participantIndex(s.ownerId), kind, share: s.share }));
  return {
    roundId: ctx.roundId,
    shares: [
      ...reveal(m.selfMaskShares, ShareKind.SELF_MASK_SEED),
      ...reveal(m.maskKeyShares, ShareKind.SECRET_KEY),
    ],
  };
}

export function unmaskResponseFromWire(
  body: MessageBody<'secaggUnmaskResponse'>,
  ctx: SecAggWireContext,
  senderIndex: number,
): SecAggUnmaskResponse {
  checkRound(ctx, body.roundId, 'UnmaskResponse');
  const selfMaskShares: SecAggRevealedShare[] = [];
  const maskKeyShares: SecAggRevealedShare[] = [];
  for (const s of body.shares) {
    const revealed = { ownerId: participantId(s.ownerIndex), share: own(s.share) };
    if (s.kind === ShareKind.SELF_MASK_SEED) selfMaskShares.push(revealed);
    else if (s.kind === ShareKind.SECRET_KEY) maskKeyShares.push(revealed);
    else {
      throw secAggError(
        'SECAGG_MALFORMED_SHARES',
        `participant ${senderIndex} revealed a share of unspecified kind for participant ${s.ownerIndex}`,
      );
    }
  }
  return { sessionId: ctx.sessionId, clientId: participantId(senderIndex), selfMaskShares, maskKeyShares };
}
