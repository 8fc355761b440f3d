/** RAC-LoRA: a LoRA chain with A frozen random from the seed, resampled every link; only B trained (exact). */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const racLoraMethod = definePreset({
  name: 'rac-lora',
  description: 'chain of LoRA with A frozen from the seed and resampled each link; only B trained (exact)',
  reference: 'Malinovsky et al., 2024 (RAC-LoRA)',
  configSchema: lowRankSchema({ r: 8, alpha: 16, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    chain: 'merge-reinit',
    shape: {
      kind: 'factored',
      A: { kind: 'seeded' },
      B: { kind: 'trained', init: 'zeros', placement: 'shared' },
    },
  }),
});
