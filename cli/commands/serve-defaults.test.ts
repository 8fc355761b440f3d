import { describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { SHARED_BASE } from '../../shared/model-cache/shared-base.ts';
import { serveBaseSpec } from './serve-defaults.ts';

describe('the base of a fedpeft serve', () => {
  it('is the shared pretrained base when nothing names one', () => {
    expect(serveBaseSpec(parseCoordinatorConfig({}, 'test'), false)).toEqual({
      pretrained: { corpus: SHARED_BASE.corpus, size: SHARED_BASE.size, minutes: SHARED_BASE.minutes },
    });
  });
  it('is the configured one when the config names one', () => {
    const config = parseCoordinatorConfig({ model: { base: '/some/checkpoint' } }, 'test');
    expect(serveBaseSpec(config, false)).toBe('/some/checkpoint');
  });
  it('is the seeded initialisation with --seeded-base or for a model the shared base does not fit', () => {
    expect(serveBaseSpec(parseCoordinatorConfig({}, 'test'), true)).toBeUndefined();
    expect(
      serveBaseSpec(parseCoordinatorConfig({ model: { name: 'test-gpt' } }, 'test'), false),
    ).toBeUndefined();
    const resized = parseCoordinatorConfig({ model: { config: { layers: 4 } } }, 'test');
    expect(serveBaseSpec(resized, false)).toBeUndefined();
  });
});
