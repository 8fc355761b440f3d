import { describe, expect, it } from 'vitest';
import { dpConfigSchema } from './dp-config.ts';
import { formatZodError } from '../config/format-error.ts';

describe('dpConfigSchema', () => {
  it('fills documented defaults', () => {
    const c = dpConfigSchema.parse({ noiseMultiplier: 1, clipNorm: 0.5, adaptiveClipping: {} });
    expect(c.placement).toBe('central');
    expect(c.noiseSource).toBe('crypto');
    expect(c.adaptiveClipping).toEqual({ targetQuantile: 0.5, learningRate: 0.2 });
  });

  it('explains what is wrong, field by field', () => {
    const r = dpConfigSchema.safeParse({
      noiseMultiplier: 0,
      clipNorm: 1,
      budget: { epsilon: 3, delta: 2 },
      typo: 1,
    });
    expect(r.success).toBe(false);
    const text = r.success ? '' : formatZodError(r.error);
    expect(text).toMatch(/noiseMultiplier: noiseMultiplier must be > 0/);
    expect(text).toMatch(/budget\.delta: budget\.delta must be in \(0, 1\)/);
    expect(text).toMatch(/typo/);
  });
});
