/** LoRA+: as LoRA, with B's learning rate `lrRatio` times A's. */
import { z } from 'zod';
import { alphaField, BLOCK_ROLES, definePreset, NEUTRAL, rankField, rolesField } from '../preset.ts';

export const loraPlusMethod = definePreset({
  name: 'lora-plus',
  description: "LoRA with lr_B = lrRatio * lr_A (default ratio 16, the paper's recommended 2^4)",
  reference: 'Hayou et al., 2024 (LoRA+)',
  configSchema: z
    .object({
      r: rankField(8),
      alpha: alphaField(16),
      roles: rolesField(['q', 'v'], BLOCK_ROLES),
      lrRatio: z
        .number({ error: 'lrRatio must be a number' })
        .positive('lrRatio must be > 0')
        .default(16)
        .describe('learning rate of B divided by that of A (default 16)'),
    })
    .strict(),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    lrRatioB: c.lrRatio,
    shape: {
      kind: 'factored',
      A: { kind: 'trained', init: 'kaiming-uniform', placement: 'shared' },
      B: { kind: 'trained', init: 'zeros', placement: 'shared' },
    },
  }),
});
