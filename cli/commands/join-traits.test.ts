import { describe, expect, it } from 'vitest';
import { parseTraitFlags } from './join-traits.ts';

describe('fedpeft join trait flags', () => {
  it('turns the flags into traits, leaving out what was not given', () => {
    expect(parseTraitFlags({})).toEqual({});
    expect(
      parseTraitFlags({ deviceClass: 'phone', battery: '0.8', charging: true, unmetered: true }),
    ).toEqual({ deviceClass: 'phone', batteryLevel: 0.8, charging: true, unmeteredNetwork: true });
  });

  it('refuses values a person can fix, saying how', () => {
    expect(() => parseTraitFlags({ battery: '80' })).toThrow(/--battery must be in \[0, 1\]/);
    expect(() => parseTraitFlags({ battery: 'full' })).toThrow(/--battery must be a number/);
    expect(() => parseTraitFlags({ deviceClass: 'my phone' })).toThrow(/--device-class may use/);
  });
});
