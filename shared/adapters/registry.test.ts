import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { useBackend } from '../tensor/backend.ts';
import { createModel } from '../model/zoo.ts';
import { AdapterRegistry, attachAdapter, getAdapterMethod, listAdapterMethods } from './registry.ts';
import { definePreset, lowRankSchema, NEUTRAL } from './preset.ts';
import type { AdapterMethod } from './types.ts';
import { FixtureModel } from './testing/fixture-model.ts';

const ALL = [
  'full',
  'lora',
  'lora-plus',
  'ffa-lora',
  'fedsa-lora',
  'flora',
  'hetlora',
  'paca',
  'cla',
  'random-cla',
  'c3la',
  'random-c3la',
  'cola',
  'rac-lora',
  'pica',
  'losa',
];

function method(overrides: Partial<AdapterMethod>): AdapterMethod {
  const base = definePreset({
    name: 'my-lora',
    description: 'test',
    configSchema: lowRankSchema({ r: 2, alpha: 2, roles: ['q'] }),
    targetableRoles: ['q'],
    build: (c) => ({
      ...NEUTRAL,
      roles: c.roles,
      rank: c.r,
      scale: 1,
      shape: { kind: 'window', offset: 'start', placement: 'shared' },
    }),
  });
  return { ...base, ...overrides };
}

describe('adapter registry', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it("registers every built-in preset, with the papers' defaults", () => {
    expect(listAdapterMethods().map((m) => m.name)).toEqual(ALL);
    const defaults = (name: string) =>
      getAdapterMethod(name).configSchema.parse({}) as Record<string, unknown>;
    expect(defaults('cla')).toEqual({ r: 16, alpha: 32, roles: ['q', 'v'] });
    expect(defaults('c3la')).toEqual({ r: 16, alpha: 32, roles: ['q', 'v'] });
    expect(defaults('pica')).toEqual({ r: 16, roles: ['q', 'k', 'v', 'up', 'down'], projection: 'input' });
    expect(defaults('losa')).toMatchObject({ r: 8, alpha: 16, trainA: false, mask: 'base' });
    expect(defaults('lora-plus')).toMatchObject({ lrRatio: 16 });
  });

  it('rejects bad names, duplicates, schemas without defaults and bad roles with clear messages', () => {
    const reg = new AdapterRegistry();
    reg.register(method({}));
    expect(() => reg.register(method({}))).toThrow(/'my-lora' is already registered/);
    expect(() => reg.register(method({ name: 'My_LoRA' }))).toThrow(
      /name "My_LoRA" is invalid: use lower-case letters, digits and '-'/,
    );
    expect(() => reg.register(method({ name: '-x' }))).toThrow(/is invalid/);
    expect(() =>
      reg.register(method({ name: 'no-defaults', configSchema: z.object({ r: z.number() }) })),
    ).toThrow(/must give every field a default[\s\S]*r:/);
    expect(() => reg.register(method({ name: 'no-roles', targetableRoles: [] }))).toThrow(
      /at least one role/,
    );
    expect(() => reg.register(method({ name: 'odd-role', targetableRoles: ['qq' as 'q'] }))).toThrow(
      /unknown targetable role\(s\) qq/,
    );
    expect(reg.list().map((m) => m.name)).toEqual(['my-lora']);
  });

  it('an unknown method lists the valid ones', () => {
    expect(() => getAdapterMethod('lorax')).toThrow(
      /Unknown adapter method 'lorax'\. Valid methods: full, lora, .*losa/,
    );
  });

  it("attach validates the config: unknown role, untargetable role, misspelt key, rank above a layer's dims", () => {
    const model = new FixtureModel({ seed: 1 });
    expect(() => attachAdapter(model, 'cla', { roles: ['q', 'z'] }, { seed: 0 })).toThrow(
      /roles\.1: unknown role "z"; roles are q, k, v, o, gate, up, down, head/,
    );
    expect(() => attachAdapter(model, 'cla', { roles: ['head'] }, { seed: 0 })).toThrow(
      /can adapt only roles q, k, v, o, gate, up, down/,
    );
    expect(() => attachAdapter(model, 'cla', { rnak: 4 }, { seed: 0 })).toThrow(/rnak/);
    expect(() => attachAdapter(model, 'cla', { r: 'eight' }, { seed: 0 })).toThrow(
      /r: rank r must be a number/,
    );
    expect(() => attachAdapter(model, 'cla', {}, { seed: 0 })).toThrow(
      /rank r=16 is larger than layer layers\.0\.attn\.q's input dim 6; use r <= 6/,
    );
    expect(model.linears().every((l) => l.hook === null)).toBe(true);
    model.dispose();
  });

  it('attach names the roles a model lacks, and refuses a second adapter on the same layers', () => {
    const mlp = createModel('mlp-classifier', { seed: 1, inputDim: 8, hiddenDims: [4] });
    expect(() => attachAdapter(mlp, 'lora', { r: 2 }, { seed: 0 })).toThrow(
      /no layer with role 'q', 'v' \(roles present: up, head\)/,
    );
    mlp.dispose();
    const model = new FixtureModel({ seed: 1 });
    const first = attachAdapter(model, 'cla', { r: 2 }, { seed: 0 });
    expect(() => attachAdapter(model, 'lora', { r: 2 }, { seed: 0 })).toThrow(
      /already has an adapter attached/,
    );
    first.detach();
    attachAdapter(model, 'lora', { r: 2 }, { seed: 0 }).detach();
    model.dispose();
  });
});
