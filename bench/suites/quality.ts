/**
 * Learning quality per adapter method (opt-in: `fedpeft bench --quality`; minutes). From the pretrained base
 * (the cached tiny GPT on Moby-Dick; pretrained first if missing), every method is fine-tuned centrally for
 * the same number of steps on SOTU partitioned by president (all clients' training speeches pooled) and
 * scored on the same clients' held-out speeches, with identical deterministic evaluation windows:
 *
 *   quality.sotu.<method>.ppl_before / ppl_after   perplexity per byte on the held-out speeches
 *   quality.sotu.<method>.trainable_params          parameters the optimizer updates
 *   quality.sotu.<method>.wall_s                    seconds of training steps (evaluation excluded; LoSA:
 *                                                   its whole schedule, the 5 pruning stages included)
 *   quality.sotu.losa.ppl_pruned_untrained          the dense base pruned in one shot to 50%, no training
 *   quality.sotu.losa.sparsity                      final achieved sparsity (mean over decoder layers)
 *
 * Every method uses its preset's paper defaults (PiCa r=16 on q,k,v,up,down; LoRA/FFA-LoRA r=8 on q,v; cLA and
 * c³LA r=16 on q,v; LoSA r=8 on all six roles; full = every block kernel), plus `lora_pica_roles`: LoRA at
 * PiCa's rank on PiCa's roles, the comparison the PiCa paper makes. LoSA runs the paper's schedule: T = 5
 * prune-and-train stages on the cubic ramp to 50% sparsity (CKA layer sparsities, Wanda, ranks from the
 * reconstruction errors re-derived every stage), the same total steps split evenly over the stages and the
 * same batches; it trains at a constant rate per stage (fresh adapter and AdamW each stage) where the other
 * methods warm up and decay. Its `ppl_before` is the dense base like every row's, so `ppl_after` compares
 * directly; `ppl_pruned_untrained` shows what the pruning alone costs. Learning rates: one per family,
 * documented below.
 */
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { loadCheckpoint } from '../../shared/model/checkpoint.ts';
import { Gpt } from '../../shared/model/gpt.ts';
import { loadCorpus } from '../../shared/data/corpora.ts';
import { buildTokenStream } from '../../shared/data/lm-batches.ts';
import { finetuneLanguageModel } from '../../shared/pretrain/finetune.ts';
import { selectFinetuneTexts } from '../../shared/pretrain/finetune-data.ts';
import { ensurePretrainedBase } from '../../shared/model-cache/base-cache.node.ts';
import type { BenchSuite } from '../harness/types.ts';

/**
 * Peak learning rates: full fine-tuning updates every weight of a trained model and needs a smaller step than
 * low-rank adapters, whose zero-initialised factors must move far. Same rate within each family.
 */
const METHODS: readonly {
  /** The key segment. */
  key: string;
  method: string;
  learningRate: number;
  config?: Record<string, unknown>;
}[] = [
  { key: 'pica', method: 'pica', learningRate: 5e-3 },
  { key: 'lora', method: 'lora', learningRate: 5e-3 },
  // LoRA on PiCa's roles at PiCa's rank: the paper's comparison (same placement, ~4x PiCa's parameters here).
  {
    key: 'lora_pica_roles',
    method: 'lora',
    learningRate: 5e-3,
    config: { r: 16, alpha: 32, roles: ['q', 'k', 'v', 'up', 'down'] },
  },
  { key: 'cla', method: 'cla', learningRate: 5e-3 },
  { key: 'c3la', method: 'c3la', learningRate: 5e-3 },
  { key: 'ffa-lora', method: 'ffa-lora', learningRate: 5e-3 },
  { key: 'losa', method: 'losa', learningRate: 5e-3 },
  { key: 'full', method: 'full', learningRate: 1e-3 },
];
const LOSA_SPARSITY = 0.5;
const BATCH = 8;
const EVAL_WINDOWS = 128;

export const qualitySuite: BenchSuite = {
  name: 'quality',
  description: 'held-out SOTU perplexity after centralized fine-tuning from the pretrained base, per method',
  optIn: {
    flag: 'quality',
    description: 'learning quality per adapter method (minutes; pretrains the base if missing)',
  },
  async run(ctx) {
    await useBackend('wasm');
    const steps = ctx.quick ? 60 : 300;
    const base = await ensurePretrainedBase({ log: (line) => ctx.log(line) });
    ctx.log(`base ${base.key}: ${base.summary.validation.bitsPerByte.toFixed(3)} bits/byte on Moby-Dick`);
    const texts = selectFinetuneTexts(loadCorpus('sotu'), { partition: 'president', seed: 0 });
    const trainStream = buildTokenStream(texts.train);
    const evalStream = buildTokenStream(texts.evaluation);
    ctx.log(`${texts.description}; ${steps} steps of batch ${BATCH} per method`);
    for (const { key: name, method, learningRate, config } of METHODS) {
      const before = tf.memory().numTensors;
      const model = await loadCheckpoint(base.dir);
      try {
        if (!(model instanceof Gpt)) throw new Error(`${base.dir} does not hold a GPT`);
        // LoSA's schedule defaults: T = 5, mean rank 8 (at most 16) on all six block roles.
        const methodConfig = method === 'losa' ? { targetSparsity: LOSA_SPARSITY } : (config ?? {});
        const result = finetuneLanguageModel({
          model,
          method,
          methodConfig,
          seed: 0,
          trainStream,
          evalStream,
          steps,
          batchSize: BATCH,
          learningRate,
          evalWindows: EVAL_WINDOWS,
        });
        ctx.record(`quality.sotu.${name}.ppl_before`, result.before.perplexity, 'ppl/byte');
        ctx.record(`quality.sotu.${name}.ppl_after`, result.after.perplexity, 'ppl/byte');
        ctx.record(`quality.sotu.${name}.trainable_params`, result.trainableParams, 'params');
        ctx.record(`quality.sotu.${name}.wall_s`, result.trainSeconds, 's');
        if (result.losa) {
          const losa = result.losa;
          ctx.record(
            `quality.sotu.${name}.ppl_pruned_untrained`,
            losa.prunedUntrained.perplexity,
            'ppl/byte',
          );
          ctx.record(`quality.sotu.${name}.sparsity`, losa.sparsity, 'fraction');
          for (const s of losa.stages)
            ctx.log(
              `${name} stage ${s.stage}: sparsity ${s.target.toFixed(3)} (achieved ${s.meanSparsity.toFixed(3)}), ` +
                `ranks ${s.layers.map((l) => l.rank).join('/')}, held-out loss ${s.lossAfterPruning.toFixed(3)} ` +
                `pruned -> ${s.lossAfterTraining.toFixed(3)} trained`,
            );
          ctx.log(
            `${name}: pruned in one shot, untrained: ppl ${losa.prunedUntrained.perplexity.toFixed(3)}`,
          );
        }
        ctx.log(
          `${name}: ppl ${result.before.perplexity.toFixed(3)} -> ${result.after.perplexity.toFixed(3)}, ` +
            `${result.trainableParams} trainable, ${result.trainSeconds.toFixed(1)} s`,
        );
      } finally {
        model.dispose();
      }
      // The runner warns on leaks over the whole suite; naming the method is more useful.
      if (tf.memory().numTensors !== before)
        ctx.log(`${name}: ${tf.memory().numTensors - before} tensors leaked`);
    }
  },
};
