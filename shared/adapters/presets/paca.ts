/**
 * PaCA: fine-tune r seeded input rows of K directly (`K[idx] += Δ`, Δ trained, no scale). The input side is a
 * gather of those r input columns of x — no adapter matrix at all. Shared is Δ; averaging it is the same as
 * averaging the rows, since every client starts from the same base rows.
 */
import { z } from 'zod';
import { BLOCK_ROLES, definePreset, NEUTRAL, rankField, rolesField } from '../preset.ts';

export const pacaMethod = definePreset({
  name: 'paca',
  description:
    'trains r seeded input rows of each kernel directly (gathered input columns, no A); weighted mean',
  reference: 'Woo et al., 2025 (PaCA: partial connection adaptation)',
  configSchema: z.object({ r: rankField(16), roles: rolesField(['q', 'v'], BLOCK_ROLES) }).strict(),
  targetableRoles: BLOCK_ROLES,
  build: (c) => ({
    ...NEUTRAL,
    roles: c.roles,
    rank: c.r,
    scale: 1,
    shape: { kind: 'columns', placement: 'shared' },
  }),
});
