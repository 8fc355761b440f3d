/**
 * What a user writes to partition a corpus over clients. Every scheme is seeded and reproducible; every field
 * has a documented default.
 *
 * - `natural`: one client per distinct value of a document attribute (SOTU `president` or `party`, spam
 *   `group`). `maxClients` keeps only the largest groups (the rest are reported as dropped).
 * - `iid`: documents shuffled and dealt round-robin (client sizes differ by at most one).
 * - `dirichlet`: label skew after Hsu et al. 2019: for every label, client shares ~ Dirichlet(alpha). Small
 *   alpha (0.1) gives each client one or two labels; large alpha (100) approaches IID.
 * - `quantity`: IID labels but skewed sizes: shares ~ Dirichlet(alpha) or a power law with `exponent` over a
 *   seeded client order; every client is first given the minimum document count, the rest is shared out.
 *
 * Clients with fewer documents than a train/validation/test split needs (or than `minDocuments`) are dropped
 * with a warning (`onTooSmall: 'drop'`, default) or make the partition fail (`onTooSmall: 'error'`).
 */
import { z } from 'zod';
import { strictObject } from '../config/strict-object.ts';
import { splitFractionsSchema } from './document-split.ts';

const clientsField = z
  .number({ error: 'clients must be a whole number >= 1' })
  .int('clients must be a whole number')
  .min(1, 'clients must be >= 1')
  .max(100_000, 'clients must be <= 100000')
  .default(10);

const common = {
  /** Seed of every random choice (assignment and per-client splits). Default 0. */
  seed: z
    .number({ error: 'seed must be a whole number >= 0' })
    .int('seed must be a whole number')
    .min(0, 'seed must be >= 0')
    .default(0),
  /** Held-out fractions per client. Defaults: validation 0.1, test 0.1. */
  split: splitFractionsSchema.default({ validation: 0.1, test: 0.1 }),
  /** Minimum documents per client (at least what the split needs). Default: what the split needs. */
  minDocuments: z.number().int().min(1, 'minDocuments must be >= 1').optional(),
  /** What to do with a client below the minimum: drop it with a warning (default) or fail. */
  onTooSmall: z.enum(['drop', 'error'], { error: "onTooSmall must be 'drop' or 'error'" }).default('drop'),
};

export const naturalPartitionSchema = strictObject({
  kind: z.literal('natural'),
  /** The document attribute whose values become clients, e.g. `president`, `party`, `group`. */
  by: z.string().min(1, 'natural partitions need the attribute to group by (e.g. president, party, group)'),
  /** Keep only this many of the largest groups. Default: all. */
  maxClients: z.number().int().min(1, 'maxClients must be >= 1').optional(),
  ...common,
});

export const iidPartitionSchema = strictObject({ kind: z.literal('iid'), clients: clientsField, ...common });

export const dirichletPartitionSchema = strictObject({
  kind: z.literal('dirichlet'),
  clients: clientsField,
  /** Concentration; smaller is more skewed. Default 0.5. */
  alpha: z.number({ error: 'alpha must be a number > 0' }).positive('alpha must be > 0').default(0.5),
  /** The attribute used as label. Default: the corpus's label attribute (spam `label`, SOTU `party`). */
  label: z.string().min(1).optional(),
  /** Redraws (continuing the same seeded stream) until every client has the minimum. Default 100. */
  maxAttempts: z.number().int().min(1).default(100),
  ...common,
});

export const quantityPartitionSchema = strictObject({
  kind: z.literal('quantity'),
  clients: clientsField,
  /** How client sizes are drawn. Default `dirichlet`. */
  distribution: z
    .enum(['dirichlet', 'power-law'], { error: "distribution must be 'dirichlet' or 'power-law'" })
    .default('dirichlet'),
  /** Dirichlet concentration over client sizes; smaller is more unequal. Default 0.5. */
  alpha: z.number({ error: 'alpha must be a number > 0' }).positive('alpha must be > 0').default(0.5),
  /** Power-law exponent: the k-th largest client gets a share proportional to k^-exponent. Default 1.2. */
  exponent: z.number().positive('exponent must be > 0').default(1.2),
  ...common,
});

export const partitionOptionsSchema = z.discriminatedUnion('kind', [
  naturalPartitionSchema,
  iidPartitionSchema,
  dirichletPartitionSchema,
  quantityPartitionSchema,
]);

export type PartitionOptionsInput = z.input<typeof partitionOptionsSchema>;
export type PartitionOptions = z.output<typeof partitionOptionsSchema>;
export type PartitionKind = PartitionOptions['kind'];
