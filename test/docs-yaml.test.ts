/**
 * Every YAML snippet in docs/ is a config a person will copy: each must still parse, as a coordinator config
 * or as a scenario, now that every section rejects unknown keys.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { coordinatorConfigSchema } from '../server/config.ts';
import { scenarioSchema } from '../simulations/scenario.ts';

const DOCS = join(import.meta.dirname, '..', 'docs');

function yamlBlocks(): [string, string][] {
  const blocks: [string, string][] = [];
  for (const file of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(DOCS, file), 'utf8');
    for (const [i, m] of [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].entries())
      blocks.push([`${file} block ${i + 1}`, m[1]!]);
  }
  return blocks;
}

describe('YAML snippets in docs/', () => {
  const blocks = yamlBlocks();
  it('finds the snippets', () => expect(blocks.length).toBeGreaterThanOrEqual(2));
  it.each(blocks)('%s parses as a coordinator config or a scenario', (_name, text) => {
    const value = parse(text) as unknown;
    const asCoordinator = coordinatorConfigSchema.safeParse(value);
    const asScenario = scenarioSchema.safeParse({ base: { source: 'random' }, ...(value as object) });
    expect(
      asCoordinator.success || asScenario.success,
      JSON.stringify([asCoordinator.error?.issues, asScenario.error?.issues]),
    ).toBe(true);
  });
});
