/** `fedpeft join`'s eligibility-trait flags, validated into `ClientRuntimeOptions.traits`. */
import { z } from 'zod';
import type { ClientTraits } from '../../client/runtime.ts';
import { UserError } from '../errors.ts';

export interface TraitFlags {
  deviceClass?: string;
  battery?: string;
  charging?: boolean;
  unmetered?: boolean;
}

const traitsSchema = z.object({
  deviceClass: z
    .string()
    .max(64, '--device-class must be at most 64 characters')
    .regex(/^[A-Za-z0-9._-]*$/, '--device-class may use letters, digits, ".", "_" and "-" only')
    .optional(),
  batteryLevel: z
    .number({ error: '--battery must be a number in [0, 1] (e.g. 0.8 for 80 %)' })
    .min(0, '--battery must be in [0, 1] (e.g. 0.8 for 80 %)')
    .max(1, '--battery must be in [0, 1] (e.g. 0.8 for 80 %)')
    .optional(),
  charging: z.boolean().optional(),
  unmeteredNetwork: z.boolean().optional(),
});

export function parseTraitFlags(flags: TraitFlags): ClientTraits {
  const parsed = traitsSchema.safeParse({
    ...(flags.deviceClass !== undefined ? { deviceClass: flags.deviceClass } : {}),
    ...(flags.battery !== undefined
      ? { batteryLevel: flags.battery.trim() === '' ? Number.NaN : Number(flags.battery) }
      : {}),
    ...(flags.charging ? { charging: true } : {}),
    ...(flags.unmetered ? { unmeteredNetwork: true } : {}),
  });
  if (!parsed.success) throw new UserError(parsed.error.issues.map((i) => i.message).join('; '));
  const t = parsed.data;
  return {
    ...(t.deviceClass !== undefined ? { deviceClass: t.deviceClass } : {}),
    ...(t.batteryLevel !== undefined ? { batteryLevel: t.batteryLevel } : {}),
    ...(t.charging !== undefined ? { charging: t.charging } : {}),
    ...(t.unmeteredNetwork !== undefined ? { unmeteredNetwork: t.unmeteredNetwork } : {}),
  };
}
