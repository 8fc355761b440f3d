/**
 * The one gate every inbound frame passes before anything else looks at it, in this order: rate (token
 * buckets on frames/s and bytes/s), type (binary only: a string, null or a missing argument is refused
 * before its length is read), size (FRAME_TOO_LARGE, then the connection closes), decode and validation.
 * `check` never throws: every outcome is a verdict, so no input can escape an event handler, and errors
 * carry the frame's `request_id` whenever the envelope header could be read (so a client can correlate a
 * decode error with its request).
 */
import { FedpeftError, isFedpeftError } from '../errors.ts';
import { decodeFrame, type Frame, type Sender } from './messages.ts';
import { TokenBucket } from './token-bucket.ts';

export interface InboundRateLimits {
  /** Sustained frames per second (the bucket holds `burstSeconds` worth). */
  framesPerSecond: number;
  /** Sustained bytes per second. */
  bytesPerSecond: number;
  /** Seconds of the sustained rate a sender may spend at once. */
  burstSeconds: number;
  /** Frames refused for rate within one `violationWindowMs` after which the connection is closed. */
  violationsBeforeDisconnect: number;
  violationWindowMs?: number;
}

export type GuardVerdict =
  | { ok: true; frame: Frame; bytes: number }
  | {
      ok: false;
      error: FedpeftError;
      /** request_id of the refused frame when its header was readable, else 0. */
      inReplyTo: number;
      /** Answer with an Error frame (false for rate-limited frames past the first of a burst). */
      answer: boolean;
      /** Close the connection after answering. */
      close: boolean;
      /** Bytes the frame had (0 for a non-binary one). */
      bytes: number;
    };

export interface InboundGuardOptions {
  /** Whose frames these are (the other side). */
  from: Sender;
  maxFrameBytes: number;
  rate?: InboundRateLimits;
  now?: () => number;
}

/** Binary frames as socket.io (Buffer, ArrayBuffer) or an in-memory link hands them over; anything else: null. */
function binary(raw: unknown): Uint8Array | null {
  if (raw instanceof Uint8Array) return raw;
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  if (ArrayBuffer.isView(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  return null;
}

/**
 * The Envelope's `request_id` (field 2, varint) read from the leading fields without decoding the body,
 * so that even an undecodable frame gets its id echoed. 0 when it cannot be read.
 */
export function peekRequestId(bytes: Uint8Array): number {
  let pos = 0;
  const varint = (): number | null => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= bytes.length) return null;
      const b = bytes[pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    return null;
  };
  for (let fields = 0; fields < 8 && pos < bytes.length; fields++) {
    const tag = varint();
    if (tag === null) return 0;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint();
      if (v === null) return 0;
      if (field === 2) return v <= 0xffffffff ? v : 0;
    } else if (wire === 2) {
      const len = varint();
      if (len === null) return 0;
      pos += len;
    } else {
      return 0;
    }
  }
  return 0;
}

export class InboundGuard {
  private readonly frames: TokenBucket | undefined;
  private readonly bytes: TokenBucket | undefined;
  private readonly now: () => number;
  private violations: number[] = [];

  constructor(private readonly options: InboundGuardOptions) {
    this.now = options.now ?? Date.now;
    const rate = options.rate;
    if (rate) {
      this.frames = new TokenBucket(rate.framesPerSecond, rate.framesPerSecond * rate.burstSeconds, this.now);
      // A burst must hold at least one maximal frame, or a legal chunk could never pass.
      this.bytes = new TokenBucket(
        rate.bytesPerSecond,
        Math.max(rate.bytesPerSecond * rate.burstSeconds, 2 * options.maxFrameBytes),
        this.now,
      );
    }
  }

  check(raw: unknown): GuardVerdict {
    try {
      return this.checkUnsafe(raw);
    } catch (err) {
      // decodeFrame only throws FedpeftErrors; this is the net under our own bugs.
      return {
        ok: false,
        error: isFedpeftError(err) ? err : new FedpeftError('MALFORMED_MESSAGE', 'frame could not be read'),
        inReplyTo: 0,
        answer: true,
        close: false,
        bytes: 0,
      };
    }
  }

  private checkUnsafe(raw: unknown): GuardVerdict {
    const data = binary(raw);
    const size = data?.length ?? 0;
    if (this.frames && this.bytes) {
      const frameOk = this.frames.take(1);
      const bytesOk = this.bytes.take(size);
      if (!frameOk || !bytesOk) return this.rateLimited(data, size);
    }
    if (!data) {
      return this.refuse(
        new FedpeftError(
          'MALFORMED_MESSAGE',
          `a frame must be binary (a protobuf Envelope); got ${raw === null ? 'null' : typeof raw}`,
        ),
        0,
        0,
      );
    }
    if (size > this.options.maxFrameBytes) {
      return {
        ok: false,
        error: new FedpeftError(
          'FRAME_TOO_LARGE',
          `frame of ${size} bytes exceeds the ${this.options.maxFrameBytes}-byte frame limit; send tensors as a chunked transfer`,
        ),
        inReplyTo: peekRequestId(data),
        answer: true,
        close: true,
        bytes: size,
      };
    }
    try {
      return {
        ok: true,
        frame: decodeFrame(data, { from: this.options.from, maxFrameBytes: this.options.maxFrameBytes }),
        bytes: size,
      };
    } catch (err) {
      const e = isFedpeftError(err) ? err : new FedpeftError('MALFORMED_MESSAGE', String(err));
      return {
        ok: false,
        error: e,
        inReplyTo: peekRequestId(data),
        answer: true,
        close: e.code === 'UNSUPPORTED_VERSION',
        bytes: size,
      };
    }
  }

  private refuse(error: FedpeftError, inReplyTo: number, bytes: number): GuardVerdict {
    return { ok: false, error, inReplyTo, answer: true, close: false, bytes };
  }

  private rateLimited(data: Uint8Array | null, size: number): GuardVerdict {
    const rate = this.options.rate!;
    const now = this.now();
    const window = rate.violationWindowMs ?? 10_000;
    this.violations = this.violations.filter((t) => now - t < window);
    this.violations.push(now);
    const count = this.violations.length;
    return {
      ok: false,
      error: new FedpeftError(
        'RATE_LIMITED',
        `more than ${rate.framesPerSecond} frames/s or ${rate.bytesPerSecond} bytes/s; frame dropped ` +
          `(${count} of ${rate.violationsBeforeDisconnect} allowed within ${window} ms before disconnect)`,
      ),
      inReplyTo: data ? peekRequestId(data) : 0,
      // Answer the first refusal of a burst only: a flood must not be answered one for one.
      answer: count === 1,
      close: count >= rate.violationsBeforeDisconnect,
      bytes: size,
    };
  }
}
