/**
 * FLoRA: fresh A, B every round, any client rank; the coordinator stacks `[p_k A_k]` and `[B_k]`, and the
 * client folds `s A' B'` into its base on receipt (exact). The scale is alpha / r with the configured r for
 * every client, so stacked products of clients with different ranks need no per-client scale.
 */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const floraMethod = definePreset({
  name: 'flora',
  description:
    'LoRA re-initialised every round; factors stacked across clients and merged into the base (exact, any ranks)',
  reference: 'Wang et al., 2024 (FLoRA)',
  configSchema: lowRankSchema({ r: 8, alpha: 16, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    rankMode: 'per-client',
    freshEachRound: true,
    shape: {
      kind: 'factored',
      A: { kind: 'trained', init: 'kaiming-uniform', placement: 'shared' },
      B: { kind: 'trained', init: 'zeros', placement: 'shared' },
    },
  }),
});
