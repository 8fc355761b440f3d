/**
 * LoSA: `ΔK = s (A_l B_l) ⊙ M_l` with `M_l = [K_l != 0]` of the already-pruned base (pruning and its T = 5
 * schedule live in shared/pruning/). A is frozen from the seed (default) or trained; B is trained and shared;
 * the mask is private. Per-layer ranks r_l <= r use the first r_l columns of an A drawn at rank r, so clients
 * with different ranks share exact prefixes. Merging keeps zero entries zero (the update is masked).
 */
import { z } from 'zod';
import { alphaField, BLOCK_ROLES, definePreset, NEUTRAL, rankField, rolesField } from '../preset.ts';

export const losaMethod = definePreset({
  name: 'losa',
  description:
    's (A_l B_l) ⊙ M_l on a pruned base: mask private, B shared (exact), per-layer ranks as nested prefixes',
  reference: 'Huang et al., ICLR 2025 (LoSA: dynamic low-rank sparse adaptation), r=8, alpha=16',
  configSchema: z
    .object({
      r: rankField(8),
      alpha: alphaField(16),
      roles: rolesField(['q', 'k', 'v', 'o', 'up', 'down'], BLOCK_ROLES),
      trainA: z.boolean().default(false).describe('train A too (default false: A frozen from the run seed)'),
      mask: z
        .enum(['base', 'none'], { error: 'mask must be "base" or "none"' })
        .default('base')
        .describe("base: keep the base kernel's zeros (M = [K != 0]); none: no mask"),
      ranks: z
        .record(
          z.string(),
          z.number().int('a layer rank must be a whole number').min(1, 'a layer rank must be >= 1'),
        )
        .optional()
        .describe('per-layer ranks r_l <= r by layer name (from the pruning rank allocation)'),
    })
    .strict(),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: c.alpha / c.r,
    mask: c.mask,
    rankMode: 'nested-prefix',
    ...(c.ranks ? { layerRanks: c.ranks } : {}),
    shape: {
      kind: 'factored',
      A: c.trainA ? { kind: 'trained', init: 'kaiming-uniform', placement: 'shared' } : { kind: 'seeded' },
      B: { kind: 'trained', init: 'zeros', placement: 'shared' },
    },
  }),
});
