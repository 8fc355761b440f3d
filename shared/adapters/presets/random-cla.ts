/** random-cLA: the cLA window at a seeded random offset per layer (identical on every client sharing the seed). */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const randomClaMethod = definePreset({
  name: 'random-cla',
  description: 'cLA with the window at a seeded random offset per layer (same on every client)',
  reference: 'Beyond LoRA (random-cLA)',
  configSchema: lowRankSchema({ r: 16, alpha: 32, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    chain: 'none',
    shape: { kind: 'window', offset: 'seeded', placement: 'shared' },
  }),
});
