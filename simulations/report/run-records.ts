/**
 * The records a run folder holds, as zod schemas (so a reader — the comparison report, `fedpeft export`, a
 * notebook — can validate what it loads). Keys are snake_case because they are file formats, read from
 * Python and jq as often as from TypeScript.
 *
 * Quality is perplexity for language models and accuracy for classifiers; the fields of the other task are
 * null, never absent, so every file of one kind has the same columns.
 */
import { z } from 'zod';

export const TASKS = ['language-model', 'classification'] as const;
export type Task = (typeof TASKS)[number];

const count = z.number().int().min(0);
const nullableNumber = z.number().nullable();
const nullablePositive = z.number().positive().nullable();

export const droppedClientSchema = z.object({
  client_id: z.string(),
  reason: z.enum(['dropout', 'deadline', 'error']),
});

/** One line of `metrics.jsonl`: what happened in one round. */
export const roundMetricsSchema = z
  .object({
    round: z.number().int().min(1),
    /** Clients sampled and sent the round instruction. */
    participants: count,
    /** Clients whose update was aggregated. */
    completed: count,
    /** Clients sampled that did not contribute (dropout, deadline, error). */
    dropped: count,
    dropped_clients: z.array(droppedClientSchema).default([]),
    /** Mean local training loss over the completed clients (nats per token / per example). */
    train_loss: nullableNumber,
    /** Global model after aggregation, on the evaluation set (null when not evaluated this round). */
    global_val_loss: nullableNumber,
    global_val_ppl: nullablePositive,
    global_val_accuracy: nullableNumber,
    /** Each participant's personal model on its own validation data, averaged (null when off). */
    personal_val_loss: nullableNumber,
    personal_val_ppl: nullablePositive,
    personal_val_accuracy: nullableNumber,
    /** Payload bytes clients sent / received this round (what the wire carried, after chunking). */
    bytes_up: count,
    bytes_down: count,
    /** Wall-clock seconds the round took on this machine. */
    round_s: z.number().min(0),
    /** The round's length on the simulated devices (compute / speed + transfers), when simulated. */
    simulated_round_s: z.number().min(0).nullable().default(null),
    /** (ε, δ) spent so far, when differential privacy is on. */
    epsilon: z.number().min(0).nullable().default(null),
    delta: z.number().positive().nullable().default(null),
  })
  .strict();

export type RoundMetrics = z.output<typeof roundMetricsSchema>;
export type RoundMetricsInput = z.input<typeof roundMetricsSchema>;

/** One client's quality before and after the federation (the per-client table and plot). */
export const clientResultSchema = z
  .object({
    client_id: z.string(),
    device_class: z.string().nullable().default(null),
    /** Rounds whose aggregate included this client's update. */
    rounds_participated: count,
    base_ppl: nullablePositive,
    global_ppl: nullablePositive,
    personal_ppl: nullablePositive,
    base_accuracy: nullableNumber.default(null),
    global_accuracy: nullableNumber.default(null),
    personal_accuracy: nullableNumber.default(null),
  })
  .strict();

export type ClientResult = z.output<typeof clientResultSchema>;
export type ClientResultInput = z.input<typeof clientResultSchema>;

/** `summary.json`: the run in one object (what comparisons and dashboards read). */
export const runSummarySchema = z
  .object({
    run_id: z.string().min(1),
    scenario: z.string().min(1),
    task: z.enum(TASKS),
    method: z.string().min(1),
    strategy: z.string().min(1),
    seed: z.number().int().min(0),
    /** Clients in the federation (after partitioning and selection). */
    clients: z.number().int().min(1),
    /** Rounds completed. */
    rounds: count,
    /** Chain links the completed rounds ran through (chained methods: c3la, cola, ...); null for others. */
    links: count.nullable().default(null),
    base_ppl: nullablePositive,
    final_global_ppl: nullablePositive,
    final_personal_ppl: nullablePositive,
    base_accuracy: nullableNumber.default(null),
    final_global_accuracy: nullableNumber.default(null),
    final_personal_accuracy: nullableNumber.default(null),
    bytes_up: count,
    bytes_down: count,
    wall_s: z.number().min(0),
    /** Parameters each client trains (its adapter; private parts included). */
    trainable_params: count,
    /** Parameters each client sends per round (the shared part). */
    shared_params: count.nullable().default(null),
    epsilon: z.number().min(0).nullable().default(null),
    delta: z.number().positive().nullable().default(null),
    started_at: z.iso.datetime(),
    finished_at: z.iso.datetime(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const lm = s.task === 'language-model';
    for (const key of ['base_ppl', 'final_global_ppl'] as const)
      if (lm && s[key] === null)
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} is required for a language-model run` });
    for (const key of ['base_accuracy', 'final_global_accuracy'] as const)
      if (!lm && s[key] === null)
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} is required for a classification run` });
  });

export type RunSummary = z.output<typeof runSummarySchema>;
export type RunSummaryInput = z.input<typeof runSummarySchema>;
