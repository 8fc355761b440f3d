/**
 * A scenario is one reproducible simulated federation, written as YAML: which data and how it is split over
 * clients, which base model and adapter method, how rounds are run (strategy, local training, deadline), what
 * the device fleet looks like, privacy, evaluation, transport and where the run folder goes. Every field has a
 * default and a `.describe()` text; `docs/scenarios.md` is generated from this schema (`npm run
 * docs:scenarios`) and a test fails when it is out of date.
 *
 * Methods are checked against the adapter registry at load time, so `method.name: pcia` fails with the list of
 * valid methods, and `method.config` is validated by that method's own schema before any model is built.
 */
import { z } from 'zod';
import { strictObject } from '../shared/config/strict-object.ts';
import { methodScheduleFields } from '../shared/adapters/method-schedule.ts';
import { unknownKeyMessage } from '../shared/config/did-you-mean.ts';
import { partitionOptionsSchema } from '../shared/data/partition-options.ts';
import { CORPUS_NAMES } from '../shared/data/text-document.ts';
import { GPT_SIZES, MODEL_NAMES } from '../shared/model/zoo.ts';
import { getAdapterMethod, listAdapterMethods } from '../shared/adapters/registry.ts';
import { strategySchema } from '../server/strategies/strategy-schema.ts';
import { devicesSchema } from './device-profile.ts';
import { privacySettingsSchema } from './privacy-settings.ts';
import { SHARED_BASE } from '../shared/model-cache/shared-base.ts';

const NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
const MODEL_ENUM = MODEL_NAMES as [string, ...string[]];

const methodConfigSchema = z
  .record(z.string(), z.unknown())
  .default({})
  .describe(
    "The method's own config (rank r, roles, ...), validated by that method's schema. Default: its defaults.",
  );

export const TRANSPORTS = ['sockets', 'in-process'] as const;
export const BASE_SOURCES = ['pretrained', 'random', 'hf'] as const;
export const GLOBAL_EVAL_SETS = ['all', 'participants'] as const;

export const scenarioSchema = strictObject({
  name: z
    .string()
    .regex(NAME_PATTERN, 'name uses lower-case letters, digits and "-" (it names the run folder)')
    .default('scenario')
    .describe('Short name of the scenario; prefixes the run id.'),
  description: z.string().default('').describe('One or two sentences shown at the top of the report.'),
  seed: z
    .number({ error: 'seed must be a whole number >= 0' })
    .int('seed must be a whole number')
    .min(0, 'seed must be >= 0')
    .default(0)
    .describe(
      'Run seed: device assignment, availability and dropout draws, client sampling, adapter init and derived ' +
        'tensors. (The data split has its own data.partition.seed so it can stay fixed across run seeds.)',
    ),
  data: strictObject({
    dataset: z
      .enum(CORPUS_NAMES, { error: `data.dataset must be one of: ${CORPUS_NAMES.join(', ')}` })
      .default('sotu')
      .describe('Shipped corpus the clients hold: sotu (speeches), spam (emails) or moby-dick.'),
    partition: partitionOptionsSchema
      .prefault({ kind: 'natural', by: 'president' })
      .describe(
        'How documents are split over clients (shared/data/partition-options.ts): natural (by an attribute), ' +
          'iid, dirichlet (label skew, alpha) or quantity (size skew). Default: natural by president.',
      ),
  })
    .prefault({})
    .describe('The data the clients hold.'),
  clients: strictObject({
    count: z
      .number({ error: 'clients.count must be a whole number >= 1' })
      .int('clients.count must be a whole number')
      .min(1, 'clients.count must be >= 1')
      .optional()
      .describe("Use at most this many of the partition's clients (a seeded sample). Default: all of them."),
    ids: z
      .array(z.string().min(1, 'a client id must not be empty'))
      .min(1, 'clients.ids needs at least one client id')
      .optional()
      .describe('Use exactly these clients (e.g. president names for sotu by president). Default: all.'),
  })
    .refine((c) => c.count === undefined || c.ids === undefined, {
      message: 'give clients.count or clients.ids, not both',
    })
    .prefault({})
    .describe('Which of the partitioned clients take part in the federation.'),
  model: strictObject({
    name: z
      .enum(MODEL_ENUM, { error: `model.name must be one of: ${MODEL_NAMES.join(', ')}` })
      .default('tiny-gpt')
      .describe(`Model from the zoo: ${MODEL_NAMES.join(', ')}.`),
    overrides: z
      .record(z.string(), z.unknown())
      .default({})
      .describe('Config fields to change on the named model (e.g. contextLength), checked by the model.'),
  })
    .prefault({})
    .describe('The model every client fine-tunes.'),
  base: strictObject({
    source: z
      .enum(BASE_SOURCES, { error: `base.source must be one of: ${BASE_SOURCES.join(', ')}` })
      .default('pretrained')
      .describe(
        'pretrained: a GPT pretrained on base.corpus, read from the cache (pretrained once when missing); ' +
          'random: the seeded initialisation (classifiers, tests); ' +
          'hf: the Hugging Face model folder base.dir (gpt2, llama, qwen2), which also sets the model.',
      ),
    dir: z
      .string()
      .min(1, 'base.dir must be a folder path')
      .optional()
      .describe(
        'With source hf: a local Hugging Face model folder (config.json + model.safetensors or a sharded index).',
      ),
    corpus: z
      .enum(CORPUS_NAMES, { error: `base.corpus must be one of: ${CORPUS_NAMES.join(', ')}` })
      .default('moby-dick')
      .describe(
        'Corpus the base is pretrained on; keep it different from data.dataset so fine-tuning has something to learn.',
      ),
    minutes: z
      .number({ error: 'base.minutes must be a number > 0' })
      .positive('base.minutes must be > 0')
      .default(SHARED_BASE.minutes)
      .describe(
        'Pretraining wall-clock budget in minutes (only spent when the cache has no such base). The default is ' +
          "the shared base's, so every preset without its own budget fine-tunes the same cached base.",
      ),
    steps: z
      .number({ error: 'base.steps must be a whole number >= 1' })
      .int('base.steps must be a whole number')
      .min(1, 'base.steps must be >= 1')
      .optional()
      .describe('Pretraining step budget; with minutes too, whichever comes first. Default: none.'),
    seed: z
      .number()
      .int('base.seed must be a whole number')
      .min(0, 'base.seed must be >= 0')
      .default(0)
      .describe('Pretraining seed (part of the cache key).'),
    cacheDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Base-model cache directory. Default: the pretraining cache's own (FEDPEFT_CACHE_DIR, else XDG_CACHE_HOME/fedpeft, else ~/.cache/fedpeft).",
      ),
  })
    .refine((b) => (b.source === 'hf') === (b.dir !== undefined), {
      message: 'base.dir is required with base.source: hf, and only then',
      path: ['dir'],
    })
    .prefault({})
    .describe('Where the frozen base weights come from.'),
  method: strictObject({
    name: z
      .string()
      .default('pica')
      .describe('Adapter method from the registry (`fedpeft methods` lists them).'),
    config: methodConfigSchema,
    ...methodScheduleFields,
  })
    .superRefine((m, ctx) => checkMethod(m.name, m.config, [], 'name', ['config'], ctx))
    .prefault({})
    .describe('The adapter method clients train.'),
  compare: strictObject({
    methods: z
      .array(z.string())
      .default([])
      .refine((ms) => new Set(ms).size === ms.length, { message: 'a method is listed twice' })
      .describe(
        'Comparison mode: run the scenario once per method and write one comparison report. Default: off.',
      ),
    configs: z
      .record(z.string(), z.record(z.string(), z.unknown()))
      .default({})
      .describe("Per-method configs for comparison runs, by method name. Default: each method's defaults."),
  })
    .superRefine((c, ctx) => {
      // Configs may name methods not in the list (so `--set compare.methods=[pica,lora]` can trim a preset),
      // but every one must be a known method with a valid config.
      for (const [i, name] of c.methods.entries())
        if (!(name in c.configs)) checkMethod(name, undefined, ['methods', i], null, [], ctx);
      for (const [name, config] of Object.entries(c.configs))
        checkMethod(name, config, ['configs', name], null, ['configs', name], ctx);
    })
    .prefault({})
    .describe('Run the same scenario with several methods.'),
  strategy: strategySchema.describe(
    'Aggregation strategy (server/strategies): name (fedavg, fedavgm, fedadam, fedyogi, fedprox, trimmed-mean, ' +
      'coordinate-median, norm-bounding), its parameters, and sampling (fraction of clients per round, ' +
      'minClients, maxClients). Default: fedavg over every client.',
  ),
  training: strictObject({
    rounds: z
      .number({ error: 'training.rounds must be a whole number >= 1' })
      .int('training.rounds must be a whole number')
      .min(1, 'training.rounds must be >= 1')
      .default(5)
      .describe('Federated rounds.'),
    localSteps: z
      .number({ error: 'training.localSteps must be a whole number >= 1' })
      .int('training.localSteps must be a whole number')
      .min(1, 'training.localSteps must be >= 1')
      .default(20)
      .describe('Optimizer steps each participant takes per round.'),
    batchSize: z
      .number({ error: 'training.batchSize must be a whole number >= 1' })
      .int('training.batchSize must be a whole number')
      .min(1, 'training.batchSize must be >= 1')
      .default(4)
      .describe('Windows (LM) or examples (classifier) per local step.'),
    learningRate: z
      .number({ error: 'training.learningRate must be a number > 0' })
      .positive('training.learningRate must be > 0')
      .default(5e-3)
      .describe('Local AdamW learning rate.'),
    deadlineSeconds: z
      .number({ error: 'training.deadlineSeconds must be a number > 0' })
      .positive('training.deadlineSeconds must be > 0')
      .optional()
      .describe(
        'Round deadline in simulated seconds (compute / speed + transfers): slower participants are dropped ' +
          'from that round as stragglers. Default: none (wait for every participant).',
      ),
  })
    .prefault({})
    .describe('Rounds and local training.'),
  devices: devicesSchema
    .prefault({})
    .describe('Simulated device fleet (speeds, availability, bandwidth, memory).'),
  privacy: privacySettingsSchema
    .prefault({})
    .describe('Differential privacy and secure aggregation. Default: both off.'),
  evaluation: strictObject({
    every: z
      .number()
      .int('evaluation.every must be a whole number')
      .min(1, 'evaluation.every must be >= 1')
      .default(1)
      .describe('Evaluate every this many rounds (the last round is always evaluated).'),
    windows: z
      .number()
      .int('evaluation.windows must be a whole number')
      .min(1, 'evaluation.windows must be >= 1')
      .default(32)
      .describe(
        'Validation windows per client (evenly spaced over its held-out documents; the same every round).',
      ),
    batchSize: z
      .number()
      .int('evaluation.batchSize must be a whole number')
      .min(1, 'evaluation.batchSize must be >= 1')
      .default(8)
      .describe('Windows per evaluation batch.'),
    global: z
      .enum(GLOBAL_EVAL_SETS, {
        error: `evaluation.global must be one of: ${GLOBAL_EVAL_SETS.join(', ')}`,
      })
      .default('all')
      .describe(
        "Whose validation data the global model is scored on: all clients, or the round's participants.",
      ),
    personal: z
      .boolean()
      .default(true)
      .describe(
        "Also score each participant's personal model (the global adapter plus its own local training) on its own validation windows.",
      ),
  })
    .prefault({})
    .describe('How quality is measured each round.'),
  transport: z
    .enum(TRANSPORTS, { error: `transport must be one of: ${TRANSPORTS.join(', ')}` })
    .default('sockets')
    .describe(
      'sockets: real socket.io over loopback; in-process: the same protocol messages without sockets (large fleets).',
    ),
  workers: z
    .number()
    .int('workers must be a whole number')
    .min(1, 'workers must be >= 1')
    .default(2)
    .describe('Worker processes that run the simulated clients (one per core is the sweet spot).'),
  output: strictObject({
    dir: z
      .string()
      .min(1, 'output.dir must not be empty')
      .default('runs')
      .describe('Parent folder of run folders.'),
    runId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'output.runId uses letters, digits, ".", "_" and "-"')
      .optional()
      .describe('Run folder name. Default: <name>-<UTC timestamp>.'),
    plots: z.boolean().default(true).describe('Write SVG plots and embed them in report.md.'),
  })
    .prefault({})
    .describe('Where results go: <dir>/<runId>/{metrics.jsonl, summary.json, report.md, *.svg}.'),
}).superRefine((s, ctx) => {
  if (s.base.source === 'pretrained' && !Object.hasOwn(GPT_SIZES, s.model.name)) {
    ctx.addIssue({
      code: 'custom',
      path: ['base', 'source'],
      message: `only GPT models are pretrained; use base.source: random for ${s.model.name}`,
    });
  }
  const threshold = s.privacy.secureAggregation?.threshold;
  if (threshold !== undefined && s.clients.count !== undefined && threshold > s.clients.count) {
    ctx.addIssue({
      code: 'custom',
      path: ['privacy', 'secureAggregation', 'threshold'],
      message: `threshold ${threshold} exceeds clients.count ${s.clients.count}: no round could ever be unmasked`,
    });
  }
});

/**
 * Unknown method -> the valid list (at `path` + `nameKey`); bad config -> every offending field under
 * `configPath`. A compare entry without its own config is checked with the method's defaults.
 */
function checkMethod(
  name: string,
  config: unknown,
  path: (string | number)[],
  nameKey: string | null,
  configPath: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  const known = listAdapterMethods().map((m) => m.name);
  if (!known.includes(name)) {
    ctx.addIssue({
      code: 'custom',
      path: nameKey ? [...path, nameKey] : path,
      message: `unknown adapter method '${name}'; valid methods: ${known.join(', ')}`,
    });
    return;
  }
  const result = getAdapterMethod(name).configSchema.safeParse(config ?? {});
  if (result.success) return;
  for (const issue of result.error.issues) {
    const issuePath = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    // One issue per unknown key, at the key's own path, so it reads like every other unknown key.
    const perKey =
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({
            path: [...issuePath, key],
            message: unknownKeyIn(name, key, issuePath),
          }))
        : [{ path: issuePath, message: issue.message }];
    for (const { path: at, message } of perKey) {
      ctx.addIssue({ code: 'custom', path: [...configPath, ...at], message: `${name}: ${message}` });
    }
  }
}

/** The unknown-key message for a method config, with the method schema's keys at that path as candidates. */
function unknownKeyIn(method: string, key: string, at: (string | number)[]): string {
  let schema: unknown = getAdapterMethod(method).configSchema;
  for (const step of at) schema = objectShape(schema)?.[String(step)];
  return unknownKeyMessage(key, Object.keys(objectShape(schema) ?? {}));
}

/** The shape of a zod object, seen through wrappers (default, optional, pipe, ...); undefined otherwise. */
function objectShape(schema: unknown): Record<string, unknown> | undefined {
  let current = schema;
  for (let depth = 0; depth < 8 && current instanceof z.ZodType; depth++) {
    if (current instanceof z.ZodObject) return current.shape;
    const def = current.def as { innerType?: unknown; in?: unknown };
    current = def.innerType ?? def.in;
  }
  return undefined;
}

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** The method config a run of `method` uses: compare.configs first, then method.config when it is the main method. */
export function methodConfigFor(scenario: Scenario, method: string): Record<string, unknown> {
  return scenario.compare.configs[method] ?? (method === scenario.method.name ? scenario.method.config : {});
}

/** The scenario as one run of `method` (comparison mode runs this once per method). */
export function scenarioForMethod(scenario: Scenario, method: string): Scenario {
  return {
    ...scenario,
    method: { ...scenario.method, name: method, config: methodConfigFor(scenario, method) },
    compare: { methods: [], configs: {} },
  };
}
