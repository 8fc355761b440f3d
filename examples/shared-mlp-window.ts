/**
 * An example of a user-defined adapter method: the cLA idea applied to the MLP, with the window of input
 * columns at a seeded offset (so every client derives the same one from the run seed) and one B per layer.
 *
 * Load it into any fedpeft command with `--plugin`, on the coordinator AND on every client:
 *
 *   fedpeft --plugin ./examples/shared-mlp-window.ts methods
 *   fedpeft --plugin ./examples/shared-mlp-window.ts serve --config coordinator.yaml
 *
 * See docs/custom-adapter.md for the walk-through.
 */
import { z } from 'zod';
import {
  BLOCK_ROLES,
  definePreset,
  NEUTRAL,
  rankField,
  alphaField,
  rolesField,
} from '../shared/adapters/preset.ts';
import { registerAdapterMethod } from '../shared/adapters/registry.ts';

export const sharedMlpWindowMethod = definePreset({
  name: 'mlp-window',
  description: 's x[:, w:w+r] B on the MLP with a seeded window offset; exact averaging of B',
  reference: 'fedpeft example (docs/custom-adapter.md)',
  // Every field has a default: registration refuses a schema whose parse({}) fails.
  configSchema: z
    .object({
      r: rankField(8),
      alpha: alphaField(16),
      roles: rolesField(['up', 'down'], BLOCK_ROLES),
    })
    .strict(),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    // A slice of r input columns at an offset drawn from the run seed: derived, never sent.
    shape: { kind: 'window', offset: 'seeded', placement: 'shared' },
  }),
});

registerAdapterMethod(sharedMlpWindowMethod);
