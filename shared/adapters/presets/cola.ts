/** CoLA: a chain of LoRAs; each link merges s A B into the base and re-initialises A (kaiming), B = 0. */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const colaMethod = definePreset({
  name: 'cola',
  description:
    'chain of LoRA: every link merges s A B into the base and re-initialises A, B (as LoRA, inexact)',
  reference: 'Xia et al., 2024 (Chain of LoRA)',
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
      A: { kind: 'trained', init: 'kaiming-uniform', placement: 'shared' },
      B: { kind: 'trained', init: 'zeros', placement: 'shared' },
    },
  }),
});
