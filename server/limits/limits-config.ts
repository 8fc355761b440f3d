/**
 * The coordinator's `limits` block: what one client (a session) or one join token may cost the coordinator,
 * and how far one round may move the global state. Every default is documented here and in
 * docs/protocol.md ("Limits"); each exists because the bytes it bounds come from devices we do not control.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';

const positiveInt = (field: string) => z.int(`${field} must be an integer`).min(1, `${field} must be >= 1`);
const positive = (field: string) => z.number().positive(`${field} must be > 0`);

export const limitsConfigSchema = strictObject({
  /**
   * Largest weight one update may carry. The weight used is min(num_examples, weight) of the commit (either
   * one when the other is 0), capped at this value: a client cannot outweigh the fleet with a huge float.
   */
  maxExampleWeight: positiveInt('limits.maxExampleWeight').default(1_000_000),
  /** Bytes of uploads one session may have announced and not yet committed (default: 2 x transport.maxTransferBytes). */
  maxSessionTransferBytes: positiveInt('limits.maxSessionTransferBytes').optional(),
  /** The same, summed over every session of one join token (default: 8 x transport.maxTransferBytes). */
  maxTokenTransferBytes: positiveInt('limits.maxTokenTransferBytes').optional(),
  /** Sessions one join token may hold; a Join beyond it first evicts that token's oldest idle session. */
  maxSessionsPerToken: positiveInt('limits.maxSessionsPerToken').default(32),
  /** A session disconnected for this long (and not owed an update of the open round) is forgotten. */
  sessionExpiryMs: positiveInt('limits.sessionExpiryMs').default(24 * 60 * 60 * 1000),
  /** Sustained frames per second a connection may send (token bucket). */
  framesPerSecond: positive('limits.framesPerSecond').default(200),
  /** Sustained bytes per second a connection may send (token bucket; a burst holds at least 2 frames). */
  bytesPerSecond: positive('limits.bytesPerSecond').default(64 * 1024 * 1024),
  /** Seconds of the sustained rates a connection may spend at once. */
  burstSeconds: positive('limits.burstSeconds').default(2),
  /** Frames refused as RATE_LIMITED within 10 s after which the coordinator closes the connection. */
  violationsBeforeDisconnect: positiveInt('limits.violationsBeforeDisconnect').default(50),
  /**
   * The new aggregate is rejected (AGGREGATE_REJECTED, the previous global kept) unless it is finite and
   * ||new - previous|| <= maxRelativeChange * ||previous|| + maxAbsoluteChange (L2 over all shared tensors).
   */
  maxRelativeChange: z.number().nonnegative('limits.maxRelativeChange must be >= 0').default(10),
  maxAbsoluteChange: z.number().nonnegative('limits.maxAbsoluteChange must be >= 0').default(100),
  /** Per-client log lines (protocol errors, rejected updates) per key and second, after a burst of 20. */
  logLinesPerSecond: positive('limits.logLinesPerSecond').default(1),
}).prefault({});

export type LimitsConfig = z.output<typeof limitsConfigSchema>;
