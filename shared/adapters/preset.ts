/**
 * How a paper's method becomes a registered preset: a zod config schema (defaults = the paper's settings) and
 * a function from the validated config to a `CoreSpec`. `definePreset` adds the parts every preset shares:
 * parsing with actionable messages and attaching the composable core.
 */
import { z } from 'zod';
import { FedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import { ROLES, type Role } from '../model/linear.ts';
import type { AdaptableModel } from '../model/types.ts';
import type { Adapter, AdapterMethod, AttachContext } from './types.ts';
import { CoreAdapter } from './core/core-adapter.ts';
import type { CoreSpec } from './core/spec.ts';

/**
 * Roles a low-rank adapter can target: every projection inside the blocks (the head is left to full FT).
 * `gate` exists only in Llama-family models (SwiGLU); asking for it on a GPT fails at attach time, naming it.
 */
export const BLOCK_ROLES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const satisfies readonly Role[];

/** Block roles every decoder in the zoo has (GPT and Llama): safe defaults for "adapt everything". */
export const COMMON_BLOCK_ROLES = ['q', 'k', 'v', 'o', 'up', 'down'] as const satisfies readonly Role[];

/** `roles`: which Linear roles to adapt. Rejects unknown roles and roles this method cannot target. */
export function rolesField(defaults: readonly Role[], targetable: readonly Role[]) {
  return z
    .array(
      z.enum(ROLES, {
        error: (issue) => `unknown role ${JSON.stringify(issue.input)}; roles are ${ROLES.join(', ')}`,
      }),
    )
    .min(1, 'give at least one role to adapt')
    .refine((roles) => roles.every((r) => targetable.includes(r)), {
      message: `this method can adapt only roles ${targetable.join(', ')}`,
    })
    .refine((roles) => new Set(roles).size === roles.length, { message: 'a role is listed twice' })
    .default([...defaults])
    .describe(`Linear roles to adapt (default ${defaults.join(', ')})`);
}

export function rankField(defaultRank: number) {
  return z
    .number({ error: 'rank r must be a number' })
    .int('rank r must be a whole number')
    .min(1, 'rank r must be at least 1')
    .default(defaultRank)
    .describe(`adapter rank r (default ${defaultRank})`);
}

export function alphaField(defaultAlpha: number) {
  return z
    .number({ error: 'alpha must be a number' })
    .positive('alpha must be > 0')
    .default(defaultAlpha)
    .describe(`scale numerator: the update is multiplied by s = alpha / r (default ${defaultAlpha})`);
}

/** The standard low-rank config: `{ r, alpha, roles }`, strict (a misspelt key is an error, not ignored). */
export function lowRankSchema(defaults: { r: number; alpha: number; roles: readonly Role[] }) {
  return z
    .object({
      r: rankField(defaults.r),
      alpha: alphaField(defaults.alpha),
      roles: rolesField(defaults.roles, BLOCK_ROLES),
    })
    .strict();
}

export type PresetSpec = Omit<CoreSpec, 'method'>;

export interface PresetDefinition<S extends z.ZodType> {
  name: string;
  description: string;
  reference?: string;
  configSchema: S;
  targetableRoles: readonly Role[];
  build(config: z.output<S>): PresetSpec;
}

/** Validate a config against a method's schema; the error lists every offending field. */
export function parseMethodConfig<S extends z.ZodType>(
  method: string,
  schema: S,
  config: unknown,
): z.output<S> {
  const result = schema.safeParse(config ?? {});
  if (!result.success) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      `invalid config for adapter method '${method}':\n${formatZodError(result.error)}`,
    );
  }
  return result.data;
}

export function definePreset<S extends z.ZodType>(def: PresetDefinition<S>): AdapterMethod<S> {
  return {
    name: def.name,
    description: def.description,
    ...(def.reference ? { reference: def.reference } : {}),
    configSchema: def.configSchema,
    targetableRoles: def.targetableRoles,
    attach(model: AdaptableModel, config: z.input<S>, context: AttachContext): Adapter {
      const parsed = parseMethodConfig(def.name, def.configSchema, config);
      const spec: CoreSpec = { method: def.name, ...def.build(parsed) };
      return new CoreAdapter(model, spec, parsed as Record<string, unknown>, context);
    },
  };
}

/** The fields most presets leave at their neutral value. */
export const NEUTRAL = {
  shareByRole: false,
  chain: 'none',
  mask: 'none',
  lrRatioB: 1,
  rankMode: 'fixed',
  freshEachRound: false,
} as const satisfies Partial<PresetSpec>;
