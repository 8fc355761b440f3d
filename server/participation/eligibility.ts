/**
 * Who may take part in a round: the client's advertised `Capabilities` traits checked against the run's
 * `participation.eligibility` policy, then an optional hook of the embedding program (a simulator's device
 * availability). A client that is connected and signed but not eligible stays admitted: it gets the global
 * state broadcasts, it is just not sampled while it stays ineligible.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import type { Capabilities } from '../../shared/wire/messages.ts';

/** The eligibility traits a client advertises in `Join.capabilities` (proto: Capabilities fields 9-12). */
export interface ClientTraits {
  /** A deployment-defined class ("phone", "laptop", "server", ...); "" = unknown. */
  deviceClass: string;
  /** Battery level in [0, 1]; null = unknown or mains powered. */
  batteryLevel: number | null;
  charging: boolean;
  unmeteredNetwork: boolean;
}

export const eligibilitySchema = strictObject({
  /** Device classes that may train; absent = every class (including unknown ""). */
  deviceClasses: z
    .array(z.string().min(1, 'participation.eligibility.deviceClasses entries must be non-empty'))
    .min(1, 'participation.eligibility.deviceClasses must list at least one class (or be left out)')
    .optional(),
  /**
   * Lowest battery level (in [0, 1]) a client on battery may train at. A charging client and one that
   * reports no battery level (mains powered) pass.
   */
  minBatteryLevel: z
    .number()
    .min(0, 'participation.eligibility.minBatteryLevel must be in [0, 1]')
    .max(1, 'participation.eligibility.minBatteryLevel must be in [0, 1]')
    .optional(),
  /** Only clients that report `charging`. */
  requireCharging: z.boolean().default(false),
  /** Only clients that report an unmetered network. */
  requireUnmetered: z.boolean().default(false),
}).prefault({});

export const participationSchema = strictObject({
  /** Which connected clients may be sampled (docs/protocol.md, "Stable client id and eligibility"). */
  eligibility: eligibilitySchema,
}).prefault({});

export type EligibilityPolicy = z.output<typeof eligibilitySchema>;
export type ParticipationConfig = z.output<typeof participationSchema>;

/** A program's own availability rule (e.g. the simulator's device schedule), asked per client and round. */
export type EligibilityHook = (
  client: { clientId: string; traits: ClientTraits },
  roundId: number,
) => boolean;

export function traitsOf(capabilities: Capabilities | undefined): ClientTraits {
  return {
    deviceClass: capabilities?.deviceClass ?? '',
    batteryLevel: capabilities?.batteryLevel ?? null,
    charging: capabilities?.charging ?? false,
    unmeteredNetwork: capabilities?.unmeteredNetwork ?? false,
  };
}

/** Why `traits` fail `policy`, or null when they pass (the reason is logged, never sent to the client). */
export function ineligibilityReason(policy: EligibilityPolicy, traits: ClientTraits): string | null {
  if (policy.deviceClasses && !policy.deviceClasses.includes(traits.deviceClass)) {
    return `device class '${traits.deviceClass}' is not one of ${policy.deviceClasses.join(', ')}`;
  }
  if (policy.requireCharging && !traits.charging) return 'not charging';
  if (policy.requireUnmetered && !traits.unmeteredNetwork) return 'not on an unmetered network';
  if (
    policy.minBatteryLevel !== undefined &&
    traits.batteryLevel !== null &&
    !traits.charging &&
    traits.batteryLevel < policy.minBatteryLevel
  ) {
    return `battery ${traits.batteryLevel} below ${policy.minBatteryLevel}`;
  }
  return null;
}

export class Eligibility {
  constructor(
    private readonly policy: EligibilityPolicy,
    private readonly hook?: EligibilityHook,
  ) {}

  /** True when the client passes the configured policy and the hook (if any) for `roundId`. */
  allows(client: { clientId: string; traits: ClientTraits }, roundId: number): boolean {
    if (ineligibilityReason(this.policy, client.traits) !== null) return false;
    return this.hook ? this.hook(client, roundId) : true;
  }
}
