/** LoRA as FedIT federates it: both factors trained and averaged separately (inexact: cross terms). */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const loraMethod = definePreset({
  name: 'lora',
  description: 'LoRA, s (x A) B with A kaiming-uniform, B = 0; A and B averaged separately (FedIT, inexact)',
  reference: 'Hu et al., 2021; FedIT (Zhang et al., 2024)',
  configSchema: lowRankSchema({ r: 8, alpha: 16, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    shape: {
      kind: 'factored',
      A: { kind: 'trained', init: 'kaiming-uniform', placement: 'shared' },
      B: { kind: 'trained', init: 'zeros', placement: 'shared' },
    },
  }),
});
