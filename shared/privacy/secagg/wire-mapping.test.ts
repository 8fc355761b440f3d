import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeFrame,
  type MessageBody,
  type MessageKind,
  ShareKind,
} from '../../wire/messages.ts';
import { parseSecAggConfig } from './config.ts';
import {
  advertiseKeysFromWire,
  maskedInputFromWire,
  maskedInputToWire,
  participantId,
  participantIndex,
  rosterFromWire,
  secAggConfigFromWire,
  secAggConfigToWire,
  shareKeysFromWire,
  unmaskRequestFromWire,
  unmaskResponseFromWire,
  SECAGG_MASKED_TENSOR,
} from './wire-mapping.ts';

const ctx = { sessionId: 'run/round-2', roundId: 2 };
const key = (b: number) => new Uint8Array(32).fill(b);

function decoded<K extends MessageKind>(kind: K, body: unknown, from: 'client' | 'coordinator' = 'client') {
  const bytes = encodeFrame({ message: { kind, body } as never }, { from });
  return decodeFrame(bytes, { from }).message.body as MessageBody<K>;
}

const code = (c: string) => expect.objectContaining({ code: c });

describe('secagg wire mapping', () => {
  it('participant names round-trip and reject anything else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65_535 }), (i) => participantIndex(participantId(i)) === i),
    );
    for (const bad of ['p', 'p01', 'x1', 'p-1', 'p65536', '1', 'p1 ']) {
      expect(() => participantIndex(bad)).toThrow(code('SECAGG_UNKNOWN_CLIENT'));
    }
    expect(() => participantId(-1)).toThrow(code('SECAGG_UNKNOWN_CLIENT'));
  });

  it('the instruction config round-trips through a frame (session, threshold, fixed point, index)', () => {
    const layout = [{ name: 'B', shape: [3, 4] }];
    const config = parseSecAggConfig({ sessionId: 'run/round-2', threshold: 4, layout, fractionalBits: 12 });
    const wire = decoded(
      'roundInstruction',
      { roundId: 2, globalState: { transferId: 'g' }, secureAggregation: secAggConfigToWire(config, 5, 6) },
      'coordinator',
    ).secureAggregation;
    const back = secAggConfigFromWire(wire, layout);
    expect(back.participantIndex).toBe(5);
    expect(back.config).toEqual(config);
    expect(() => secAggConfigFromWire({ ...wire!, scale: 3 }, layout)).toThrow(code('SECAGG_INVALID_CONFIG'));
    expect(() => secAggConfigFromWire({ ...wire!, threshold: 1 }, layout)).toThrow(
      code('SECAGG_INVALID_CONFIG'),
    );
    expect(() => secAggConfigFromWire(null, layout)).toThrow(code('SECAGG_INVALID_CONFIG'));
  });

  it('rejects records of another round, claims to be another sender and shares of unspecified kind', () => {
    const adv = decoded('secaggAdvertiseKeys', { roundId: 3, cPublicKey: key(1), sPublicKey: key(2) });
    expect(() => advertiseKeysFromWire(adv, ctx, 0)).toThrow(code('SECAGG_WRONG_SESSION'));
    const ok = advertiseKeysFromWire({ ...adv, roundId: 2 }, ctx, 4);
    expect(ok.clientId).toBe('p4');
    expect(ok.sessionId).toBe(ctx.sessionId);
    // The copy is a plain Uint8Array (not the frame's Buffer view).
    expect(ok.encryptionPublicKey.constructor).toBe(Uint8Array);

    const shares = decoded('secaggShareKeys', {
      roundId: 2,
      selfMaskCommitment: key(9),
      shares: [{ fromIndex: 1, toIndex: 0, ciphertext: new Uint8Array(82) }],
    });
    expect(() => shareKeysFromWire(shares, ctx, 2)).toThrow(code('SECAGG_MALFORMED_SHARES'));
    expect(shareKeysFromWire(shares, ctx, 1).encryptedShares[0]).toMatchObject({
      senderId: 'p1',
      recipientId: 'p0',
    });

    const response = decoded('secaggUnmaskResponse', {
      roundId: 2,
      shares: [{ ownerIndex: 0, kind: ShareKind.SHARE_KIND_UNSPECIFIED, share: new Uint8Array(33) }],
    });
    expect(() => unmaskResponseFromWire(response, ctx, 1)).toThrow(code('SECAGG_MALFORMED_SHARES'));

    const request = decoded(
      'secaggUnmaskRequest',
      { roundId: 2, survivors: [0, 1], dropped: [1] },
      'coordinator',
    );
    expect(() => unmaskRequestFromWire(request, ctx)).toThrow(code('SECAGG_DUPLICATE_CLIENT'));

    const roster = decoded(
      'secaggKeysBroadcast',
      {
        roundId: 2,
        yourIndex: 1,
        threshold: 2,
        peers: [{ peerIndex: 0, cPublicKey: key(1), sPublicKey: key(2) }],
      },
      'coordinator',
    );
    expect(() => rosterFromWire(roster, { ...ctx, selfIndex: 0, threshold: 2 })).toThrow(
      code('SECAGG_UNKNOWN_CLIENT'),
    );
    expect(() => rosterFromWire(roster, { ...ctx, selfIndex: 1, threshold: 3 })).toThrow(
      code('SECAGG_INVALID_CONFIG'),
    );
  });

  it('masked vectors round-trip in both rings, and malformed transfers are rejected', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 1, maxLength: 40 }),
        (words) => {
          const bytes = new Uint8Array(Uint32Array.from(words).buffer);
          const { message, tensors } = maskedInputToWire(
            { ...ctx, clientId: 'p0', maskedInput: bytes },
            ctx,
            32,
            't1',
          );
          const received = tensors.map(([name, tensor]) => ({ spec: { name }, tensor }));
          const back = maskedInputFromWire(message as never, received, {
            ...ctx,
            senderIndex: 0,
            ringBits: 32,
            length: words.length,
          });
          expect(Array.from(back.maskedInput)).toEqual(Array.from(bytes));
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { minLength: 1, maxLength: 40 }),
        (big) => {
          const values = Float64Array.from(big, (v) => v % 2 ** 52);
          const bytes = new Uint8Array(values.buffer);
          const { message, tensors } = maskedInputToWire(
            { ...ctx, clientId: 'p0', maskedInput: bytes },
            ctx,
            52,
            't1',
          );
          expect(tensors[0]?.[1].shape).toEqual([values.length, 2]);
          const received = tensors.map(([name, tensor]) => ({ spec: { name }, tensor }));
          const back = maskedInputFromWire(message as never, received, {
            ...ctx,
            senderIndex: 0,
            ringBits: 52,
            length: values.length,
          });
          expect(Array.from(new Float64Array(back.maskedInput.slice().buffer))).toEqual(Array.from(values));
        },
      ),
    );
    const body = { roundId: 2, transferId: 't', weight: 0 };
    const tensor = (shape: number[], data: number[]) => [
      {
        spec: { name: SECAGG_MASKED_TENSOR },
        tensor: { dtype: 'uint32' as const, shape, data: Uint32Array.from(data) },
      },
    ];
    const opts = { ...ctx, senderIndex: 0, ringBits: 32 as const, length: 3 };
    expect(() => maskedInputFromWire(body, tensor([2], [1, 2]), opts)).toThrow(
      code('SECAGG_MALFORMED_INPUT'),
    );
    expect(() => maskedInputFromWire({ ...body, weight: 3 }, tensor([3], [1, 2, 3]), opts)).toThrow(
      code('SECAGG_MALFORMED_INPUT'),
    );
    expect(() => maskedInputFromWire(body, [], opts)).toThrow(code('SECAGG_MALFORMED_INPUT'));
    expect(() =>
      maskedInputFromWire(
        body,
        [{ spec: { name: 'B' }, tensor: { dtype: 'float32', shape: [3], data: new Float32Array(3) } }],
        opts,
      ),
    ).toThrow(code('SECAGG_MALFORMED_INPUT'));
    // High word beyond 20 bits is outside Z_2^52.
    expect(() =>
      maskedInputFromWire(body, tensor([1, 2], [0, 2 ** 20]), { ...opts, ringBits: 52, length: 1 }),
    ).toThrow(code('SECAGG_MALFORMED_INPUT'));
  });

  it('a corrupted frame never reaches the mapping: decodeFrame rejects it with MALFORMED_MESSAGE', () => {
    const bytes = encodeFrame(
      { message: { kind: 'secaggShareKeys', body: { roundId: 2, selfMaskCommitment: key(3), shares: [] } } },
      { from: 'client' },
    );
    const truncated = bytes.slice(0, bytes.length - 5);
    expect(() => decodeFrame(truncated, { from: 'client' })).toThrow(code('MALFORMED_MESSAGE'));
    // A client may not send a coordinator's broadcast.
    const broadcast = encodeFrame(
      { message: { kind: 'secaggKeysBroadcast', body: { roundId: 2 } } },
      { from: 'coordinator' },
    );
    expect(() => decodeFrame(broadcast, { from: 'client' })).toThrow(code('UNEXPECTED_MESSAGE'));
  });
});
