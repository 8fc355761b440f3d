import { describe, expect, it } from 'vitest';
import { fedpeft } from '../../proto/generated/fedpeft.js';
import { InboundGuard, peekRequestId } from './inbound-guard.ts';
import { encodeFrame } from './messages.ts';

const heartbeat = (requestId: number) =>
  encodeFrame({ requestId, message: { kind: 'heartbeat', body: { sentUnixMs: 1 } } }, { from: 'client' });

describe('inbound guard', () => {
  const guard = () => new InboundGuard({ from: 'client', maxFrameBytes: 1024 });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'hello'],
    ['a number', 42],
    ['an object', { byteLength: 5 }],
  ])('refuses %s as MALFORMED_MESSAGE without throwing, counting 0 bytes', (_name, raw) => {
    const v = guard().check(raw);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.error.code).toBe('MALFORMED_MESSAGE');
      expect(v.close).toBe(false);
    }
    expect(v.bytes).toBe(0);
  });

  it('answers an oversize frame FRAME_TOO_LARGE with its request id, then closes', () => {
    const big = new Uint8Array(2048);
    big.set(heartbeat(77));
    const v = guard().check(big);
    expect(v).toMatchObject({ ok: false, inReplyTo: 77, close: true, answer: true });
    if (!v.ok) expect(v.error.code).toBe('FRAME_TOO_LARGE');
  });

  it('echoes the request id of a frame whose body does not decode', () => {
    const good = heartbeat(9);
    const cut = good.slice(0, good.length - 1);
    const v = guard().check(cut);
    expect(v).toMatchObject({ ok: false, inReplyTo: 9 });
    // A body that decodes but fails validation keeps the id too.
    const invalid = fedpeft.v1.Envelope.encode({
      protocolVersion: 1,
      requestId: 31,
      chunkAck: { transferId: '../x' },
    }).finish();
    expect(guard().check(invalid)).toMatchObject({ ok: false, inReplyTo: 31 });
    expect(peekRequestId(new Uint8Array([0xff, 0xff]))).toBe(0);
  });

  it('closes on an unsupported version', () => {
    const v = guard().check(
      fedpeft.v1.Envelope.encode({ protocolVersion: 3, requestId: 4, heartbeat: {} }).finish(),
    );
    expect(v).toMatchObject({ ok: false, inReplyTo: 4, close: true });
  });

  it('rate-limits frames: answers the first refusal only, closes after repeated violation', () => {
    let now = 0;
    const g = new InboundGuard({
      from: 'client',
      maxFrameBytes: 1024,
      now: () => now,
      rate: { framesPerSecond: 10, bytesPerSecond: 1e6, burstSeconds: 1, violationsBeforeDisconnect: 5 },
    });
    for (let i = 0; i < 10; i++) expect(g.check(heartbeat(i + 1)).ok).toBe(true);
    const verdicts = Array.from({ length: 5 }, () => g.check(heartbeat(99)));
    expect(verdicts.map((v) => (v.ok ? 'ok' : v.error.code))).toEqual(Array(5).fill('RATE_LIMITED'));
    expect(verdicts.map((v) => !v.ok && v.answer)).toEqual([true, false, false, false, false]);
    expect(verdicts.map((v) => !v.ok && v.close)).toEqual([false, false, false, false, true]);
    now += 1000; // the bucket refills
    expect(g.check(heartbeat(100)).ok).toBe(true);
  });
});
