/** FedSA-LoRA: A is shared (general knowledge), B stays on the device (personal). */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const fedsaLoraMethod = definePreset({
  name: 'fedsa-lora',
  description: 'LoRA where only A is sent and averaged; B stays private (personalized)',
  reference: 'Guo et al., 2025 (FedSA-LoRA)',
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
      B: { kind: 'trained', init: 'zeros', placement: 'private' },
    },
  }),
});
