/**
 * One base for every preset: each shipped scenario that fine-tunes a pretrained base asks the cache for the
 * same key as quickstart (and as a default `fedpeft serve`), so their numbers are comparable and a fresh clone
 * pretrains one base, not one per preset.
 */
import { describe, expect, it } from 'vitest';
import { baseCacheKey, baseConfig } from '../shared/model-cache/base-cache.node.ts';
import { SHARED_BASE } from '../shared/model-cache/shared-base.ts';
import type { GptSizeName } from '../shared/model/zoo.ts';
import { listPresets, loadScenario } from './load-scenario.ts';

function keyOf(preset: string): string | null {
  const { scenario } = loadScenario(preset, []);
  if (scenario.base.source !== 'pretrained') return null;
  const { corpus, seed, minutes, steps } = scenario.base;
  return baseCacheKey(
    baseConfig({
      size: scenario.model.name as GptSizeName,
      corpus,
      seed,
      minutes,
      ...(steps !== undefined ? { steps } : {}),
    }),
  );
}

describe('the shared base', () => {
  it('is the base of every preset that pretrains one', () => {
    const shared = baseCacheKey(baseConfig({ ...SHARED_BASE }));
    const keys = listPresets()
      .map((p) => [p, keyOf(p)] as const)
      .filter(([, k]) => k !== null);
    expect(keys.length).toBeGreaterThanOrEqual(3);
    for (const [preset, key] of keys) expect({ preset, key }).toEqual({ preset, key: shared });
  });
});
