import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listAdapterMethods } from '../shared/adapters/registry.ts';
import { listPresets, loadScenario, validateScenario } from './load-scenario.ts';
import { methodConfigFor, scenarioForMethod, scenarioSchema } from './scenario.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedpeft-scenario-'));

function writeScenario(name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

/** The `path: message` lines of a failed load, without the file prefix. */
function errorLines(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    return (err as Error).message
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
  }
  throw new Error('expected the scenario to be rejected');
}

describe('scenario presets', () => {
  it('ships the four presets and every one validates', () => {
    const presets = listPresets();
    expect(presets).toEqual(
      expect.arrayContaining([
        'quickstart',
        'spam-personalization',
        'heterogeneous-devices',
        'compare-methods',
      ]),
    );
    for (const name of presets) {
      const { scenario, preset, source } = loadScenario(name);
      expect(preset).toBe(name);
      expect(source.endsWith(`${name}.yaml`)).toBe(true);
      expect(scenario.name).toBe(name);
      expect(scenario.description.length).toBeGreaterThan(20);
    }
  });

  it('quickstart is SOTU by president with PiCa over sockets', () => {
    const { scenario } = loadScenario('quickstart');
    expect(scenario.data.dataset).toBe('sotu');
    expect(scenario.data.partition).toMatchObject({ kind: 'natural', by: 'president' });
    expect(scenario.method.name).toBe('pica');
    expect(scenario.transport).toBe('sockets');
    expect(scenario.base.source).toBe('pretrained');
  });

  it('compare-methods lists the six methods the issue names, each a registered method', () => {
    const { scenario } = loadScenario('compare-methods');
    expect(scenario.compare.methods).toEqual(['pica', 'lora', 'cla', 'c3la', 'ffa-lora', 'losa']);
    const known = listAdapterMethods().map((m) => m.name);
    for (const m of scenario.compare.methods) expect(known).toContain(m);
    expect(scenarioForMethod(scenario, 'lora').method).toEqual({
      name: 'lora',
      config: { r: 16, alpha: 32 },
      roundsPerLink: 2,
    });
    expect(scenarioForMethod(scenario, 'lora').compare.methods).toEqual([]);
  });

  it('heterogeneous-devices has nested ranks per class and derives LoSA sparsity from memory', () => {
    const { scenario } = loadScenario('heterogeneous-devices');
    expect(scenario.devices.classes.map((c) => c.rank)).toEqual([16, 8, 4, 2]);
    expect(scenario.devices.derive).toEqual(['sparsity']);
    expect(scenario.compare.methods).toEqual(['pica', 'losa']);
  });
});

describe('scenario defaults', () => {
  it('an empty scenario is a valid PiCa run on SOTU with documented defaults', () => {
    const s = scenarioSchema.parse({});
    expect(s.method).toEqual({ name: 'pica', config: {}, roundsPerLink: 5 });
    expect(s.training).toEqual({ rounds: 5, localSteps: 20, batchSize: 4, learningRate: 5e-3 });
    expect(s.strategy.name).toBe('fedavg');
    expect(s.devices.classes).toHaveLength(1);
    expect(s.privacy).toEqual({});
    expect(s.transport).toBe('sockets');
    expect(methodConfigFor(s, 'pica')).toEqual({});
  });
});

describe('loadScenario errors', () => {
  it('reports every bad field as file: path: message', () => {
    const file = writeScenario(
      'bad.yaml',
      [
        'training:',
        '  rounds: 0',
        '  learningRate: fast',
        'method:',
        '  name: pcia',
        'devices:',
        '  classes:',
        '    - name: phone',
        '      availability: 1.5',
        'bogus: 1',
      ].join('\n'),
    );
    const lines = errorLines(() => loadScenario(file));
    expect(lines.every((l) => l.startsWith(`${file}: `))).toBe(true);
    const body = lines.map((l) => l.slice(file.length + 2));
    expect(body).toContain('training.rounds: training.rounds must be >= 1');
    expect(body).toContain('training.learningRate: training.learningRate must be a number > 0');
    expect(body).toContain('devices.classes.0.availability: availability must be <= 1');
    expect(body.some((l) => l.startsWith('bogus: unknown key (allowed here: name, description'))).toBe(true);
    const method = body.find((l) => l.startsWith('method.name: '));
    expect(method).toMatch(/unknown adapter method 'pcia'; valid methods: .*pica/);
  });

  it('validates the method config with the method schema', () => {
    const lines = errorLines(() => loadScenario('quickstart', ['method.config.r=0', 'method.config.rank=4']));
    expect(lines.some((l) => l.endsWith('method.config.r: pica: rank r must be at least 1'))).toBe(true);
    expect(lines.some((l) => /method\.config\.rank: pica: unknown key/.test(l))).toBe(true);
  });

  it('checks comparison methods and their configs', () => {
    const lines = errorLines(() =>
      loadScenario('quickstart', [
        'compare.methods=[lora, nope]',
        'compare.configs.lora.r=-1',
        'compare.configs.cla.r=4',
        'compare.configs.bogus.r=4',
      ]),
    );
    expect(lines.some((l) => /compare\.methods\.1: unknown adapter method 'nope'/.test(l))).toBe(true);
    expect(lines.some((l) => l.endsWith('compare.configs.lora.r: lora: rank r must be at least 1'))).toBe(
      true,
    );
    expect(lines.some((l) => l.endsWith('compare.configs.cla.r: cla: rank r must be at least 1'))).toBe(
      false,
    );
    expect(lines.some((l) => /compare\.configs\.bogus: unknown adapter method 'bogus'/.test(l))).toBe(true);
  });

  it('rejects cross-field mistakes with the field to fix', () => {
    const lines = errorLines(() =>
      loadScenario('spam-personalization', ['base.source=pretrained', 'privacy.dp.placement=distributed']),
    );
    expect(lines.some((l) => /base\.source: only GPT models are pretrained/.test(l))).toBe(true);
    expect(lines.some((l) => /privacy\.dp\.placement: distributed noise only protects/.test(l))).toBe(true);
  });

  it('reports YAML syntax errors with line and column', () => {
    const file = writeScenario('syntax.yaml', 'name: x\ntraining:\n  rounds: [1, 2\n');
    const lines = errorLines(() => loadScenario(file));
    expect(lines[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
  });

  it('names the presets when a preset is unknown', () => {
    expect(() => loadScenario('quickstrat')).toThrow(
      /no preset or file named 'quickstrat'; presets: .*quickstart/,
    );
  });
});

describe('overrides', () => {
  it('apply typed values before validation', () => {
    const { scenario } = loadScenario('quickstart', [
      'training.rounds=2',
      'method.name=lora',
      'method.config={r: 4}',
      'transport=in-process',
      'devices.classes.0.speed=0.5',
    ]);
    expect(scenario.training.rounds).toBe(2);
    expect(scenario.method).toEqual({ name: 'lora', config: { r: 4 }, roundsPerLink: 5 });
    expect(scenario.transport).toBe('in-process');
    expect(scenario.devices.classes[0]?.speed).toBe(0.5);
  });

  it('validateScenario accepts an object and labels errors with the given source', () => {
    expect(() => validateScenario({ seed: -1 }, 'inline')).toThrow(/inline: seed: seed must be >= 0/);
  });
});
