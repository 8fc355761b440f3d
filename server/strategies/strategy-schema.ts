/**
 * The `strategy` section of the coordinator config: one object discriminated on `name`, each with documented
 * defaults. `strategySchema.parse({})` gives FedAvg over every client.
 */
import { z } from 'zod';
import { coordinateMedianSchema } from './coordinate-median.ts';
import { fedAdamSchema } from './fedadam.ts';
import { fedAvgSchema } from './fedavg.ts';
import { fedAvgMSchema } from './fedavgm.ts';
import { fedProxSchema } from './fedprox.ts';
import { fedYogiSchema } from './fedyogi.ts';
import { normBoundingSchema } from './norm-bounding.ts';
import { trimmedMeanSchema } from './trimmed-mean.ts';

export const strategySchema = z
  .discriminatedUnion(
    'name',
    [
      fedAvgSchema,
      fedAvgMSchema,
      fedAdamSchema,
      fedYogiSchema,
      fedProxSchema,
      trimmedMeanSchema,
      coordinateMedianSchema,
      normBoundingSchema,
    ],
    {
      error: (issue) =>
        issue.code === 'invalid_union'
          ? 'strategy.name must be one of fedavg, fedavgm, fedadam, fedyogi, fedprox, trimmed-mean, coordinate-median, norm-bounding'
          : undefined,
    },
  )
  .prefault({ name: 'fedavg' });

export type StrategyConfig = z.output<typeof strategySchema>;
export type StrategyConfigInput = z.input<typeof strategySchema>;
export type StrategyName = StrategyConfig['name'];
