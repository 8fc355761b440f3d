/** cLA: A is the identity window at offset 0, so the update is `s x[:, 0:r] B` — a slice, never a matmul. */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const claMethod = definePreset({
  name: 'cla',
  description:
    's x[:, 0:r] B: the input side is a slice of r input columns, never a matmul by A; exact averaging',
  reference: 'Beyond LoRA (cLA), r=16, alpha=32 on q,v',
  configSchema: lowRankSchema({ r: 16, alpha: 32, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    chain: 'none',
    shape: { kind: 'window', offset: 'start', placement: 'shared' },
  }),
});
