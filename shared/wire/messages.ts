/**
 * Every protocol message as a validated, strictly typed record mirroring `proto/fedpeft.proto` 1:1 (field
 * names are the generated camelCase names; a test checks the two never drift), plus frame encode/decode and
 * the socket.io event maps.
 *
 * Why zod over the generated classes: protobuf decoding only checks wire structure. Everything that arrives is
 * untrusted, so each decoded message goes through a schema that bounds every string, list and byte field,
 * rejects non-finite floats and uint64 values above 2^53, and requires the sub-messages the protocol needs.
 * Any failure is a `FedpeftError('MALFORMED_MESSAGE')` naming the offending field. Outgoing messages go
 * through the same schemas, so our own bugs are caught before they reach a peer.
 *
 * Conventions of the records: absent sub-messages and proto3 `optional` scalars are `null`; enums are the
 * generated numeric enums (`DType.FLOAT32`); `bytes` fields are Uint8Array views into the frame (no copy).
 */
import { z } from 'zod';
import { fedpeft } from '../../proto/generated/fedpeft.js';
import { FedpeftError, isFedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import {
  MAX_CHUNK_BYTES,
  MAX_FRAME_BYTES,
  MAX_INLINE_TENSOR_BYTES,
  MAX_JSON_LENGTH,
  MAX_KEY_BYTES,
  MAX_NAME_LENGTH,
  MAX_PEERS,
  MAX_TENSOR_RANK,
  MAX_TENSORS_PER_TRANSFER,
  MAX_TEXT_LENGTH,
  MAX_TRANSFER_ID_LENGTH,
  MAX_FOLDS_PER_REPLY,
} from './limits.ts';

const v1 = fedpeft.v1;

/** The protocol version this code speaks (`Envelope.protocol_version`). */
export const PROTOCOL_VERSION = 1;

/** The one socket.io event that carries frames, in both directions (see proto/fedpeft.proto for why one). */
export const WIRE_EVENT = 'fedpeft.v1';

export const ErrorCode = v1.ErrorCode;
export type ErrorCode = fedpeft.v1.ErrorCode;
export const ClientPhase = v1.ClientPhase;
export type ClientPhase = fedpeft.v1.ClientPhase;
export const TaskKind = v1.TaskKind;
export type TaskKind = fedpeft.v1.TaskKind;
export const DpPlacement = v1.DpPlacement;
export type DpPlacement = fedpeft.v1.DpPlacement;
export const ShareKind = v1.ShareKind;
export type ShareKind = fedpeft.v1.ShareKind;

// ---------------------------------------------------------------------------------------------------------
// Field schemas

const u32 = z.number().int().min(0).max(0xffffffff);

/** What protobufjs yields for uint64 when the `long` package is present (Node); plain numbers otherwise. */
interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}
const longLike = z.custom<LongLike>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as LongLike).low === 'number' &&
    typeof (v as LongLike).high === 'number',
);
const u64 = z
  .union([z.number(), longLike])
  .transform((v) => (typeof v === 'number' ? v : (v.high >>> 0) * 2 ** 32 + (v.low >>> 0)))
  .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER, 'must be at most 2^53 - 1'));

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const nonNegative = finite.refine((x) => x >= 0, 'must be >= 0');
const text = (max: number) => z.string().max(max, `must have at most ${max} characters`);
const bytes = (max: number) =>
  z
    .custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be bytes')
    .refine((b) => b.length <= max, `must have at most ${max} bytes`);
const list = <T extends z.ZodType>(item: T, max: number) =>
  z.array(item).max(max, `must have at most ${max} entries`).default([]);
const nativeEnum = <E extends Record<string, string | number>>(e: E) => z.enum(e);

const transferId = z
  .string()
  .regex(
    new RegExp(`^[A-Za-z0-9._:-]{1,${MAX_TRANSFER_ID_LENGTH}}$`),
    `must be 1..${MAX_TRANSFER_ID_LENGTH} characters of [A-Za-z0-9._:-]`,
  );
const name = text(MAX_NAME_LENGTH).default('');
const json = text(MAX_JSON_LENGTH).default('');
const n32 = u32.default(0);
const n64 = u64.default(0);
const flag = z.boolean().default(false);
const optionalFinite = finite.nullable().default(null);

// ---------------------------------------------------------------------------------------------------------
// Tensors and transfers

export const TensorSpecSchema = z.object({
  name,
  dtype: nativeEnum(v1.DType).default(v1.DType.DTYPE_UNSPECIFIED),
  shape: list(u32, MAX_TENSOR_RANK),
  byteLength: n64,
});
export const InlineTensorSchema = z.object({
  spec: TensorSpecSchema,
  data: bytes(MAX_INLINE_TENSOR_BYTES),
});
export const TransferManifestSchema = z.object({
  transferId,
  tensors: list(TensorSpecSchema, MAX_TENSORS_PER_TRANSFER),
  totalBytes: n64,
  chunkBytes: n32,
  chunkCount: n32,
  crc32: n32,
});
export const TensorChunkSchema = z.object({
  transferId,
  tensorIndex: n32,
  chunkIndex: n32,
  chunkCount: n32,
  byteOffset: n64,
  data: bytes(MAX_CHUNK_BYTES),
  crc32: n32,
});
export const ChunkAckSchema = z.object({
  transferId,
  contiguousCount: n32,
  receivedAfter: list(u32, 65_536),
  complete: flag,
});
export const TransferCancelSchema = z.object({
  transferId,
  reason: text(MAX_TEXT_LENGTH).default(''),
});

// ---------------------------------------------------------------------------------------------------------
// Session

export const CapabilitiesSchema = z.object({
  backend: text(64).default(''),
  memoryBudgetBytes: n64,
  maxRank: n32,
  supportedMethods: list(text(64), 256),
  supportedDtypes: list(nativeEnum(v1.DType), 16),
  maxChunkBytes: n32,
  examplesPerSecond: nonNegative.default(0),
  numExamples: n64,
  deviceClass: text(64).default(''),
  batteryLevel: finite
    .refine((b) => b >= 0 && b <= 1, 'must be in [0, 1]')
    .nullable()
    .default(null),
  charging: flag,
  unmeteredNetwork: flag,
});
export const DerivedSignatureSchema = z.object({
  method: text(64).default(''),
  value: InlineTensorSchema,
});
export const JoinSchema = z.object({
  clientName: name,
  authToken: text(1024).default(''),
  capabilities: CapabilitiesSchema,
  resumeSessionId: text(128).default(''),
  resumeSessionToken: text(1024).default(''),
  signatures: list(DerivedSignatureSchema, 256),
  resumeDownloads: list(ChunkAckSchema, 64),
  lastCommittedRound: n32,
});
export const RunConfigSchema = z.object({
  runId: name,
  method: text(64).default(''),
  methodConfigJson: json,
  model: name,
  modelConfigJson: json,
  seed: n64,
  /** sha-256 (64 lowercase hex) of the run's base checkpoint file; '' when the base is built from the seed. */
  baseSha256: z
    .string()
    .regex(/^([0-9a-f]{64})?$/, 'must be empty or 64 lowercase hex characters')
    .default(''),
  baseBytes: n64,
});
export const LimitsSchema = z.object({
  chunkBytes: n32,
  maxFrameBytes: n32,
  maxTransferBytes: n64,
  maxInFlightChunks: n32,
  heartbeatIntervalMs: n32,
});
export const WelcomeSchema = z.object({
  sessionId: text(128).default(''),
  sessionToken: text(1024).default(''),
  run: RunConfigSchema,
  currentRound: n32,
  limits: LimitsSchema,
  resumed: flag,
  resumeUploads: list(ChunkAckSchema, 64),
});
export const HeartbeatSchema = z.object({
  sentUnixMs: n64,
  echoUnixMs: n64,
  roundId: n32,
  phase: nativeEnum(v1.ClientPhase).default(v1.ClientPhase.CLIENT_PHASE_UNSPECIFIED),
  progress: finite.refine((p) => p >= 0 && p <= 1, 'must be in [0, 1]').default(0),
});
export const GoodbyeSchema = z.object({
  reason: text(MAX_TEXT_LENGTH).default(''),
  runComplete: flag,
});
export const ErrorSchema = z.object({
  code: nativeEnum(v1.ErrorCode).default(v1.ErrorCode.ERROR_CODE_UNSPECIFIED),
  message: text(MAX_TEXT_LENGTH).default(''),
  retryable: flag,
  retryAfterMs: n32,
  roundId: n32,
  transferId: z.union([z.literal(''), transferId]).default(''),
});

// ---------------------------------------------------------------------------------------------------------
// Rounds

export const SecAggConfigSchema = z.object({
  threshold: n32,
  fieldBits: u32.max(52, 'must be 32 or 52 (0: unspecified)').default(32),
  scale: nonNegative.default(0),
  clip: nonNegative.default(0),
  sessionId: text(200).default(''),
  participantIndex: n32,
});
export const ClientNoiseSchema = z.object({
  placement: nativeEnum(v1.DpPlacement).default(v1.DpPlacement.DP_PLACEMENT_UNSPECIFIED),
  clipNorm: nonNegative.default(0),
  noiseStd: nonNegative.default(0),
});
export const RoundInstructionSchema = z.object({
  roundId: n32,
  task: nativeEnum(v1.TaskKind).default(v1.TaskKind.TASK_KIND_UNSPECIFIED),
  deadlineMs: n32,
  localSteps: n32,
  batchSize: n32,
  learningRate: nonNegative.default(0),
  hyperparamsJson: json,
  clientRank: n32,
  sparsity: finite.refine((s) => s >= 0 && s <= 1, 'must be in [0, 1]').default(0),
  linkIndex: n32,
  globalState: TransferManifestSchema,
  secureAggregation: SecAggConfigSchema.nullable().default(null),
  evaluatePersonal: flag,
  foldCount: n32,
  proximalMu: nonNegative.default(0),
  clientNoise: ClientNoiseSchema.nullable().default(null),
});
export const TrainedExtentSchema = z.object({
  tensor: name,
  extent: list(u32, MAX_TENSOR_RANK),
});
export const MetricsSchema = z.object({
  roundId: n32,
  globalValLoss: optionalFinite,
  globalValPpl: optionalFinite,
  personalValLoss: optionalFinite,
  personalValPpl: optionalFinite,
  trainLoss: optionalFinite,
  steps: n32,
  bytesSent: n64,
  bytesReceived: n64,
  computeMs: n64,
  numClients: n32,
});
export const TensorNormSchema = z.object({
  tensor: name,
  norm: nonNegative.default(0),
});
export const UpdateCommitSchema = z.object({
  roundId: n32,
  transferId,
  numExamples: n64,
  weight: nonNegative.default(0),
  trainMetrics: MetricsSchema.nullable().default(null),
  trainedExtents: list(TrainedExtentSchema, MAX_TENSORS_PER_TRANSFER),
  aggregationNorms: list(TensorNormSchema, MAX_TENSORS_PER_TRANSFER),
});
export const UpdateReceiptSchema = z.object({ roundId: n32, transferId });
export const GlobalStateSchema = z.object({
  roundId: n32,
  state: TransferManifestSchema,
  linkIndex: n32,
  roundMetrics: MetricsSchema.nullable().default(null),
  foldCount: n32,
});
export const FoldRequestSchema = z.object({ fromIndex: n32, toIndex: n32 });
export const FoldSchema = z.object({
  index: n32,
  linkIndex: n32,
  state: TransferManifestSchema,
});
export const FoldHistorySchema = z.object({ folds: list(FoldSchema, MAX_FOLDS_PER_REPLY) });

// ---------------------------------------------------------------------------------------------------------
// Secure aggregation

const key = bytes(MAX_KEY_BYTES).default(() => new Uint8Array(0));
export const SecAggAdvertiseKeysSchema = z.object({
  roundId: n32,
  cPublicKey: key,
  sPublicKey: key,
  signature: key,
});
export const SecAggPeerSchema = z.object({
  peerIndex: n32,
  cPublicKey: key,
  sPublicKey: key,
  signature: key,
});
export const SecAggKeysBroadcastSchema = z.object({
  roundId: n32,
  yourIndex: n32,
  threshold: n32,
  peers: list(SecAggPeerSchema, MAX_PEERS),
});
export const EncryptedShareSchema = z.object({ fromIndex: n32, toIndex: n32, ciphertext: key });
export const SecAggShareKeysSchema = z.object({
  roundId: n32,
  shares: list(EncryptedShareSchema, MAX_PEERS),
  selfMaskCommitment: key,
});
export const SecAggSharesDeliverySchema = z.object({
  roundId: n32,
  shares: list(EncryptedShareSchema, MAX_PEERS),
});
export const SecAggMaskedInputSchema = z.object({ roundId: n32, transferId, weight: nonNegative.default(0) });
export const SecAggUnmaskRequestSchema = z.object({
  roundId: n32,
  survivors: list(u32, MAX_PEERS),
  dropped: list(u32, MAX_PEERS),
});
export const RevealedShareSchema = z.object({
  ownerIndex: n32,
  kind: nativeEnum(v1.ShareKind).default(v1.ShareKind.SHARE_KIND_UNSPECIFIED),
  share: key,
});
export const SecAggUnmaskResponseSchema = z.object({
  roundId: n32,
  shares: list(RevealedShareSchema, 2 * MAX_PEERS),
});

/** Every schema by its protobuf message name (the in-sync test walks this against the .proto). */
export const MESSAGE_SCHEMAS = {
  TensorSpec: TensorSpecSchema,
  InlineTensor: InlineTensorSchema,
  TransferManifest: TransferManifestSchema,
  TransferCancel: TransferCancelSchema,
  TensorChunk: TensorChunkSchema,
  ChunkAck: ChunkAckSchema,
  Capabilities: CapabilitiesSchema,
  DerivedSignature: DerivedSignatureSchema,
  Join: JoinSchema,
  RunConfig: RunConfigSchema,
  Limits: LimitsSchema,
  Welcome: WelcomeSchema,
  Heartbeat: HeartbeatSchema,
  Goodbye: GoodbyeSchema,
  Error: ErrorSchema,
  SecAggConfig: SecAggConfigSchema,
  ClientNoise: ClientNoiseSchema,
  RoundInstruction: RoundInstructionSchema,
  TrainedExtent: TrainedExtentSchema,
  Metrics: MetricsSchema,
  UpdateCommit: UpdateCommitSchema,
  TensorNorm: TensorNormSchema,
  UpdateReceipt: UpdateReceiptSchema,
  GlobalState: GlobalStateSchema,
  FoldRequest: FoldRequestSchema,
  Fold: FoldSchema,
  FoldHistory: FoldHistorySchema,
  SecAggAdvertiseKeys: SecAggAdvertiseKeysSchema,
  SecAggPeer: SecAggPeerSchema,
  SecAggKeysBroadcast: SecAggKeysBroadcastSchema,
  EncryptedShare: EncryptedShareSchema,
  SecAggShareKeys: SecAggShareKeysSchema,
  SecAggSharesDelivery: SecAggSharesDeliverySchema,
  SecAggMaskedInput: SecAggMaskedInputSchema,
  SecAggUnmaskRequest: SecAggUnmaskRequestSchema,
  RevealedShare: RevealedShareSchema,
  SecAggUnmaskResponse: SecAggUnmaskResponseSchema,
} as const;

export type TensorSpec = z.output<typeof TensorSpecSchema>;
export type InlineTensor = z.output<typeof InlineTensorSchema>;
export type TransferManifest = z.output<typeof TransferManifestSchema>;
export type TensorChunk = z.output<typeof TensorChunkSchema>;
export type ChunkAck = z.output<typeof ChunkAckSchema>;
export type Capabilities = z.output<typeof CapabilitiesSchema>;
export type RunConfig = z.output<typeof RunConfigSchema>;
export type WireLimits = z.output<typeof LimitsSchema>;
export type Metrics = z.output<typeof MetricsSchema>;
export type SecAggConfig = z.output<typeof SecAggConfigSchema>;
export type ClientNoise = z.output<typeof ClientNoiseSchema>;
export type Fold = z.output<typeof FoldSchema>;

// ---------------------------------------------------------------------------------------------------------
// Envelope

/** Envelope body kinds (the generated camelCase oneof member names) and their schemas. */
export const BODY_SCHEMAS = {
  join: JoinSchema,
  welcome: WelcomeSchema,
  heartbeat: HeartbeatSchema,
  goodbye: GoodbyeSchema,
  error: ErrorSchema,
  roundInstruction: RoundInstructionSchema,
  updateCommit: UpdateCommitSchema,
  updateReceipt: UpdateReceiptSchema,
  globalState: GlobalStateSchema,
  metrics: MetricsSchema,
  foldRequest: FoldRequestSchema,
  foldHistory: FoldHistorySchema,
  transferManifest: TransferManifestSchema,
  tensorChunk: TensorChunkSchema,
  chunkAck: ChunkAckSchema,
  transferCancel: TransferCancelSchema,
  secaggAdvertiseKeys: SecAggAdvertiseKeysSchema,
  secaggKeysBroadcast: SecAggKeysBroadcastSchema,
  secaggShareKeys: SecAggShareKeysSchema,
  secaggSharesDelivery: SecAggSharesDeliverySchema,
  secaggMaskedInput: SecAggMaskedInputSchema,
  secaggUnmaskRequest: SecAggUnmaskRequestSchema,
  secaggUnmaskResponse: SecAggUnmaskResponseSchema,
} as const;

export type MessageKind = keyof typeof BODY_SCHEMAS;
/** A validated body as received. */
export type MessageBody<K extends MessageKind> = z.output<(typeof BODY_SCHEMAS)[K]>;
/** A body to send: fields with a protocol default may be left out. */
export type MessageInput<K extends MessageKind> = z.input<(typeof BODY_SCHEMAS)[K]>;

export type WireMessage = { [K in MessageKind]: { kind: K; body: MessageBody<K> } }[MessageKind];
export type WireMessageInput = { [K in MessageKind]: { kind: K; body: MessageInput<K> } }[MessageKind];

export type Sender = 'client' | 'coordinator';

const BOTH: readonly MessageKind[] = [
  'heartbeat',
  'goodbye',
  'error',
  'metrics',
  'transferManifest',
  'tensorChunk',
  'chunkAck',
];
/** Which kinds each side may send; anything else is UNEXPECTED_MESSAGE. */
export const SENDABLE: Readonly<Record<Sender, ReadonlySet<MessageKind>>> = {
  client: new Set<MessageKind>([
    ...BOTH,
    'join',
    'updateCommit',
    'transferCancel',
    'foldRequest',
    'secaggAdvertiseKeys',
    'secaggShareKeys',
    'secaggMaskedInput',
    'secaggUnmaskResponse',
  ]),
  coordinator: new Set<MessageKind>([
    ...BOTH,
    'welcome',
    'roundInstruction',
    'updateReceipt',
    'globalState',
    'foldHistory',
    'secaggKeysBroadcast',
    'secaggSharesDelivery',
    'secaggUnmaskRequest',
  ]),
};

export interface Frame {
  protocolVersion: number;
  /** Non-zero when the sender expects a reply. */
  requestId: number;
  /** The requestId this frame answers, or 0. */
  inReplyTo: number;
  message: WireMessage;
}

export interface FrameInput {
  requestId?: number;
  inReplyTo?: number;
  message: WireMessageInput;
}

function malformed(what: string, error: z.ZodError): FedpeftError {
  return new FedpeftError('MALFORMED_MESSAGE', `${what}:\n${formatZodError(error)}`);
}

function isMessageKind(kind: string): kind is MessageKind {
  return Object.hasOwn(BODY_SCHEMAS, kind);
}

/** Validates a body against its schema (defaults filled in); MALFORMED_MESSAGE on failure. */
export function parseBody<K extends MessageKind>(kind: K, body: unknown): MessageBody<K> {
  const result = BODY_SCHEMAS[kind].safeParse(body);
  if (!result.success) throw malformed(`invalid ${kind} message`, result.error);
  return result.data as MessageBody<K>;
}

/**
 * Validates and encodes one frame. `from`, when given, also checks the sender may send this kind.
 * Throws MALFORMED_MESSAGE for an invalid body and TRANSFER_TOO_LARGE for a frame over `maxFrameBytes`
 * (big tensors belong in a chunked transfer).
 */
export function encodeFrame(
  input: FrameInput,
  options: { from?: Sender; maxFrameBytes?: number } = {},
): Uint8Array {
  const { kind } = input.message;
  if (options.from && !SENDABLE[options.from].has(kind)) {
    throw new FedpeftError('UNEXPECTED_MESSAGE', `a ${options.from} does not send ${kind} messages`);
  }
  const body = parseBody(kind, input.message.body);
  const requestId = u32.safeParse(input.requestId ?? 0);
  const inReplyTo = u32.safeParse(input.inReplyTo ?? 0);
  if (!requestId.success || !inReplyTo.success) {
    throw new FedpeftError('MALFORMED_MESSAGE', 'requestId and inReplyTo must be uint32');
  }
  const envelope = {
    protocolVersion: PROTOCOL_VERSION,
    requestId: requestId.data,
    inReplyTo: inReplyTo.data,
    [kind]: body,
  } as fedpeft.v1.IEnvelope;
  const bytesOut = v1.Envelope.encode(envelope).finish();
  const max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  if (bytesOut.length > max) {
    throw new FedpeftError(
      'TRANSFER_TOO_LARGE',
      `a ${kind} frame of ${bytesOut.length} bytes exceeds the ${max}-byte frame limit; send tensors as a chunked transfer`,
    );
  }
  return bytesOut;
}

/** socket.io hands binary over as Buffer (Node) or ArrayBuffer (browsers). */
export function asBytes(frame: Uint8Array | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (frame instanceof Uint8Array) return frame;
  if (frame instanceof ArrayBuffer) return new Uint8Array(frame);
  if (ArrayBuffer.isView(frame)) return new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
  throw new FedpeftError('MALFORMED_MESSAGE', 'a frame must be binary (Uint8Array or ArrayBuffer)');
}

/**
 * Decodes and validates one untrusted frame from `from`. Every failure is a FedpeftError — MALFORMED_MESSAGE
 * (oversize, undecodable, empty or invalid body), UNSUPPORTED_VERSION, UNEXPECTED_MESSAGE (a kind `from` may
 * not send) — and nothing else escapes, so a bad frame can never crash the receiver.
 */
export function decodeFrame(
  frame: Uint8Array | ArrayBuffer,
  options: { from: Sender; maxFrameBytes?: number },
): Frame {
  let data: Uint8Array;
  try {
    data = asBytes(frame);
  } catch (err) {
    if (isFedpeftError(err)) throw err;
    throw new FedpeftError('MALFORMED_MESSAGE', 'a frame must be binary (Uint8Array or ArrayBuffer)');
  }
  const max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  if (data.length > max) {
    throw new FedpeftError(
      'MALFORMED_MESSAGE',
      `frame of ${data.length} bytes exceeds the ${max}-byte limit`,
    );
  }
  let envelope: fedpeft.v1.Envelope;
  try {
    envelope = v1.Envelope.decode(data);
  } catch (err) {
    throw new FedpeftError(
      'MALFORMED_MESSAGE',
      `undecodable frame (${data.length} bytes): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (envelope.protocolVersion !== PROTOCOL_VERSION) {
    throw new FedpeftError(
      'UNSUPPORTED_VERSION',
      `protocol version ${envelope.protocolVersion} is not supported; this side speaks version ${PROTOCOL_VERSION}`,
    );
  }
  const kind = envelope.body;
  if (kind === undefined || !isMessageKind(kind)) {
    throw new FedpeftError('MALFORMED_MESSAGE', 'frame carries no message (empty envelope body)');
  }
  if (!SENDABLE[options.from].has(kind)) {
    throw new FedpeftError('UNEXPECTED_MESSAGE', `a ${options.from} may not send ${kind} messages`);
  }
  const body = parseBody(kind, envelope[kind]);
  return {
    protocolVersion: envelope.protocolVersion,
    requestId: envelope.requestId,
    inReplyTo: envelope.inReplyTo,
    message: { kind, body } as WireMessage,
  };
}

/** Narrowing helper: `if (isKind(frame.message, 'join')) frame.message.body.clientName`. */
export function isKind<K extends MessageKind>(
  message: WireMessage,
  kind: K,
): message is Extract<WireMessage, { kind: K }> {
  return message.kind === kind;
}

// ---------------------------------------------------------------------------------------------------------
// Errors

/** Codes after which the same request may succeed later (resend a chunk, retry after backoff, next round). */
const RETRYABLE = new Set<string>([
  'CHUNK_CHECKSUM',
  'CHUNK_DUPLICATE',
  'TRANSFER_CHECKSUM',
  'TRANSFER_INCOMPLETE',
  'DEADLINE_EXCEEDED',
  'NOT_SELECTED',
  'FUTURE_ROUND',
  'RATE_LIMITED',
  'SHUTTING_DOWN',
  'INTERNAL',
  'STORAGE_UNAVAILABLE',
]);

export function isWireErrorCode(code: string): code is keyof typeof v1.ErrorCode {
  return Object.hasOwn(v1.ErrorCode, code) && code !== 'ERROR_CODE_UNSPECIFIED';
}

/**
 * An `Error` message body for a caught error. A FedpeftError with a protocol code keeps its code and text;
 * anything else becomes INTERNAL with a generic text (internal details stay in the local log).
 */
export function toWireError(
  err: unknown,
  context: { roundId?: number; transferId?: string } = {},
): MessageInput<'error'> {
  const known = isFedpeftError(err) && isWireErrorCode(err.code);
  const code = known ? err.code : 'INTERNAL';
  return {
    code: v1.ErrorCode[code],
    message: known ? err.message.slice(0, MAX_TEXT_LENGTH) : 'internal error; see the peer log',
    retryable: RETRYABLE.has(code),
    roundId: context.roundId ?? 0,
    transferId: context.transferId ?? '',
  };
}

/** A received `Error` body as a FedpeftError (code = the ErrorCode name). */
export function fromWireError(body: MessageBody<'error'>): FedpeftError {
  const code = v1.ErrorCode[body.code] ?? 'ERROR_CODE_UNSPECIFIED';
  return new FedpeftError(code, body.message || code);
}

// ---------------------------------------------------------------------------------------------------------
// socket.io typed event maps: one event, binary frames. Browsers receive ArrayBuffer, Node receives Buffer.

export type WireFrameListener = (frame: Uint8Array | ArrayBuffer) => void;

export interface ServerToClientEvents {
  [WIRE_EVENT]: WireFrameListener;
}

export interface ClientToServerEvents {
  [WIRE_EVENT]: WireFrameListener;
}
