/** HetLoRA: client rank r_k <= r; zero-padded to r, weighted by ‖B_k A_k‖_F, truncated back per client. */
import { BLOCK_ROLES, definePreset, lowRankSchema, NEUTRAL } from '../preset.ts';

export const hetloraMethod = definePreset({
  name: 'hetlora',
  description:
    'LoRA at a per-client rank r_k <= r; zero-pad + norm-weighted aggregation, truncated per client',
  reference: 'Cho et al., 2024 (HetLoRA)',
  configSchema: lowRankSchema({ r: 8, alpha: 16, roles: ['q', 'v'] }),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    rankMode: 'per-client',
    shape: {
      kind: 'factored',
      A: { kind: 'trained', init: 'kaiming-uniform', placement: 'shared' },
      B: { kind: 'trained', init: 'zeros', placement: 'shared' },
    },
  }),
});
