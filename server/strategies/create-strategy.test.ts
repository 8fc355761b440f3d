import { describe, expect, it } from 'vitest';
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { createStrategy, parseStrategyConfig } from './create-strategy.ts';
import { strategySchema } from './strategy-schema.ts';

describe('strategy config', () => {
  it("defaults to FedAvg over every client and fills each strategy's documented defaults", () => {
    expect(strategySchema.parse(undefined)).toEqual({
      name: 'fedavg',
      sampling: { fraction: 1, minClients: 1 },
    });
    expect(parseStrategyConfig({ name: 'fedyogi' })).toMatchObject({
      serverLearningRate: 0.01,
      beta1: 0.9,
      beta2: 0.99,
      tau: 1e-3,
    });
    expect(parseStrategyConfig({ name: 'fedavgm' })).toMatchObject({
      serverLearningRate: 1,
      momentum: 0.9,
      nesterov: false,
    });
    expect(parseStrategyConfig({ name: 'trimmed-mean' })).toMatchObject({
      trimFraction: 0.1,
      maxBufferedBytes: 256 * 1024 * 1024,
    });
    expect(parseStrategyConfig({ name: 'fedprox', sampling: { fraction: 0.5 } })).toMatchObject({
      proximalMu: 0.01,
      sampling: { fraction: 0.5, minClients: 1 },
    });
  });

  it('builds every strategy by name', () => {
    const names = [
      'fedavg',
      'fedavgm',
      'fedadam',
      'fedyogi',
      'fedprox',
      'trimmed-mean',
      'coordinate-median',
    ] as const;
    for (const name of names) expect(createStrategy({ name }, { seed: 1 }).name).toBe(name);
    expect(createStrategy({ name: 'norm-bounding', maxNorm: 1 }, { seed: 1 }).name).toBe('norm-bounding');
  });

  it('explains a bad config in one actionable error', () => {
    const messageOf = (input: unknown) => {
      try {
        parseStrategyConfig(input);
      } catch (err) {
        expect(err).toBeInstanceOf(FedpeftError);
        expect((err as FedpeftError).code).toBe('INVALID_CONFIG');
        return (err as Error).message;
      }
      return 'parsed';
    };
    expect(messageOf({ name: 'fedsgd' })).toMatch(/strategy.name must be one of fedavg, fedavgm/);
    expect(messageOf({ name: 'norm-bounding' })).toMatch(/maxNorm is required/);
    expect(messageOf({ name: 'trimmed-mean', trimFraction: 0.5 })).toMatch(/trimFraction must be < 0.5/);
    expect(messageOf({ name: 'fedadam', tau: 0 })).toMatch(/tau must be > 0/);
  });

  it("checks the strategy against the method's rules at configuration time", () => {
    const flora = new Map<string, AggregationRule>([
      ['A', { kind: 'stack', axis: 1, scaleByWeight: true }],
      ['B', { kind: 'stack', axis: 0, scaleByWeight: false }],
    ]);
    expect(() => createStrategy({ name: 'fedavg' }, { seed: 1, rules: flora })).not.toThrow();
    for (const name of ['fedavgm', 'fedyogi', 'trimmed-mean', 'coordinate-median'] as const) {
      expect(() => createStrategy({ name }, { seed: 1, rules: flora })).toThrow(
        /cannot aggregate tensor "A"/,
      );
    }
    const fedsa = new Map<string, AggregationRule>([['B', { kind: 'local-only' }]]);
    expect(() => createStrategy(undefined, { seed: 1, rules: fedsa })).toThrow(/local-only/);
  });
});
