/**
 * The coordinator config (`fedpeft serve --config coordinator.yaml`): one zod schema with documented defaults,
 * so `fedpeft serve` with no file runs a loopback PiCa federation on tiny-gpt. Every message names the field
 * and says what to do.
 */
import { z } from 'zod';
import { strictObject } from '../shared/config/strict-object.ts';
import { participationSchema } from './participation/eligibility.ts';
import { methodScheduleFields } from '../shared/adapters/method-schedule.ts';
import { formatZodError } from '../shared/config/format-error.ts';
import { FedpeftError } from '../shared/errors.ts';
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_MAX_TRANSFER_BYTES,
  MAX_CHUNK_BYTES,
  MAX_TRANSFER_BYTES_CEILING,
} from '../shared/wire/limits.ts';
import { strategySchema } from './strategies/strategy-schema.ts';
import { privacyConfigSchema } from './privacy/privacy-config.ts';
import { dashboardConfigSchema } from './dashboard/dashboard-config.ts';
import { limitsConfigSchema } from './limits/limits-config.ts';

const positiveInt = (field: string) => z.int(`${field} must be an integer`).min(1, `${field} must be >= 1`);

export const coordinatorConfigSchema = strictObject({
  run: strictObject({
    /** Run id (1..64 of [A-Za-z0-9._-]); default: derived from the start time. */
    id: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'run.id must be 1..64 characters of letters, digits, ".", "_" or "-"')
      .optional(),
    /** Run seed: client sampling and every derived tensor come from it. */
    seed: z.int('run.seed must be an integer').min(0).max(0xffffffff).default(42),
    /** Training rounds to run. */
    rounds: positiveInt('run.rounds').default(10),
    /** Where checkpoints, the journal and metrics.jsonl go; default runs/<run id>. */
    dir: z.string().min(1).optional(),
  }).prefault({}),
  model: strictObject({
    /** A model of the zoo (test-gpt, tiny-gpt, small-gpt, mlp-classifier). */
    name: z.string().default('tiny-gpt'),
    /** Overrides merged over the named size (e.g. `{ layers: 4 }`). */
    config: z.record(z.string(), z.unknown()).default({}),
    /**
     * The run's base weights, which the coordinator fingerprints and serves to clients (docs/protocol.md):
     * a checkpoint directory (`model.safetensors` + `config.json`), `hf:<dir>` (a Hugging Face model folder,
     * converted into the cache; its config.json then sets model.name / model.config), or `{ pretrained: { corpus, size,
     * minutes?, steps? } }` from the pretrained-base cache (trained on first use). Default: none — every
     * party builds the same base from `run.seed`.
     */
    base: z
      .union(
        [
          z.string().min(1, 'model.base must be a checkpoint directory, hf:<dir> or { pretrained: {...} }'),
          strictObject({
            pretrained: strictObject({
              /** A shipped corpus (e.g. moby-dick, sotu). */
              corpus: z.string().min(1),
              /** A GPT size of the zoo; must be model.name. */
              size: z.string().min(1),
              /** Pretraining budget (default: the cache's 5 minutes when neither is given). */
              minutes: z.number().positive('model.base.pretrained.minutes must be > 0').optional(),
              steps: positiveInt('model.base.pretrained.steps').optional(),
            }),
          }),
        ],
        {
          error:
            'model.base must be a checkpoint directory, hf:<dir> or { pretrained: { corpus, size, minutes?, steps? } }',
        },
      )
      .optional(),
  }).prefault({}),
  method: strictObject({
    /** Adapter method (registry name). */
    name: z.string().default('pica'),
    /** The method's config; validated by the method's own schema. */
    config: z.record(z.string(), z.unknown()).default({}),
    /** Schedule settings (chained methods: roundsPerLink), shared with scenarios: shared/adapters/method-schedule.ts. */
    ...methodScheduleFields,
  }).prefault({}),
  strategy: strategySchema,
  /** Differential privacy and secure aggregation wrappers around the strategy (docs/privacy.md). Default: off. */
  privacy: privacyConfigSchema,
  /** Which connected clients may be sampled (server/participation). Default: every client. */
  participation: participationSchema,
  round: strictObject({
    /** Time a sampled client has to commit its update, from receipt of its instruction. */
    deadlineMs: positiveInt('round.deadlineMs').default(120_000),
    /** Close the round early once this fraction of the sampled clients committed (1 = all of them). */
    quorum: z
      .number()
      .gt(0, 'round.quorum must be in (0, 1]')
      .max(1, 'round.quorum must be in (0, 1]')
      .default(1),
    /** Fewest accepted updates for a round to change the global state (else it closes without aggregating). */
    minUpdates: positiveInt('round.minUpdates').default(1),
    /** A sampled client disconnected for this long is dropped from the round (it may rejoin the next). */
    dropAfterMs: positiveInt('round.dropAfterMs').default(15_000),
    localSteps: positiveInt('round.localSteps').default(20),
    batchSize: positiveInt('round.batchSize').default(4),
    learningRate: z.number().positive('round.learningRate must be > 0').default(5e-3),
    /** Extra method hyper-parameters sent with every instruction. */
    hyperparams: z.record(z.string(), z.unknown()).default({}),
    /** Ask clients to also evaluate their personal adapter. */
    evaluatePersonal: z.boolean().default(true),
  }).prefault({}),
  transport: strictObject({
    host: z.string().default('127.0.0.1'),
    /** 0 picks a free port (printed at start). */
    port: z.int().min(0).max(65_535, 'transport.port must be in 0..65535').default(8080),
    /** TLS: paths to a PEM certificate and key. Without it the server speaks plain HTTP/WS. */
    tls: strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    chunkBytes: positiveInt('transport.chunkBytes').max(MAX_CHUNK_BYTES).default(DEFAULT_CHUNK_BYTES),
    maxTransferBytes: positiveInt('transport.maxTransferBytes')
      .max(MAX_TRANSFER_BYTES_CEILING)
      .default(DEFAULT_MAX_TRANSFER_BYTES),
    maxInFlightChunks: positiveInt('transport.maxInFlightChunks').max(256).default(8),
    heartbeatIntervalMs: positiveInt('transport.heartbeatIntervalMs').default(5_000),
  }).prefault({}),
  auth: strictObject({
    /** Join tokens (each a client credential). With neither this nor tokenFile, one is generated and printed. */
    tokens: z.array(z.string().min(16, 'auth.tokens entries must have at least 16 characters')).default([]),
    /** A file of join tokens, one per line (`name:token` or `token`), reloaded when it changes. */
    tokenFile: z.string().optional(),
    /** Bearer token for GET /status from outside loopback and for admin calls; generated when absent. */
    adminToken: z.string().min(16).optional(),
  }).prefault({}),
  signatures: strictObject({
    /**
     * Reference for derived-state signatures: the coordinator's own, computed from its copy of the base it
     * serves (default); or, as an explicit opt-in for a coordinator that cannot hold the base, the first
     * accepted client's — whoever joins first then decides who else is admitted (docs/protocol.md).
     */
    reference: z.enum(['first-client', 'coordinator']).default('coordinator'),
    /** Largest max-abs difference accepted (relative to the reference's max-abs value). */
    tolerance: z.number().nonnegative().default(1e-3),
  }).prefault({}),
  checkpoint: strictObject({
    /** Journal every accepted update durably before its receipt (survives a crash mid-round). */
    journal: z.boolean().default(true),
    /** Completed-round checkpoints kept on disk. */
    keep: positiveInt('checkpoint.keep').default(2),
  }).prefault({}),
  /** The live dashboard at `/` (server/dashboard/dashboard-config.ts). Default: on, loopback only. */
  dashboard: dashboardConfigSchema,
  /** What one client or join token may cost, and how far a round may move the global (server/limits). */
  limits: limitsConfigSchema,
});

export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema>;
export type CoordinatorConfigInput = z.input<typeof coordinatorConfigSchema>;

export function parseCoordinatorConfig(input: unknown, source = 'coordinator config'): CoordinatorConfig {
  const parsed = coordinatorConfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new FedpeftError('INVALID_CONFIG', `${source} is invalid:\n${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}
