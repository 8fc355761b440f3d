/**
 * PiCa-style sharing: `y = x K + (x U_l) B_role`, no scale. `U_l` (top-r left singular vectors of K_l, by
 * seeded randomized SVD at attach) is derived and never sent; one `B_role [r, out]` is shared by every layer
 * of a role and by every client, so averaging it is exact. Nested ranks: a client of rank r_k uses the first
 * r_k columns of U_l and rows of B_role.
 *
 * `projection: 'output'` is the paper's own form (PyTorch W [out, in] with ΔW = U_r B): in the TF convention
 * `ΔK = A_role V_l^T` with `V_l` the top-r right singular vectors of K_l and a shared trainable `A_role [in, r]`
 * (layers of a role must then share the input dim). The default is the input-side form of the design notes
 * (layers of a role share the output dim).
 *
 * r defaults to 16 for fedpeft's tiny models (the paper used r = 256 on Gemma-2B); r may not exceed any
 * adapted layer's smaller dim.
 */
import { z } from 'zod';
import { BLOCK_ROLES, definePreset, NEUTRAL, rankField, rolesField } from '../preset.ts';

export const picaMethod = definePreset({
  name: 'pica',
  description:
    '(x U_l) B_role: frozen SVD projector per layer, one B per role shared by all layers and clients; exact',
  reference: 'PiCa (projected-input, column-space sharing); roles q,k,v,up,down as in the paper',
  configSchema: z
    .object({
      r: rankField(16),
      roles: rolesField(['q', 'k', 'v', 'up', 'down'], BLOCK_ROLES),
      projection: z
        .enum(['input', 'output'], { error: 'projection must be "input" or "output"' })
        .default('input')
        .describe("input: (x U_l) B_role (default); output: (x A_role) V_l^T, the paper's form"),
    })
    .strict(),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: 1,
    shareByRole: true,
    rankMode: 'nested-prefix',
    shape:
      c.projection === 'input'
        ? { kind: 'factored', A: { kind: 'svd' }, B: { kind: 'trained', init: 'zeros', placement: 'shared' } }
        : {
            kind: 'factored',
            A: { kind: 'trained', init: 'zeros', placement: 'shared' },
            B: { kind: 'svd' },
          },
  }),
});
