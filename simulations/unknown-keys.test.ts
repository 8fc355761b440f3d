/**
 * Every section of the coordinator config and of a scenario rejects a mistyped key, on its own line, at the
 * key's full path, with the allowed key it most likely meant.
 */
import { describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from '../server/config.ts';
import { validateScenario } from './load-scenario.ts';

/** `{ a: { b: 1 } }` from `a.b` = 1. */
function nest(path: string, value: unknown): Record<string, unknown> {
  return path
    .split('.')
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev && typeof prev === 'object' && v && typeof v === 'object' && !Array.isArray(v)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

function errorText(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

// [typo path, value, suggested key (null: nothing close), base object the typo sits in]
type Row = [string, unknown, string | null, Record<string, unknown>?];

const coordinatorRows: Row[] = [
  ['round.deadlinems', 1000, 'deadlineMs'],
  ['round.qourum', 0.5, 'quorum'],
  ['round.localstep', 3, 'localSteps'],
  ['checkpoint.kep', 3, 'keep'],
  ['checkpoint.jounral', false, 'journal'],
  ['run.seeed', 1, 'seed'],
  ['run.round', 3, 'rounds'],
  ['strategy.sampling.fracton', 0.5, 'fraction', { strategy: { name: 'fedavg' } }],
  ['strategy.sampling.minClient', 2, 'minClients', { strategy: { name: 'fedavgm' } }],
  ['strategy.serverLearningRat', 0.1, 'serverLearningRate', { strategy: { name: 'fedadam' } }],
  ['strategy.mu', 0.1, null, { strategy: { name: 'fedprox' } }],
  ['auth.token', ['x'.repeat(16)], 'tokens'],
  ['auth.adminTokn', 'x'.repeat(16), 'adminToken'],
  ['transport.prot', 9000, 'port'],
  ['transport.tls.certificate', 'a.pem', null, { transport: { tls: { cert: 'c', key: 'k' } } }],
  ['model.nmae', 'tiny-gpt', 'name'],
  ['method.roundsPerLnk', 3, 'roundsPerLink'],
  ['signatures.tolerence', 0.1, 'tolerance'],
  ['privacy.dp.clipnorm', 1, 'clipNorm', { privacy: { dp: {} } }],
  ['privacy.secureAggregation.treshold', 3, 'threshold', { privacy: { secureAggregation: {} } }],
  ['dashboard.enabeld', false, 'enabled'],
];

const scenarioRows: Row[] = [
  ['sampling', { fraction: 0.5 }, null],
  ['training.round', 3, 'rounds'],
  ['training.learningrate', 0.1, 'learningRate'],
  ['training.deadlineSecs', 3, 'deadlineSeconds'],
  ['evaluation.evry', 2, 'every'],
  ['output.runid', 'x', 'runId'],
  ['base.minute', 1, 'minutes'],
  ['clients.cuont', 2, 'count'],
  ['model.overides', {}, 'overrides'],
  ['data.datset', 'sotu', 'dataset'],
  ['data.partition.seeed', 1, 'seed', { data: { partition: { kind: 'iid' } } }],
  ['strategy.sampling.fracton', 0.5, 'fraction', { strategy: { name: 'fedavg' } }],
  ['devices.maxsparsity', 0.5, 'maxSparsity'],
  ['devices.classes.0.sped', 2, 'speed', { devices: { classes: [{ name: 'phone' }] } }],
  ['privacy.dp.noiseMultipler', 1, 'noiseMultiplier', { privacy: { dp: {} } }],
  ['method.config.rols', ['q'], 'roles'],
  ['compare.method', ['pica'], 'methods'],
];

function withTypo(base: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  if (!path.includes('.0.')) return deepMerge(base, nest(path, value));
  // Array element: put the key into the base's first element.
  const [arrayPath, key] = path.split('.0.') as [string, string];
  const copy = structuredClone(base);
  let at: Record<string, unknown> = copy;
  for (const step of arrayPath.split('.')) at = at[step] as Record<string, unknown>;
  (at as unknown as Record<string, unknown>[])[0]![key] = value;
  return copy;
}

function expectRejected(text: string, path: string, suggestion: string | null): void {
  const line = text.split('\n').find((l) => l.includes(`${path}: `));
  expect(line, `no line for ${path} in:\n${text}`).toBeDefined();
  expect(line).toContain('unknown key');
  if (suggestion) expect(line).toContain(`did you mean \`${suggestion}\`?`);
  else expect(line).not.toContain('did you mean');
}

describe('unknown keys in the coordinator config', () => {
  it.each(coordinatorRows)('%s is rejected', (path, value, suggestion, base = {}) => {
    const text = errorText(() => parseCoordinatorConfig(withTypo(base, path, value)));
    expectRejected(text, path, suggestion);
  });
});

describe('unknown keys in a scenario', () => {
  it.each(scenarioRows)('%s is rejected', (path, value, suggestion, base = {}) => {
    const text = errorText(() =>
      validateScenario(withTypo({ base: { source: 'random' }, ...base }, path, value), 'x.yaml'),
    );
    expectRejected(text, path, suggestion);
  });

  it('puts two typos of one section on two lines', () => {
    const text = errorText(() => validateScenario({ training: { round: 3, localstep: 2 } }, 'x.yaml'));
    const lines = text.split('\n').filter((l) => l.includes('unknown key'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/x\.yaml: training\.round: unknown key — did you mean `rounds`\?/);
    expect(lines[1]).toMatch(/x\.yaml: training\.localstep: unknown key — did you mean `localSteps`\?/);
  });
});
