import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import { fedpeft } from '../../proto/generated/fedpeft.js';
import { FedpeftError, isFedpeftError } from '../errors.ts';
import { MAX_CHUNK_BYTES, MAX_FRAME_BYTES } from './limits.ts';
import {
  BODY_SCHEMAS,
  ClientPhase,
  DpPlacement,
  ErrorCode,
  MESSAGE_SCHEMAS,
  SENDABLE,
  ShareKind,
  TaskKind,
  decodeFrame,
  encodeFrame,
  fromWireError,
  parseBody,
  toWireError,
  type MessageInput,
  type MessageKind,
  type Sender,
} from './messages.ts';
import { DType } from './tensor-codec.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isFedpeftError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a FedpeftError, nothing was thrown');
}

/** Uint8Array/Buffer -> number[] so bodies compare structurally whatever the runtime's byte type. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const manifest = {
  transferId: 'g-3',
  tensors: [{ name: 'B.q', dtype: DType.FLOAT32, shape: [4, 8], byteLength: 128 }],
  totalBytes: 128,
  chunkBytes: 524288,
  chunkCount: 1,
  crc32: 0xdeadbeef,
};
const ack = { transferId: 'u-3', contiguousCount: 2, receivedAfter: [4, 5], complete: false };
const metrics = {
  roundId: 3,
  trainLoss: 2.5,
  globalValLoss: 2.75,
  steps: 20,
  bytesSent: 3 * 2 ** 40,
  computeMs: 1234,
};
const key = Uint8Array.of(1, 2, 3, 4);

/** One representative body per kind; the mapped type makes a new kind without a sample a compile error. */
const SAMPLES: { [K in MessageKind]: MessageInput<K> } = {
  join: {
    clientName: 'phone-17',
    authToken: 'tok',
    capabilities: {
      backend: 'wasm',
      memoryBudgetBytes: 2 ** 33,
      maxRank: 16,
      supportedMethods: ['pica', 'lora'],
      supportedDtypes: [DType.FLOAT32, DType.FLOAT16],
      examplesPerSecond: 12.5,
      deviceClass: 'phone',
      batteryLevel: 0.5,
      charging: true,
      unmeteredNetwork: true,
    },
    resumeSessionId: 's-1',
    resumeSessionToken: 'secret',
    signatures: [
      {
        method: 'pica',
        value: {
          spec: { name: 'sig', dtype: DType.FLOAT32, shape: [2], byteLength: 8 },
          data: new Uint8Array(8),
        },
      },
    ],
    resumeDownloads: [ack],
    lastCommittedRound: 2,
  },
  welcome: {
    sessionId: 's-1',
    sessionToken: 'secret',
    run: {
      runId: 'run-1',
      method: 'pica',
      methodConfigJson: '{"rank":16}',
      model: 'gpt-tiny',
      seed: 2 ** 52 + 1,
    },
    currentRound: 3,
    limits: {
      chunkBytes: 524288,
      maxFrameBytes: MAX_FRAME_BYTES,
      maxTransferBytes: 2 ** 30,
      maxInFlightChunks: 8,
      heartbeatIntervalMs: 5000,
    },
    resumed: true,
    resumeUploads: [ack],
  },
  heartbeat: { sentUnixMs: 1_700_000_000_000, roundId: 3, phase: ClientPhase.TRAINING, progress: 0.5 },
  goodbye: { reason: 'run finished', runComplete: true },
  error: { code: ErrorCode.STALE_ROUND, message: 'round 2 is over', retryable: false, roundId: 2 },
  roundInstruction: {
    roundId: 3,
    task: TaskKind.TRAIN,
    deadlineMs: 60_000,
    localSteps: 20,
    batchSize: 8,
    learningRate: 1e-3,
    hyperparamsJson: '{}',
    clientRank: 8,
    sparsity: 0.5,
    linkIndex: 1,
    globalState: manifest,
    secureAggregation: { threshold: 3, fieldBits: 32, scale: 65536, clip: 1 },
    evaluatePersonal: true,
    foldCount: 2,
    proximalMu: 0.01,
    clientNoise: { placement: DpPlacement.DISTRIBUTED, clipNorm: 1, noiseStd: 0.25 },
  },
  updateCommit: {
    roundId: 3,
    transferId: 'u-3',
    numExamples: 640,
    weight: 640,
    trainMetrics: metrics,
    trainedExtents: [{ tensor: 'B.q', extent: [2, 8] }],
  },
  updateReceipt: { roundId: 3, transferId: 'u-3' },
  globalState: {
    roundId: 3,
    state: manifest,
    linkIndex: 1,
    roundMetrics: { ...metrics, numClients: 10 },
    foldCount: 1,
  },
  metrics,
  foldRequest: { fromIndex: 0, toIndex: 2 },
  foldHistory: { folds: [{ index: 0, linkIndex: 0, state: manifest }] },
  transferManifest: manifest,
  tensorChunk: {
    transferId: 'u-3',
    tensorIndex: 0,
    chunkIndex: 0,
    chunkCount: 1,
    byteOffset: 0,
    data: new Uint8Array(128).fill(7),
    crc32: 42,
  },
  chunkAck: ack,
  transferCancel: { transferId: 't-1', reason: 'retraining' },
  secaggAdvertiseKeys: { roundId: 3, cPublicKey: key, sPublicKey: key, signature: key },
  secaggKeysBroadcast: {
    roundId: 3,
    yourIndex: 2,
    threshold: 2,
    peers: [
      { peerIndex: 1, cPublicKey: key, sPublicKey: key },
      { peerIndex: 2, cPublicKey: key, sPublicKey: key },
    ],
  },
  secaggShareKeys: { roundId: 3, shares: [{ fromIndex: 2, toIndex: 1, ciphertext: key }] },
  secaggSharesDelivery: { roundId: 3, shares: [{ fromIndex: 1, toIndex: 2, ciphertext: key }] },
  secaggMaskedInput: { roundId: 3, transferId: 'm-3', weight: 1 },
  secaggUnmaskRequest: { roundId: 3, survivors: [1, 2], dropped: [3] },
  secaggUnmaskResponse: {
    roundId: 3,
    shares: [
      { ownerIndex: 3, kind: ShareKind.SECRET_KEY, share: key },
      { ownerIndex: 1, kind: ShareKind.SELF_MASK_SEED, share: key },
    ],
  },
};

const kinds = Object.keys(BODY_SCHEMAS) as MessageKind[];
const senderOf = (kind: MessageKind): Sender => (SENDABLE.client.has(kind) ? 'client' : 'coordinator');

describe('frames', () => {
  it('round-trips every message kind with defaults filled in and ids kept', () => {
    for (const kind of kinds) {
      const from = senderOf(kind);
      const frame = encodeFrame(
        { requestId: 9, inReplyTo: 4, message: { kind, body: SAMPLES[kind] } as never },
        { from },
      );
      const back = decodeFrame(frame, { from });
      expect(back.message.kind, kind).toBe(kind);
      expect([back.protocolVersion, back.requestId, back.inReplyTo]).toEqual([1, 9, 4]);
      expect(plain(back.message.body), kind).toEqual(plain(parseBody(kind, SAMPLES[kind])));
    }
  });

  it('accepts ArrayBuffer frames (socket.io in browsers) and keeps uint64 values up to 2^53 exact', () => {
    const frame = encodeFrame({ message: { kind: 'welcome', body: SAMPLES.welcome } });
    const copy = new Uint8Array(frame).slice().buffer;
    const back = decodeFrame(copy, { from: 'coordinator' });
    expect(back.message.kind === 'welcome' && back.message.body.run.seed).toBe(2 ** 52 + 1);
  });

  it('enforces who may send what (UNEXPECTED_MESSAGE)', () => {
    const welcome = encodeFrame({ message: { kind: 'welcome', body: SAMPLES.welcome } });
    expect(codeOf(() => decodeFrame(welcome, { from: 'client' }))).toBe('UNEXPECTED_MESSAGE');
    expect(
      codeOf(() => encodeFrame({ message: { kind: 'join', body: SAMPLES.join } }, { from: 'coordinator' })),
    ).toBe('UNEXPECTED_MESSAGE');
    const heartbeat = encodeFrame({ message: { kind: 'heartbeat', body: SAMPLES.heartbeat } });
    expect(decodeFrame(heartbeat, { from: 'client' }).message.kind).toBe('heartbeat');
    expect(decodeFrame(heartbeat, { from: 'coordinator' }).message.kind).toBe('heartbeat');
  });

  it('rejects other protocol versions, empty envelopes, truncation and garbage', () => {
    const v2 = fedpeft.v1.Envelope.encode({ protocolVersion: 2, heartbeat: {} }).finish();
    expect(codeOf(() => decodeFrame(v2, { from: 'client' }))).toBe('UNSUPPORTED_VERSION');
    const empty = fedpeft.v1.Envelope.encode({ protocolVersion: 1 }).finish();
    expect(codeOf(() => decodeFrame(empty, { from: 'client' }))).toBe('MALFORMED_MESSAGE');
    const join = encodeFrame({ message: { kind: 'join', body: SAMPLES.join } });
    expect(codeOf(() => decodeFrame(join.subarray(0, join.length - 3), { from: 'client' }))).toBe(
      'MALFORMED_MESSAGE',
    );
    expect(codeOf(() => decodeFrame(Uint8Array.of(0xff, 0xff, 0xff), { from: 'client' }))).toBe(
      'MALFORMED_MESSAGE',
    );
  });

  it('validates field values of untrusted input, naming the field', () => {
    const enc = (env: fedpeft.v1.IEnvelope) =>
      fedpeft.v1.Envelope.encode({ protocolVersion: 1, ...env }).finish();
    const cases: Array<[string, Uint8Array, Sender, RegExp]> = [
      ['missing sub-message', enc({ join: { clientName: 'x' } }), 'client', /capabilities/],
      [
        'NaN learning rate',
        enc({ roundInstruction: { learningRate: NaN, globalState: manifest } }),
        'coordinator',
        /learningRate/,
      ],
      [
        'uint64 above 2^53',
        enc({ tensorChunk: { transferId: 'a', byteOffset: 2 ** 60 } }),
        'client',
        /byteOffset/,
      ],
      ['bad transfer id', enc({ chunkAck: { transferId: '../../x' } }), 'client', /transferId/],
      ['unknown enum value', enc({ error: { code: 999 as ErrorCode } }), 'client', /code/],
      ['progress out of range', enc({ heartbeat: { progress: 2 } }), 'client', /progress/],
      [
        'oversize chunk data',
        enc({ tensorChunk: { transferId: 'a', data: new Uint8Array(MAX_CHUNK_BYTES + 1) } }),
        'client',
        /data/,
      ],
      [
        'too many dims',
        enc({
          transferManifest: { transferId: 'a', tensors: [{ name: 'w', shape: [1, 1, 1, 1, 1, 1, 1, 1, 1] }] },
        }),
        'client',
        /shape/,
      ],
    ];
    for (const [what, frame, from, field] of cases) {
      let err: unknown;
      try {
        decodeFrame(frame, { from });
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(FedpeftError);
      expect((err as FedpeftError).code, what).toBe('MALFORMED_MESSAGE');
      expect((err as FedpeftError).message, what).toMatch(field);
    }
  });

  it('refuses frames over the size limit in both directions', () => {
    const big = {
      kind: 'tensorChunk' as const,
      body: { ...SAMPLES.tensorChunk, data: new Uint8Array(MAX_CHUNK_BYTES) },
    };
    expect(codeOf(() => encodeFrame({ message: big }, { maxFrameBytes: 1000 }))).toBe('TRANSFER_TOO_LARGE');
    const frame = encodeFrame({ message: big });
    expect(frame.length).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    expect(codeOf(() => decodeFrame(frame, { from: 'client', maxFrameBytes: 1000 }))).toBe(
      'MALFORMED_MESSAGE',
    );
    expect(codeOf(() => encodeFrame({ message: { kind: 'metrics', body: { roundId: -1 } } }))).toBe(
      'MALFORMED_MESSAGE',
    );
  });

  it('never throws anything but a FedpeftError on random or mutated frames', () => {
    const valid = kinds.map((kind) => encodeFrame({ message: { kind, body: SAMPLES[kind] } as never }));
    const allowed = new Set(['MALFORMED_MESSAGE', 'UNSUPPORTED_VERSION', 'UNEXPECTED_MESSAGE']);
    const check = (bytes: Uint8Array) => {
      for (const from of ['client', 'coordinator'] as const) {
        try {
          decodeFrame(bytes, { from });
        } catch (err) {
          expect(isFedpeftError(err) && allowed.has(err.code), String(err)).toBe(true);
        }
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 500 });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (k, flips, cut) => {
          const bytes = Uint8Array.from(valid[k]!);
          for (const [at, v] of flips) bytes[at % bytes.length] = v;
          check(bytes);
          check(bytes.subarray(0, cut % (bytes.length + 1)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('maps errors to and from the wire', () => {
    const body = toWireError(new FedpeftError('CHUNK_CHECKSUM', 'chunk 3 is corrupt'), { transferId: 'u-1' });
    expect(body).toMatchObject({ code: ErrorCode.CHUNK_CHECKSUM, retryable: true, transferId: 'u-1' });
    const back = decodeFrame(encodeFrame({ message: { kind: 'error', body } }), { from: 'coordinator' });
    if (back.message.kind !== 'error') throw new Error('expected an error frame');
    const err = fromWireError(back.message.body);
    expect([err.code, err.message]).toEqual(['CHUNK_CHECKSUM', 'chunk 3 is corrupt']);
    const internal = toWireError(new TypeError('x is undefined at /secret/path'));
    expect(internal).toMatchObject({ code: ErrorCode.INTERNAL, message: 'internal error; see the peer log' });
    expect(toWireError(new FedpeftError('INVALID_CONFIG', 'bad')).code).toBe(ErrorCode.INTERNAL);
  });
});

describe('records mirror proto/fedpeft.proto 1:1', () => {
  const root = protobuf.loadSync(fileURLToPath(new URL('../../proto/fedpeft.proto', import.meta.url)));
  root.resolveAll();
  const pkg = root.lookup('fedpeft.v1') as protobuf.Namespace;
  const types = pkg.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);

  /** Unwraps default/nullable/pipe wrappers down to the object, array or leaf schema. */
  type Def = {
    type: string;
    innerType?: unknown;
    element?: unknown;
    out?: unknown;
    shape?: Record<string, unknown>;
  };
  const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;
  function core(s: unknown): unknown {
    const def = defOf(s);
    if (def.innerType) return core(def.innerType);
    return s;
  }

  it('every message has a schema with exactly its fields, same repeatedness and same sub-message schemas', () => {
    const schemaNames = new Set(Object.keys(MESSAGE_SCHEMAS));
    for (const type of types) {
      if (type.name === 'Envelope') continue;
      const schema = MESSAGE_SCHEMAS[type.name as keyof typeof MESSAGE_SCHEMAS];
      expect(schema, `schema for ${type.name}`).toBeDefined();
      schemaNames.delete(type.name);
      const shape = schema.shape as Record<string, unknown>;
      expect(Object.keys(shape).sort(), type.name).toEqual(type.fieldsArray.map((f) => f.name).sort());
      for (const field of type.fieldsArray) {
        const fieldSchema = core(shape[field.name]);
        const isArray = defOf(fieldSchema).type === 'array';
        expect(isArray, `${type.name}.${field.name} repeated`).toBe(field.repeated);
        if (field.resolvedType instanceof protobuf.Type) {
          const inner = isArray ? core(defOf(fieldSchema).element) : fieldSchema;
          expect(inner, `${type.name}.${field.name} -> ${field.resolvedType.name}`).toBe(
            MESSAGE_SCHEMAS[field.resolvedType.name as keyof typeof MESSAGE_SCHEMAS],
          );
        }
      }
    }
    expect([...schemaNames]).toEqual([]);
  });

  it('the envelope body kinds are exactly the oneof members, each with its message schema', () => {
    const envelope = pkg.lookupType('Envelope');
    const body = envelope.oneofs['body']!;
    expect(Object.keys(BODY_SCHEMAS).sort()).toEqual(body.fieldsArray.map((f) => f.name).sort());
    for (const f of body.fieldsArray) {
      expect(BODY_SCHEMAS[f.name as MessageKind], f.name).toBe(
        MESSAGE_SCHEMAS[(f.resolvedType as protobuf.Type).name as keyof typeof MESSAGE_SCHEMAS],
      );
    }
    // Every kind is sendable by someone.
    for (const k of kinds) expect(SENDABLE.client.has(k) || SENDABLE.coordinator.has(k), k).toBe(true);
  });
});
