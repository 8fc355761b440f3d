/**
 * `fedpeft finetune`: the centralized reference. Trains one adapter method on pooled (non-federated) data
 * from the pretrained base and reports held-out perplexity before and after — the upper bound a federated
 * run of the same method is compared with. The data are chosen as the federation sees them: SOTU partitioned
 * by president (or party), one client's documents (`--client`) or all clients' pooled (`--pooled`, default),
 * evaluated on the same clients' held-out speeches.
 *
 * `--method losa` runs LoSA's T = 5 prune-and-train schedule over the same `--steps` (split evenly over the
 * stages; `--config` is the schedule's config, e.g. '{"targetSparsity": 0.5}'), and also reports the base
 * pruned in one shot without training, the achieved sparsity and every stage.
 */
import type { Command } from 'commander';
import { selectBackend } from '../../shared/tensor/backend.ts';
import { loadCheckpoint } from '../../shared/model/checkpoint.ts';
import { MlpClassifier } from '../../shared/model/mlp-classifier.ts';
import type { LanguageModel } from '../../shared/model/zoo.ts';
import { hfBaseDir, loadHfBase } from '../../shared/model/hf/hf-base.node.ts';
import { baseTokenizer } from '../../shared/model/hf/base-tokenizer.node.ts';
import { listAdapterMethods } from '../../shared/adapters/registry.ts';
import { loadCorpus } from '../../shared/data/corpora.ts';
import { buildTokenStream } from '../../shared/data/lm-batches.ts';
import { finetuneLanguageModel, DEFAULT_FINETUNE_LR } from '../../shared/pretrain/finetune.ts';
import { losaScheduleForSteps, type LosaFinetuneReport } from '../../shared/pretrain/losa-finetune.ts';
import { selectFinetuneTexts } from '../../shared/pretrain/finetune-data.ts';
import { ensurePretrainedBase } from '../../shared/model-cache/base-cache.node.ts';
import { UserError } from '../errors.ts';
import { progressBar } from '../progress-bar.ts';
import { numberFlag } from './pretrain.ts';
import type { CliCommand } from './registry.ts';

interface FinetuneFlags {
  method: string;
  dataset: string;
  partition: string;
  client?: string;
  pooled?: boolean;
  steps: string;
  lr?: string;
  batchSize: string;
  contextLength?: string;
  seed: string;
  config?: string;
  evalWindows?: string;
  base?: string;
  cacheDir?: string;
  json?: boolean;
}

async function loadBase(
  flags: FinetuneFlags,
  log: (line: string) => void,
): Promise<{ model: LanguageModel; dir: string; tokenizerFile: string | null }> {
  let dir = flags.base;
  const hfDir = dir !== undefined ? hfBaseDir(dir) : null;
  if (hfDir !== null) {
    const { base, model } = await loadHfBase(hfDir, {
      ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
      log,
    });
    if (model instanceof MlpClassifier) throw new Error('unreachable: an HF folder is a language model');
    return { model, dir: base.source, tokenizerFile: base.tokenizerFile };
  }
  if (!dir) {
    const base = await ensurePretrainedBase({ ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}), log });
    dir = base.dir;
    if (base.created) log(`pretrained the default base into ${dir}`);
  }
  const model = await loadCheckpoint(dir);
  if (model instanceof MlpClassifier) {
    model.dispose();
    throw new UserError(`--base ${dir} holds a ${model.kind}, not a language model`);
  }
  return { model, dir, tokenizerFile: null };
}

function parseConfigFlag(value: string | undefined): unknown {
  if (value === undefined) return {};
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new UserError(`--config must be a JSON object, e.g. '{"r": 8}', got '${value}'`);
  }
}

/** LoSA's extra numbers for `--json`: the pruning cost and the stages, without per-step losses. */
function losaSummary(losa: LosaFinetuneReport) {
  return {
    prunedUntrained: {
      perplexity: losa.prunedUntrained.perplexity,
      bitsPerByte: losa.prunedUntrained.bitsPerByte,
    },
    sparsity: losa.sparsity,
    stepsPerStage: losa.stepsPerStage,
    stages: losa.stages.map((s) => ({
      stage: s.stage,
      target: s.target,
      sparsity: s.meanSparsity,
      ranks: s.layers.map((l) => l.rank),
      lossAfterPruning: s.lossAfterPruning,
      lossAfterTraining: s.lossAfterTraining,
    })),
  };
}

function losaLines(losa: LosaFinetuneReport): string[] {
  return [
    `  pruned in one shot, untrained: perplexity ${losa.prunedUntrained.perplexity.toFixed(3)} per byte`,
    `  final sparsity ${losa.sparsity.toFixed(3)} after ${losa.stages.length} prune-and-train stages of ${losa.stepsPerStage} steps ` +
      '(losses on held-out windows):',
    ...losa.stages.map(
      (s) =>
        `    stage ${s.stage}: target ${s.target.toFixed(3)}, achieved ${s.meanSparsity.toFixed(3)}, ` +
        `ranks ${s.layers.map((l) => l.rank).join('/')}, loss ${s.lossAfterPruning.toFixed(3)} after pruning -> ` +
        `${s.lossAfterTraining.toFixed(3)} after training`,
    ),
  ];
}

export const finetuneCommand: CliCommand = {
  name: 'finetune',
  register(program: Command) {
    program
      .command('finetune')
      .description('centralized fine-tuning of one adapter method from the pretrained base: ppl before/after')
      .requiredOption('--method <name>', 'adapter method (see `fedpeft methods`), e.g. pica, lora, cla, full')
      .option('--dataset <name>', 'corpus with natural clients', 'sotu')
      .option('--partition <attr>', 'client attribute: president or party', 'president')
      .option('--client <name>', "one client's data (e.g. 'Abraham Lincoln')")
      .option('--pooled', 'all clients pooled (the default when no --client)')
      .option('--steps <n>', 'training steps', '200')
      .option('--lr <rate>', `peak learning rate (default ${DEFAULT_FINETUNE_LR})`)
      .option('--batch-size <n>', 'windows per step', '8')
      .option('--context-length <n>', "tokens per window (default: the model's context length)")
      .option('--seed <s>', 'partition, adapter and batch seed', '0')
      .option(
        '--config <json>',
        "the method's config as JSON (default: the paper's defaults; for losa the schedule's config)",
      )
      .option('--eval-windows <n>', 'held-out windows scored (evenly spaced; default all)')
      .option(
        '--base <dir>',
        'base: a checkpoint directory, or hf:<dir> for a Hugging Face model folder (gpt2, llama, qwen2); ' +
          'default: the cached pretrained base, trained if missing',
      )
      .option('--cache-dir <dir>', 'base-model cache (default $FEDPEFT_CACHE_DIR or ~/.cache/fedpeft)')
      .option('--json', 'print one JSON object')
      .addHelpText(
        'after',
        '\nExamples:\n  fedpeft finetune --method pica --dataset sotu --pooled --steps 300\n' +
          "  fedpeft finetune --method lora --client 'Abraham Lincoln' --steps 100 --json\n" +
          '  fedpeft finetune --method cla --config \'{"r": 8}\' --base runs/base\n' +
          '  fedpeft finetune --method pica --base hf:models/SmolLM2-135M --context-length 128 --steps 50\n' +
          '  fedpeft finetune --method losa --steps 300 --config \'{"targetSparsity": 0.5}\'',
      )
      .action(async (flags: FinetuneFlags, cmd: Command) => {
        if (flags.client !== undefined && flags.pooled)
          throw new UserError('give either --client or --pooled, not both');
        const methods = listAdapterMethods().map((m) => m.name);
        if (!methods.includes(flags.method))
          throw new UserError(`unknown --method '${flags.method}'; choose one of: ${methods.join(', ')}`);
        const steps = numberFlag('steps', flags.steps, true) as number;
        const seed = numberFlag('seed', flags.seed, true) as number;
        const methodConfig = parseConfigFlag(flags.config);
        // Before the base is loaded (or pretrained, minutes): the schedule must split --steps evenly.
        if (flags.method === 'losa') losaScheduleForSteps(methodConfig, steps);
        const texts = selectFinetuneTexts(loadCorpus(flags.dataset), {
          partition: flags.partition,
          client: flags.client,
          seed,
        });
        if (texts.evaluation.length === 0)
          throw new UserError(`${texts.description}: nothing held out to evaluate on`);
        const backend = await selectBackend({ force: cmd.optsWithGlobals<{ backend?: string }>().backend });
        const log = (line: string) => process.stderr.write(`${line}\n`);
        log(`backend: ${backend.chosen}; ${texts.description}`);
        const { model, dir, tokenizerFile } = await loadBase(flags, log);
        const encoder = await baseTokenizer(model.config.vocabSize, tokenizerFile, dir);
        const ui = progressBar(
          `finetune ${flags.method} [{bar}] {percentage}% | step {step} | loss {loss} | ETA {eta_formatted}`,
        );
        try {
          const started = performance.now();
          const result = finetuneLanguageModel({
            model,
            method: flags.method,
            methodConfig,
            seed,
            trainStream: buildTokenStream(texts.train, { encoder }),
            evalStream: buildTokenStream(texts.evaluation, { encoder }),
            steps,
            batchSize: numberFlag('batch-size', flags.batchSize, true),
            ...(flags.contextLength !== undefined
              ? { contextLength: numberFlag('context-length', flags.contextLength, true) }
              : {}),
            ...(flags.lr !== undefined ? { learningRate: numberFlag('lr', flags.lr) } : {}),
            ...(flags.evalWindows !== undefined
              ? { evalWindows: numberFlag('eval-windows', flags.evalWindows, true) }
              : {}),
            onStep: (s) =>
              ui.bar.update(Math.round((s.step / steps) * 1000), { step: s.step, loss: s.loss.toFixed(3) }),
          });
          ui.stop();
          const wallSeconds = (performance.now() - started) / 1000;
          const out = {
            method: result.method,
            base: dir,
            data: texts.description,
            steps: result.steps,
            trainableParams: result.trainableParams,
            sharedParams: result.sharedParams,
            before: { perplexity: result.before.perplexity, bitsPerByte: result.before.bitsPerByte },
            after: { perplexity: result.after.perplexity, bitsPerByte: result.after.bitsPerByte },
            heldOutTokens: result.after.tokens,
            trainSeconds: result.trainSeconds,
            wallSeconds,
            backend: backend.chosen,
            ...(result.losa ? { losa: losaSummary(result.losa) } : {}),
          };
          if (flags.json) {
            process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
          } else {
            process.stdout.write(
              [
                `${flags.method} on ${texts.description}`,
                `  trainable parameters: ${result.trainableParams.toLocaleString()} (shared ${result.sharedParams.toLocaleString()})`,
                `  held-out perplexity:  ${result.before.perplexity.toFixed(3)} -> ${result.after.perplexity.toFixed(3)} per byte ` +
                  `(${result.before.bitsPerByte.toFixed(3)} -> ${result.after.bitsPerByte.toFixed(3)} bits/byte, ${result.after.tokens.toLocaleString()} bytes)`,
                `  ${result.steps} steps in ${result.trainSeconds.toFixed(1)} s of training (${wallSeconds.toFixed(1)} s with evaluation)`,
                ...(result.losa ? losaLines(result.losa) : []),
              ].join('\n') + '\n',
            );
          }
        } finally {
          ui.stop();
          model.dispose();
        }
      });
  },
};
