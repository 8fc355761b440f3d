/**
 * Builds a strategy from its config (validated here, so a bad config is a one-line `INVALID_CONFIG` error),
 * and, when the method's rules are known, checks the combination at configuration time — e.g. FedAdam with
 * FLoRA's stacked factors is refused before any client connects.
 */
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { formatZodError } from '../../shared/config/format-error.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { ClientSampler, type EligibilityPredicate } from './client-sampler.ts';
import { CoordinateMedian } from './coordinate-median.ts';
import { FedAdam } from './fedadam.ts';
import { FedAvg } from './fedavg.ts';
import { FedAvgM } from './fedavgm.ts';
import { FedProx } from './fedprox.ts';
import { FedYogi } from './fedyogi.ts';
import { NormBounding } from './norm-bounding.ts';
import type { Strategy } from './strategy.ts';
import {
  type StrategyConfig,
  type StrategyConfigInput,
  type StrategyName,
  strategySchema,
} from './strategy-schema.ts';
import { TrimmedMean } from './trimmed-mean.ts';

export interface StrategyEnvironment {
  /** The run seed (client sampling is derived from it and the round number). */
  seed: number;
  eligibility?: EligibilityPredicate;
  /** The method's rule per shared tensor; when given, the combination is checked now. */
  rules?: ReadonlyMap<string, AggregationRule>;
}

type Factory<N extends StrategyName> = (
  config: Extract<StrategyConfig, { name: N }>,
  sampler: ClientSampler,
) => Strategy;

const factories: { [N in StrategyName]: Factory<N> } = {
  fedavg: (_c, s) => new FedAvg(s),
  fedavgm: (c, s) => new FedAvgM(s, c),
  fedadam: (c, s) => new FedAdam(s, c),
  fedyogi: (c, s) => new FedYogi(s, c),
  fedprox: (c, s) => new FedProx(s, c.proximalMu),
  'trimmed-mean': (c, s) => new TrimmedMean(s, c.trimFraction, c.maxBufferedBytes),
  'coordinate-median': (c, s) => new CoordinateMedian(s, c.maxBufferedBytes),
  'norm-bounding': (c, s) => new NormBounding(s, c.maxNorm),
};

export function parseStrategyConfig(input: unknown): StrategyConfig {
  const parsed = strategySchema.safeParse(input);
  if (!parsed.success) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      `invalid strategy config:\n${formatZodError(parsed.error, 'strategy')}`,
    );
  }
  return parsed.data;
}

export function createStrategy(
  input: StrategyConfigInput | undefined,
  environment: StrategyEnvironment,
): Strategy {
  const config = parseStrategyConfig(input);
  const sampler = new ClientSampler(config.sampling, environment.seed, environment.eligibility);
  const strategy = (factories[config.name] as Factory<StrategyName>)(config, sampler);
  if (environment.rules) strategy.checkRules(environment.rules);
  return strategy;
}
