/** FFA-LoRA: A frozen from the run seed (identical on every client), only B trained — averaging B is exact. */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const ffaLoraMethod = definePreset({
  name: 'ffa-lora',
  description: 'LoRA with A frozen from the run seed, only B trained and averaged (exact)',
  reference: 'Sun et al., 2024 (FFA-LoRA); Asym-LoRA',
  configSchema: lowRankSchema({ r: 8, alpha: 16, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    shape: {
      kind: 'factored',
      A: { kind: 'seeded' },
      B: { kind: 'trained', init: 'zeros', placement: 'shared' },
    },
  }),
});
