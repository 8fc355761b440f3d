/** random-c³LA: the links visit the windows 0, r, 2r, ... of each layer in a seeded permutation. */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const randomC3laMethod = definePreset({
  name: 'random-c3la',
  description: 'chained cLA whose links visit the windows 0, r, 2r, ... in a seeded permutation',
  reference: 'Beyond LoRA (random-c3LA)',
  configSchema: lowRankSchema({ r: 16, alpha: 32, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    chain: 'permuted-windows',
    shape: { kind: 'window', offset: 'start', placement: 'shared' },
  }),
});
