/** The per-connection inbound rate limits (shared/wire/inbound-guard.ts) from the `limits` config block. */
import type { InboundRateLimits } from '../../shared/wire/inbound-guard.ts';
import type { LimitsConfig } from './limits-config.ts';

export function inboundRateOf(limits: LimitsConfig): InboundRateLimits {
  return {
    framesPerSecond: limits.framesPerSecond,
    bytesPerSecond: limits.bytesPerSecond,
    burstSeconds: limits.burstSeconds,
    violationsBeforeDisconnect: limits.violationsBeforeDisconnect,
  };
}
