import { describe, expect, it } from 'vitest';
import { FedAvg } from '../strategies/fedavg.ts';
import { everyClientSampler } from '../strategies/test-fixtures.ts';
import type { DifferentiallyPrivate } from './dp-strategy.ts';
import { parsePrivacyConfig, withPrivacy } from './privacy-config.ts';
import { SecureAggregation } from './secure-aggregation.ts';

const env = { runId: 'run', seed: 3 };
const base = () => new FedAvg(everyClientSampler());

describe('privacy config', () => {
  it('is off by default and stacks DP inside secure aggregation', () => {
    const plain = base();
    expect(withPrivacy(plain, undefined, env)).toBe(plain);
    expect(withPrivacy(base(), { dp: { noiseMultiplier: 1.2 } }, env).name).toBe('dp(fedavg)');
    const both = withPrivacy(
      base(),
      { dp: { placement: 'distributed' }, secureAggregation: { threshold: 3 } },
      env,
    );
    expect(both).toBeInstanceOf(SecureAggregation);
    expect(both.name).toBe('secagg(dp(fedavg))');
    // The DP wrapper plans the distributed noise for the configured threshold: std zC/sqrt(3).
    const instr = both.configureRound({
      round: 1,
      clients: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }],
    });
    expect(instr[0]?.clientNoise?.noiseStd).toBeCloseTo(1 / Math.sqrt(3), 12);
    const dp = withPrivacy(
      base(),
      { dp: { epsilonBudget: 2, targetDelta: 1e-6 } },
      env,
    ) as DifferentiallyPrivate;
    expect(dp.config.budget).toEqual({ epsilon: 2, delta: 1e-6 });
  });

  it('rejects combinations that protect nothing, with the field and the fix in the message', () => {
    expect(() => parsePrivacyConfig({ dp: { placement: 'distributed' } })).toThrow(
      /privacy.secureAggregation/,
    );
    expect(() => parsePrivacyConfig({ dp: {}, secureAggregation: {} })).toThrow(/placement distributed/);
    expect(() => parsePrivacyConfig({ dp: { clipNorm: 0 } })).toThrow(/clipNorm must be > 0/);
    expect(() => parsePrivacyConfig({ secureAggregation: { threshold: 1 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG' }),
    );
  });
});
