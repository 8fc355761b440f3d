/**
 * Scores a global adapter state on the clients' held-out validation windows, in the coordinator's process:
 * the simulator knows every client's data, so "global perplexity" can be measured on all clients (or on a
 * round's participants) after each aggregation, rather than only as each participant saw the previous global
 * state. One model with the run's adapter attached, exactly as a client builds it (same base, method, seed:
 * same derived tensors), reused for every evaluation.
 *
 * Chained methods (c³LA, CoLA) fold a link's final aggregate into the base when the next link starts, as
 * clients do; so `advance` must see every round's global state in order, evaluated or not.
 */
import { tf } from '../../shared/tensor/tf.ts';
import { attachAdapter } from '../../shared/adapters/registry.ts';
import type { Adapter } from '../../shared/adapters/types.ts';
import { LinkSchedule } from '../../shared/adapters/link-schedule.ts';
import { disposeBatch } from '../../shared/data/lm-batches.ts';
import { evaluateModel } from '../../shared/eval/model-metrics.ts';
import { assignParameters } from '../../shared/model/checkpoint.ts';
import type { Batch } from '../../shared/model/types.ts';
import { createModel, type ZooModel } from '../../shared/model/zoo.ts';
import { fromHostMap, type HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { LocalTrainingData } from '../../client/local-training-data.ts';

export interface ClientScore {
  /** Mean cross-entropy per target token (nats). */
  loss: number;
  tokens: number;
  /** Classifiers: fraction of validation examples right (`tokens` then counts examples). */
  accuracy?: number | null;
}

export interface FederationEvaluatorOptions {
  model: string;
  modelConfig: Record<string, unknown>;
  method: string;
  methodConfig: Record<string, unknown>;
  seed: number;
  baseWeights: HostTensorMap | null;
  /** Rounds per link of chained methods (the coordinator's `method.roundsPerLink`). */
  roundsPerLink: number;
}

function* disposing(batches: Iterable<Batch>): Generator<Batch> {
  for (const batch of batches) {
    try {
      yield batch;
    } finally {
      disposeBatch(batch);
    }
  }
}

/** Token-weighted mean loss of a set of scores, as a perplexity (null when empty). */
export function pooledPerplexity(scores: Iterable<ClientScore>): { loss: number; ppl: number } | null {
  let nats = 0;
  let tokens = 0;
  for (const s of scores) {
    nats += s.loss * s.tokens;
    tokens += s.tokens;
  }
  if (tokens === 0) return null;
  return { loss: nats / tokens, ppl: Math.exp(nats / tokens) };
}

export class FederationEvaluator {
  private readonly model: ZooModel;
  private readonly adapter: Adapter;
  private readonly schedule: LinkSchedule;

  private constructor(options: FederationEvaluatorOptions) {
    this.model = createModel(options.model, { seed: options.seed, ...options.modelConfig });
    try {
      if (options.baseWeights) assignParameters(this.model, options.baseWeights, 'the base weights');
      this.adapter = attachAdapter(this.model, options.method, options.methodConfig, { seed: options.seed });
    } catch (err) {
      this.model.dispose();
      throw err;
    }
    this.schedule = new LinkSchedule(options.roundsPerLink);
  }

  static create(options: FederationEvaluatorOptions): FederationEvaluator {
    return new FederationEvaluator(options);
  }

  /** Values the adapter trains on a client (its shared and private trainable tensors). */
  trainableParams(): number {
    return this.adapter.trainableVariables().reduce((s, v) => s + v.size, 0);
  }

  /** Parameters of the frozen base model. */
  baseParams(): number {
    let total = 0;
    for (const p of this.model.parameters().values()) total += p.size;
    return total;
  }

  /** Installs the global state that closed `round` (1-based), folding a finished link first. */
  advance(round: number, global: HostTensorMap): void {
    if (this.adapter.currentLink !== undefined && this.adapter.setLink) {
      this.adapter.setLink(this.schedule.linkAt(round - 1));
    }
    this.install(global);
  }

  /** Installs any shared state (a client's personal copy) without touching the link. */
  install(shared: HostTensorMap): void {
    const tensors = fromHostMap(shared);
    try {
      this.adapter.setShared(tensors);
    } finally {
      tf.dispose([...tensors.values()]);
    }
  }

  /** The current adapter on one client's validation windows. */
  score(data: LocalTrainingData): ClientScore {
    const m = evaluateModel(this.model, disposing(data.validationBatches()));
    return { loss: m.loss, tokens: m.tokens, accuracy: m.accuracy };
  }

  dispose(): void {
    this.adapter.detach();
    this.model.dispose();
  }
}
