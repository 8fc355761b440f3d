/**
 * What a simulated device class is: its share of the fleet, how fast it computes relative to the machine the
 * simulation runs on, how often it is online and how often it drops out mid-round, its link speeds and its
 * memory budget. The budget is what makes a fleet heterogeneous in *what* it trains, not only how fast: it
 * decides each client's nested rank (PiCa, LoSA, HetLoRA, FLoRA) and the sparsity it prunes its base to (LoSA),
 * see `devices.ts`.
 */
import { z } from 'zod';
import { strictObject } from '../shared/config/strict-object.ts';

export const DEVICE_CLASS_NAME = /^[a-z0-9][a-z0-9-]*$/;

export const deviceClassSchema = strictObject({
  name: z
    .string()
    .regex(
      DEVICE_CLASS_NAME,
      'a device class name uses lower-case letters, digits and "-" (e.g. "phone-low")',
    )
    .default('reference')
    .describe('Name of the class, shown in reports (lower-case letters, digits, "-").'),
  share: z
    .number({ error: 'share must be a number > 0' })
    .positive('share must be > 0 (the fraction of clients in this class; shares are normalized to sum to 1)')
    .default(1)
    .describe('Relative share of the fleet; shares of all classes are normalized to sum to 1.'),
  speed: z
    .number({ error: 'speed must be a number > 0' })
    .positive(
      'speed must be > 0 (1 = as fast as the machine running the simulation, 0.25 = four times slower)',
    )
    .default(1)
    .describe(
      'Compute speed relative to the machine running the simulation: simulated compute time = measured time / speed.',
    ),
  availability: z
    .number({ error: 'availability must be a number in (0, 1]' })
    .gt(0, 'availability must be > 0 (a class that is never online cannot train)')
    .max(1, 'availability must be <= 1')
    .default(1)
    .describe('Probability that a client of this class is online (eligible) in a given round.'),
  dropout: z
    .number({ error: 'dropout must be a number in [0, 1)' })
    .min(0, 'dropout must be >= 0')
    .lt(1, 'dropout must be < 1 (a class that always drops out never contributes)')
    .default(0)
    .describe('Probability that a sampled client of this class drops out before returning its update.'),
  upMbps: z
    .number({ error: 'upMbps must be a number > 0' })
    .positive('upMbps must be > 0 (uplink bandwidth in Mbit/s)')
    .default(20)
    .describe('Uplink bandwidth in Mbit/s (client -> coordinator).'),
  downMbps: z
    .number({ error: 'downMbps must be a number > 0' })
    .positive('downMbps must be > 0 (downlink bandwidth in Mbit/s)')
    .default(100)
    .describe('Downlink bandwidth in Mbit/s (coordinator -> client).'),
  latencyMs: z
    .number({ error: 'latencyMs must be a number >= 0' })
    .min(0, 'latencyMs must be >= 0')
    .default(20)
    .describe('One-way network latency in milliseconds, added once per transfer.'),
  memoryMb: z
    .number({ error: 'memoryMb must be a number > 0' })
    .positive('memoryMb must be > 0 (the training memory budget in MiB)')
    .optional()
    .describe(
      'Training memory budget in MiB. When set, it caps the client rank and/or raises the base sparsity ' +
        '(see devices.derive). Default: unlimited.',
    ),
  memoryFraction: z
    .number({ error: 'memoryFraction must be a number in (0, 1]' })
    .gt(0, 'memoryFraction must be > 0')
    .max(1, 'memoryFraction must be <= 1')
    .optional()
    .describe(
      'Training memory budget as a fraction of what dense, full-rank training of the scenario model needs ' +
        '(scale-free, so a preset means the same on any model size). Default: unlimited.',
    ),
  rank: z
    .number({ error: 'rank must be a whole number >= 1' })
    .int('rank must be a whole number')
    .min(1, 'rank must be >= 1')
    .optional()
    .describe(
      "Fixed client rank r_k <= the method's r (overrides what memoryMb would give). Default: derived.",
    ),
  sparsity: z
    .number({ error: 'sparsity must be a number in [0, 1)' })
    .min(0, 'sparsity must be >= 0')
    .lt(1, 'sparsity must be < 1')
    .optional()
    .describe('Fixed base sparsity (fraction of base weights pruned, LoSA). Default: derived, else 0.'),
}).refine((c) => c.memoryMb === undefined || c.memoryFraction === undefined, {
  message: 'give memoryMb or memoryFraction, not both',
  path: ['memoryFraction'],
});

export type DeviceClass = z.output<typeof deviceClassSchema>;
export type DeviceClassInput = z.input<typeof deviceClassSchema>;

export const DERIVABLE = ['rank', 'sparsity'] as const;
export type Derivable = (typeof DERIVABLE)[number];

export const devicesSchema = strictObject({
  classes: z
    .array(deviceClassSchema)
    .min(1, 'devices.classes needs at least one device class')
    .refine((cs) => new Set(cs.map((c) => c.name)).size === cs.length, {
      message: 'device class names must be unique',
    })
    .prefault([{ name: 'reference' }])
    .describe(
      'Device classes of the fleet. Default: one class "reference" (speed 1, always online, no dropout, ' +
        '20/100 Mbit/s up/down, no memory limit).',
    ),
  derive: z
    .array(z.enum(DERIVABLE, { error: `devices.derive entries must be one of: ${DERIVABLE.join(', ')}` }))
    .default(['rank'])
    .describe(
      'What a memory budget adapts: "rank" lowers the nested client rank, "sparsity" prunes the base more ' +
        '(LoSA). With both, sparsity is raised first (up to maxSparsity), then the rank is lowered.',
    ),
  maxSparsity: z
    .number({ error: 'maxSparsity must be a number in [0, 1)' })
    .min(0, 'maxSparsity must be >= 0')
    .lt(1, 'maxSparsity must be < 1')
    .default(0.7)
    .describe('The highest base sparsity a memory budget may push a client to.'),
});

export type DevicesConfig = z.output<typeof devicesSchema>;
