/** c³LA: chained cLA. At a link end `s B` is folded into rows w..w+r of K, B is zeroed and the window moves by r. */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const c3laMethod = definePreset({
  name: 'c3la',
  description: 'chained cLA: each link folds s B into the base and shifts the window by r (mod in-dim)',
  reference: 'Beyond LoRA (c3LA)',
  configSchema: lowRankSchema({ r: 16, alpha: 32, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    chain: 'sequential-windows',
    shape: { kind: 'window', offset: 'start', placement: 'shared' },
  }),
});
