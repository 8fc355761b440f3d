/**
 * `fedpeft pretrain`: trains the base GPT that every fine-tuning and federation starts from, with a progress
 * bar (loss, tokens/s, ETA), periodic validation in bits per byte, atomic checkpoints (`--resume` continues a
 * stopped run, Ctrl-C checkpoints before exiting), and at the end the validation bits/byte against the unigram
 * baseline and a few sample generations.
 *
 * Without `--out` the base goes into the shared base-model cache (where `fedpeft finetune`, the simulator and
 * the benchmarks look for it); an already cached base is reported, not retrained.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { progressBar, type ProgressBar } from '../progress-bar.ts';
import { selectBackend } from '../../shared/tensor/backend.ts';
import { GPT_SIZES, type GptSizeName } from '../../shared/model/zoo.ts';
import { loadCheckpoint } from '../../shared/model/checkpoint.ts';
import { Gpt } from '../../shared/model/gpt.ts';
import { byteTokenizer } from '../../shared/model/tokenizer.ts';
import { CORPUS_NAMES } from '../../shared/data/text-document.ts';
import type { PretrainConfigInput } from '../../shared/pretrain/pretrain-config.ts';
import {
  runPretraining,
  SUMMARY_FILE,
  type PretrainEvents,
  type PretrainSummary,
} from '../../shared/pretrain/pretrain-run.node.ts';
import { generateSamples, type Sample } from '../../shared/pretrain/samples.ts';
import { baseConfig, ensurePretrainedBase } from '../../shared/model-cache/base-cache.node.ts';
import { UserError } from '../errors.ts';
import type { CliCommand } from './registry.ts';

/** `tiny` -> `tiny-gpt`; full zoo names are accepted as they are. */
export function gptSizeFlag(value: string): GptSizeName {
  const name = value in GPT_SIZES ? value : `${value}-gpt`;
  if (!(name in GPT_SIZES)) {
    const short = Object.keys(GPT_SIZES).map((n) => n.replace(/-gpt$/, ''));
    throw new UserError(`unknown --size '${value}'; choose one of: ${short.join(', ')}`);
  }
  return name as GptSizeName;
}

/** A flag value as a number, or one line saying which flag is wrong. */
export function numberFlag(name: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new UserError(`--${name} must be ${integer ? 'a whole number' : 'a number'}, got '${value}'`);
  return n;
}

/** Runs `work` with Ctrl-C turned into an abort signal (the run checkpoints, then returns). */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    process.stderr.write('\ninterrupted: checkpointing before exit (Ctrl-C again to force)\n');
    process.removeListener('SIGINT', onSigint);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

const PROMPTS: Record<string, string[]> = {
  'moby-dick': ['Call me Ishmael. ', 'The whale ', 'Queequeg was '],
  sotu: ['Fellow citizens, ', 'The state of the Union ', 'Congress should '],
  spam: ['Dear friend, ', 'Subject: ', 'Click here '],
};

interface PretrainFlags {
  corpus: string;
  size: string;
  out?: string;
  minutes?: string;
  steps?: string;
  resume?: boolean;
  seed: string;
  lr?: string;
  batchSize?: string;
  evalEvery?: string;
  cacheDir?: string;
  prompt?: string[];
  sampleLength: string;
  json?: boolean;
}

function configFromFlags(flags: PretrainFlags): PretrainConfigInput {
  const input: PretrainConfigInput = {
    size: gptSizeFlag(flags.size),
    corpus: flags.corpus as PretrainConfigInput['corpus'],
    seed: numberFlag('seed', flags.seed, true),
  };
  const set = <K extends keyof PretrainConfigInput>(key: K, value: PretrainConfigInput[K] | undefined) => {
    if (value !== undefined) input[key] = value;
  };
  set('minutes', numberFlag('minutes', flags.minutes));
  set('steps', numberFlag('steps', flags.steps, true));
  set('learningRate', numberFlag('lr', flags.lr));
  set('batchSize', numberFlag('batch-size', flags.batchSize, true));
  set('evalEvery', numberFlag('eval-every', flags.evalEvery, true));
  return input;
}

function trainingEvents(ui: ProgressBar): PretrainEvents {
  return {
    onStart: (s) =>
      ui.log(
        `${s.resumedFromStep > 0 ? `resuming at step ${s.resumedFromStep}; ` : ''}${s.parameters.toLocaleString()} parameters; ` +
          `${s.trainTokens.toLocaleString()} training / ${s.validationTokens.toLocaleString()} validation tokens`,
      ),
    onStep: (s) =>
      ui.bar.update(Math.round(s.fractionDone * 1000), {
        step: s.step,
        loss: s.lossEma.toFixed(3),
        tps: Math.round(s.tokensPerSecond).toLocaleString(),
        lr: s.learningRate.toExponential(1),
      }),
    onEval: (r) =>
      ui.log(
        `step ${r.step}: validation ${r.validationBitsPerByte.toFixed(3)} bits/byte (loss ${r.validationLoss.toFixed(3)}), ` +
          `train loss ${r.trainLoss.toFixed(3)}, ${r.elapsedSeconds.toFixed(0)} s`,
      ),
  };
}

function report(summary: PretrainSummary, dir: string, samples: Sample[], note: string): string {
  const lines = [
    note,
    `  checkpoint:  ${dir}`,
    `  steps:       ${summary.steps} (${summary.elapsedSeconds.toFixed(0)} s of training, ` +
      `${Math.round(summary.tokensSeen / Math.max(summary.elapsedSeconds, 1e-9)).toLocaleString()} tokens/s on ${summary.backend})`,
    `  validation:  ${summary.validation.bitsPerByte.toFixed(3)} bits/byte ` +
      `(unigram baseline ${summary.unigramBitsPerByte.toFixed(3)}; ${summary.validation.tokens.toLocaleString()} held-out bytes)`,
    '',
    'Samples (temperature 0.8, top-k 40):',
  ];
  for (const s of samples) lines.push(`  > ${JSON.stringify(s.prompt + s.completion)}`);
  return lines.join('\n');
}

export const pretrainCommand: CliCommand = {
  name: 'pretrain',
  register(program: Command) {
    program
      .command('pretrain')
      .description(
        'pretrain the base GPT on a corpus (time- or step-budgeted, resumable); cached unless --out',
      )
      .option('--corpus <name>', `corpus: ${CORPUS_NAMES.join(', ')}`, 'moby-dick')
      .option(
        '--size <size>',
        `model size: ${Object.keys(GPT_SIZES)
          .map((n) => n.replace(/-gpt$/, ''))
          .join(', ')}`,
        'tiny',
      )
      .option('--out <dir>', 'run directory (default: the base-model cache, keyed by the recipe)')
      .option('--minutes <m>', 'training-time budget in minutes (default 5 when no --steps)')
      .option('--steps <n>', 'step budget (with --minutes: whichever comes first)')
      .option('--resume', 'continue the run in --out from its last checkpoint')
      .option('--seed <s>', 'seed of initialisation, validation split and batches', '0')
      .option('--lr <rate>', 'peak learning rate (default 5e-3)')
      .option('--batch-size <n>', 'windows per step (default 4)')
      .option('--eval-every <n>', 'validate and checkpoint every n steps (default 250)')
      .option('--cache-dir <dir>', 'base-model cache (default $FEDPEFT_CACHE_DIR or ~/.cache/fedpeft)')
      .option('--prompt <text...>', 'prompts for the sample generations at the end')
      .option('--sample-length <n>', 'bytes generated per prompt', '160')
      .option('--json', 'print one JSON object at the end instead of the report')
      .addHelpText(
        'after',
        '\nExamples:\n  fedpeft pretrain                                   # tiny GPT on Moby-Dick, 5 minutes, into the cache\n' +
          '  fedpeft pretrain --out runs/base --minutes 2\n' +
          '  fedpeft pretrain --out runs/base --minutes 5 --resume\n' +
          '  fedpeft pretrain --size test --steps 50 --out /tmp/t --json',
      )
      .action(async (flags: PretrainFlags, cmd: Command) => {
        const input = configFromFlags(flags);
        if (flags.resume && !flags.out)
          throw new UserError('--resume needs --out (cached bases resume by themselves)');
        // Validate before choosing a backend or loading a corpus: a typo fails in milliseconds.
        const config = baseConfig(input);
        const backend = await selectBackend({ force: cmd.optsWithGlobals<{ backend?: string }>().backend });
        process.stderr.write(`backend: ${backend.chosen}\n`);
        const ui = progressBar(
          'pretrain [{bar}] {percentage}% | step {step} | loss {loss} | {tps} tok/s | lr {lr} | ETA {eta_formatted}',
        );
        ui.bar.update(0, { step: 0, loss: '-', tps: '-', lr: '-' });
        let dir: string;
        let summary: PretrainSummary;
        let note: string;
        let model: Gpt;
        let extra: Record<string, unknown> = {};
        try {
          if (flags.out) {
            const outDir = flags.out;
            const result = await withInterrupt((signal) =>
              runPretraining({
                config,
                outDir,
                resume: flags.resume ?? false,
                signal,
                events: trainingEvents(ui),
              }),
            );
            ui.stop();
            dir = result.dir;
            model = result.model;
            summary = JSON.parse(await readFile(join(dir, SUMMARY_FILE), 'utf8')) as PretrainSummary;
            note =
              result.stoppedBy === 'signal'
                ? `stopped at step ${result.steps}; continue with: fedpeft pretrain --out ${dir} --resume`
                : `pretrained ${config.size} on ${config.corpus}`;
          } else {
            const base = await withInterrupt((signal) =>
              ensurePretrainedBase({
                ...config,
                ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
                events: trainingEvents(ui),
                log: (line) => ui.log(line),
                signal,
              }),
            );
            ui.stop();
            dir = base.dir;
            summary = base.summary;
            extra = { key: base.key, created: base.created };
            note = base.created
              ? `pretrained ${config.size} on ${config.corpus} into the cache`
              : `already cached (not retrained): ${config.size} on ${config.corpus}`;
            const loaded = await loadCheckpoint(dir);
            if (!(loaded instanceof Gpt)) throw new UserError(`${dir} does not hold a GPT`);
            model = loaded;
          }
        } finally {
          ui.stop();
        }
        try {
          const samples = generateSamples(
            model,
            byteTokenizer,
            flags.prompt ?? PROMPTS[config.corpus] ?? ['The '],
            {
              maxNew: numberFlag('sample-length', flags.sampleLength, true) ?? 160,
              seed: config.seed,
            },
          );
          if (flags.json) {
            process.stdout.write(
              `${JSON.stringify(
                {
                  dir,
                  ...extra,
                  steps: summary.steps,
                  elapsedSeconds: summary.elapsedSeconds,
                  validationBitsPerByte: summary.validation.bitsPerByte,
                  unigramBitsPerByte: summary.unigramBitsPerByte,
                  backend: summary.backend,
                  samples,
                },
                null,
                2,
              )}\n`,
            );
          } else {
            process.stdout.write(`${report(summary, dir, samples, note)}\n`);
          }
        } finally {
          model.dispose();
        }
      });
  },
};
