/** Full fine-tuning of the targeted kernels, kept as a delta `D` so merging/unmerging works like any adapter. */
import { z } from 'zod';
import { ROLES } from '../../model/linear.ts';
import { definePreset, NEUTRAL, rolesField } from '../preset.ts';

export const fullMethod = definePreset({
  name: 'full',
  description: 'full fine-tuning of the targeted kernels (shared: each kernel update, weighted mean)',
  reference: 'FedAvg (McMahan et al., 2017)',
  configSchema: z.object({ roles: rolesField(['q', 'k', 'v', 'o', 'up', 'down'], ROLES) }).strict(),
  targetableRoles: ROLES,
  build: (c) => ({ ...NEUTRAL, roles: c.roles, rank: 1, scale: 1, shape: { kind: 'dense' } }),
});
