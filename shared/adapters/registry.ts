/**
 * The adapter-method registry (PEFT's tuner registry, tfjs's kernel registry): a name maps to one method;
 * registration validates the method up front so a broken preset fails at startup, not mid-federation.
 * The built-in presets are registered into the default registry when this module loads.
 */
import { z } from 'zod';
import { FedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import { ROLES } from '../model/linear.ts';
import type { AdaptableModel } from '../model/types.ts';
import type { Adapter, AdapterMethod, AttachContext } from './types.ts';
import { parseMethodConfig } from './preset.ts';
import { BUILTIN_METHODS } from './presets/all.ts';

export const METHOD_NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

function registrationError(message: string): FedpeftError {
  return new FedpeftError('INVALID_ADAPTER_METHOD', message);
}

export class AdapterRegistry {
  private readonly methods = new Map<string, AdapterMethod>();

  /** Validates and adds a method; throws on a bad name, a duplicate, a schema without defaults, or bad roles. */
  register(method: AdapterMethod): void {
    const name = method.name;
    if (typeof name !== 'string' || !METHOD_NAME_PATTERN.test(name)) {
      throw registrationError(
        `adapter method name ${JSON.stringify(name)} is invalid: use lower-case letters, digits and '-', ` +
          `starting with a letter or digit (e.g. 'my-lora')`,
      );
    }
    if (this.methods.has(name)) {
      throw registrationError(`adapter method '${name}' is already registered; pick another name`);
    }
    if (!(method.configSchema instanceof z.ZodType)) {
      throw registrationError(`adapter method '${name}': configSchema must be a zod schema`);
    }
    const defaults = method.configSchema.safeParse({});
    if (!defaults.success) {
      throw registrationError(
        `adapter method '${name}': its config schema must give every field a default (parse({}) has to yield ` +
          `the paper's defaults), but parse({}) fails:\n${formatZodError(defaults.error)}`,
      );
    }
    const roles = method.targetableRoles;
    if (!Array.isArray(roles) || roles.length === 0) {
      throw registrationError(`adapter method '${name}': targetableRoles must list at least one role`);
    }
    const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
    if (unknown.length > 0) {
      throw registrationError(
        `adapter method '${name}': unknown targetable role(s) ${unknown.join(', ')}; roles are ${ROLES.join(', ')}`,
      );
    }
    this.methods.set(name, method);
  }

  get(name: string): AdapterMethod {
    const method = this.methods.get(name);
    if (!method) {
      throw new FedpeftError(
        'UNKNOWN_METHOD',
        `Unknown adapter method '${name}'. Valid methods: ${[...this.methods.keys()].join(', ')}.`,
      );
    }
    return method;
  }

  has(name: string): boolean {
    return this.methods.has(name);
  }

  list(): AdapterMethod[] {
    return [...this.methods.values()];
  }

  /** Validate `config` with the method's schema (errors name every bad field) and attach to `model`. */
  attach(model: AdaptableModel, name: string, config: unknown, context: AttachContext): Adapter {
    const method = this.get(name);
    const parsed = parseMethodConfig(name, method.configSchema, config);
    return method.attach(model, parsed, context);
  }
}

const defaultRegistry = new AdapterRegistry();
for (const method of BUILTIN_METHODS) defaultRegistry.register(method);

export function registerAdapterMethod(method: AdapterMethod): void {
  defaultRegistry.register(method);
}

export function getAdapterMethod(name: string): AdapterMethod {
  return defaultRegistry.get(name);
}

export function listAdapterMethods(): AdapterMethod[] {
  return defaultRegistry.list();
}

export function attachAdapter(
  model: AdaptableModel,
  name: string,
  config: unknown,
  context: AttachContext,
): Adapter {
  return defaultRegistry.attach(model, name, config, context);
}
