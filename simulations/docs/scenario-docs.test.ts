import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectedScenarioDocs, SCENARIO_DOCS_PATH } from './generate-scenario-docs.ts';
import { renderScenarioDocs } from './scenario-docs.ts';

describe('docs/scenarios.md', () => {
  it('is in sync with the scenario schema (run `npm run docs:scenarios` after changing it)', async () => {
    expect(readFileSync(SCENARIO_DOCS_PATH, 'utf8')).toBe(await expectedScenarioDocs());
  });

  it('documents every field with its default, including nested and union blocks', () => {
    const md = renderScenarioDocs();
    expect(md).toContain('| `training.rounds` | integer (>= 1) | `5` | Federated rounds. |');
    expect(md).toContain('| `devices.classes[].speed` | number (> 0) | `1` |');
    expect(md).toContain('## data.partition (kind: dirichlet)');
    expect(md).toContain('## strategy (name: fedadam)');
    expect(md).toContain('## privacy.dp');
    expect(md).toMatch(/\| `privacy\.dp\.epsilonBudget` \| number \(> 0\) \| — \|/);
    // No field of the scenario's own blocks may lack a description.
    const own = md
      .split('\n')
      .filter((l) =>
        /^\| `(name|seed|training|devices|privacy|evaluation|output|base|model|method|compare|clients)/.test(
          l,
        ),
      );
    for (const row of own) expect(row.split('|')[4]?.trim(), row).not.toBe('');
  });
});
