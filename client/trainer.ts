/**
 * The client's learning side, free of any transport: a frozen base model with the run's adapter attached,
 * trained for one round at a time on local data, evaluated on local validation data.
 *
 * Personal adapter (the scheme, and why): after each round the client keeps, privately, the shared tensors it
 * ended the round with — the global aggregate it started from, fine-tuned `local_steps` (plus optionally
 * `personalSteps` more) on its own data. That is the simplest sound personalization: it needs no second
 * adapter in memory, it works for every method (a method's own private tensors, FedSA-LoRA's B or LoSA's
 * masks, stay in the live adapter and are part of both views), and its cost is `personalSteps` extra steps
 * (0 by default: the personal copy is then exactly the local result of the round). Each round reports both
 * views on the same validation windows:
 *   - global:   the aggregate as received (before local training)
 *   - personal: the aggregate after local fine-tuning
 * so `personal < global` measures how much local adaptation is worth on this client's data.
 *
 * Determinism: training batches of round t come from `Rng(seed).fork(label + t)`, so a client that crashes
 * mid-round and restarts computes the same update (the coordinator may already hold part of its upload).
 */
import { tf } from '../shared/tensor/tf.ts';
import { Rng } from '../shared/tensor/rng.ts';
import { FedpeftError } from '../shared/errors.ts';
import { attachAdapter } from '../shared/adapters/registry.ts';
import type { Adapter, AggregationRule } from '../shared/adapters/types.ts';
import { assignParameters, type CheckpointableModel } from '../shared/model/parameters.ts';
import type * as CheckpointModuleNs from '../shared/model/checkpoint.ts';
import { createModel, GPT_SIZES, LLAMA_SIZES, MLP_SIZES } from '../shared/model/zoo.ts';
import type { Batch } from '../shared/model/types.ts';
import { AdamW, type AdamWConfigInput } from '../shared/train/adamw.ts';
import { ProximalTerm } from '../shared/train/fedprox.ts';
import { trainStepAsync } from '../shared/train/train-step.ts';
import { evaluateModelAsync, type ModelMetrics } from '../shared/eval/model-metrics.ts';
import { disposeBatch } from '../shared/data/lm-batches.ts';
import { fromHost, sameShape, toHostAsync, type HostTensorMap } from '../shared/tensor/host-tensor.ts';
import type { LocalTrainingData } from './local-training-data.ts';
import { prefixAlong } from '../shared/aggregation/host-math.ts';

/** What a client must know about the run (from `Welcome.run`). */
export interface ClientRunConfig {
  /** Zoo model name (`test-gpt`, `tiny-gpt`, ...). */
  model: string;
  /** Overrides merged over the named size (must match the base checkpoint). */
  modelConfig?: Readonly<Record<string, unknown>>;
  method: string;
  methodConfig?: unknown;
  /** Run seed: derived adapter tensors and a fresh base (when no checkpoint is given) come from it. */
  seed: number;
  /**
   * The run's base checkpoint, when the coordinator names one: sha-256 and size of its `model.safetensors`.
   * The trainer must then be given that checkpoint (`baseCheckpoint`); see client/run-base.node.ts.
   */
  base?: { sha256: string; bytes: number };
}

export interface ClientTrainerOptions {
  run: ClientRunConfig;
  data: LocalTrainingData;
  /** Directory of the pretrained base (a `saveCheckpoint` directory). */
  baseCheckpoint?: string;
  /** The base weights already in memory (the fleet simulator loads the checkpoint once for every client). */
  baseWeights?: HostTensorMap;
  /** Label that seeds this client's batch sampling (its name / data spec). */
  label?: string;
  /** Extra local steps that refine only the personal copy (not sent). Default 0. */
  personalSteps?: number;
  /** AdamW settings other than the learning rate (which each round instruction sets). */
  optimizer?: Omit<AdamWConfigInput, 'learningRate'>;
  /** Nested-rank client rank at start (0/undefined = the method's rank); instructions may change it. */
  clientRank?: number;
  /**
   * Runs the base model's creation and every adapter attach. A browser training on WebGPU passes one that
   * switches to wasm for the call: PiCa's SVD and the derived-state signature read tensors synchronously,
   * which WebGPU cannot do reliably. Default: run in place.
   */
  deriveWith?: DeriveWith;
  /** Called after every local training step (a page showing the loss per step). */
  onStep?: (step: TrainingStepReport) => void;
}

/** Runs `compute` (synchronous tensor work) where derived state can be computed; see `deriveWith`. */
export type DeriveWith = <T>(compute: () => T) => Promise<T>;

export interface TrainingStepReport {
  roundId: number;
  /** 1-based step of the round's `localSteps`. */
  step: number;
  steps: number;
  /** The batch's loss before the step's update (nats per token; NaN when the step was skipped). */
  loss: number;
}

const inPlace: DeriveWith = (compute) => Promise.resolve(compute());

/**
 * The checkpoint loader reads files (node:fs), so it is imported only when a checkpoint directory is given,
 * through a specifier a browser bundler does not follow: the trainer itself bundles for browsers.
 */
const CHECKPOINT_MODULE = '../shared/model/checkpoint.ts';
type CheckpointModule = typeof CheckpointModuleNs;
async function loadBaseCheckpoint(dir: string): Promise<CheckpointableModel> {
  const mod = (await import(/* @vite-ignore */ CHECKPOINT_MODULE)) as CheckpointModule;
  return mod.loadCheckpoint(dir);
}

/** One round's local work, as the instruction sets it. */
export interface LocalRound {
  roundId: number;
  localSteps: number;
  batchSize: number;
  learningRate: number;
  /** FedProx: pull the trained tensors toward the global ones with `mu/2 ||w - w_global||^2`. */
  proximalMu?: number;
  /** Chained methods: the link every client trains this round. */
  linkIndex?: number;
  /** Nested ranks: this client's rank for the round (0 or undefined = the method's rank). */
  clientRank?: number;
  /** Evaluate the received global state on validation data before training (default true). */
  evaluateGlobal?: boolean;
  /** Evaluate the personal copy after training (default true). */
  evaluatePersonal?: boolean;
}

/** Lets the event loop run (heartbeats, acks, other clients of a simulated fleet) between training steps. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export interface ClientRoundMetrics {
  trainLoss: number | null;
  steps: number;
  computeMs: number;
  globalValLoss: number | null;
  globalValPpl: number | null;
  personalValLoss: number | null;
  personalValPpl: number | null;
  /** Classifiers only (absent for language models): accuracy and macro F1 of the same two views. */
  globalValAccuracy?: number | null;
  globalValMacroF1?: number | null;
  personalValAccuracy?: number | null;
  personalValMacroF1?: number | null;
}

export interface LocalUpdate {
  roundId: number;
  /** New values of exactly `adapter.shared()` (nothing private or derived). */
  shared: HostTensorMap;
  numExamples: number;
  /** Wire form of trained extents: per tensor, `extent[i] <= shape[i]` (full shape for tensors trained whole). */
  trainedExtents: Map<string, number[]>;
  /** Norms the method's rules weight by (HetLoRA: ‖B_k A_k‖_F per shared tensor); empty for other rules. */
  norms: Map<string, number>;
  /**
   * The shared values training started from: the received global, or, in the first round of a new link of a
   * chained method, the link's reset state. Deltas (DP, secure aggregation) are taken from these.
   */
  start: HostTensorMap;
  metrics: ClientRoundMetrics;
}

/** Everything the state store keeps of a trainer between process restarts (never sent). */
export interface TrainerPrivateState {
  /** `adapter.private()`: tensors the method keeps on the device. */
  private: HostTensorMap;
  /** AdamW moments keyed by stable adapter tensor names (plus `adamw/step`). */
  optimizer: HostTensorMap;
  /** The personal copy of the shared tensors, or null before the first round. */
  personal: HostTensorMap | null;
}

const STEP_KEY = 'adamw/step';

/** Every batch yielded is disposed when the consumer moves on (evaluation helpers do not dispose). */
function* disposing(batches: Iterable<Batch>): Generator<Batch> {
  for (const batch of batches) {
    try {
      yield batch;
    } finally {
      disposeBatch(batch);
    }
  }
}

function expectedModelConfig(run: ClientRunConfig): Record<string, unknown> {
  const sizes: Record<string, object> = { ...GPT_SIZES, ...LLAMA_SIZES, ...MLP_SIZES };
  const base = sizes[run.model];
  if (!base) {
    throw new FedpeftError(
      'UNKNOWN_MODEL',
      `the run's model '${run.model}' is not known to this client (known: ${Object.keys(sizes).join(', ')})`,
    );
  }
  return { ...base, ...(run.modelConfig ?? {}) };
}

/** The context length of the run's model (what local data windows must be cut to). */
export function runContextLength(run: ClientRunConfig): number {
  const config = expectedModelConfig(run);
  const t = config.contextLength;
  if (typeof t !== 'number') {
    throw new FedpeftError(
      'UNSUPPORTED_MODEL',
      `model '${run.model}' is not a language model; clients train GPTs on text`,
    );
  }
  return t;
}

/** A checkpoint of another architecture would train fine and aggregate garbage: refuse it up front. */
function checkBaseMatchesRun(model: CheckpointableModel, run: ClientRunConfig, source: string): void {
  const expected = expectedModelConfig(run);
  const actual = model.config as Record<string, unknown>;
  const differing = Object.entries(expected).filter(
    ([k, v]) => JSON.stringify(actual[k]) !== JSON.stringify(v),
  );
  if (differing.length > 0) {
    throw new FedpeftError(
      'CHECKPOINT_MISMATCH',
      `${source} is not the run's '${run.model}' model: ` +
        differing
          .map(([k, v]) => `${k} is ${JSON.stringify(actual[k])}, the run needs ${JSON.stringify(v)}`)
          .join('; '),
    );
  }
}

export class ClientTrainer {
  readonly run: ClientRunConfig;
  readonly data: LocalTrainingData;
  readonly model: CheckpointableModel;
  private adapterInstance: Adapter;
  private rank: number | undefined;
  private optimizer: AdamW;
  private readonly optimizerConfig: Omit<AdamWConfigInput, 'learningRate'>;
  private personalCopy: HostTensorMap | null = null;
  private readonly label: string;
  private readonly personalSteps: number;
  private readonly deriveWith: DeriveWith;
  private readonly onStep: ((step: TrainingStepReport) => void) | undefined;
  private signatureCache: { adapter: Adapter; value: Float32Array } | null = null;
  private disposed = false;

  private constructor(model: CheckpointableModel, options: ClientTrainerOptions) {
    this.run = options.run;
    this.data = options.data;
    this.model = model;
    this.label = options.label ?? 'client';
    this.personalSteps = options.personalSteps ?? 0;
    if (!Number.isInteger(this.personalSteps) || this.personalSteps < 0) {
      throw new FedpeftError(
        'INVALID_CONFIG',
        `personalSteps must be a non-negative integer, got ${this.personalSteps}`,
      );
    }
    this.optimizerConfig = options.optimizer ?? {};
    this.deriveWith = options.deriveWith ?? inPlace;
    this.onStep = options.onStep;
    this.rank = options.clientRank || undefined;
    this.adapterInstance = this.attach(this.rank);
    this.signature(); // while still where derived state is computed (see `deriveWith`)
    this.optimizer = this.newOptimizer();
  }

  /** Builds the base (checkpoint, in-memory weights, or a fresh seeded model) and attaches the adapter. */
  static async create(options: ClientTrainerOptions): Promise<ClientTrainer> {
    const derive = options.deriveWith ?? inPlace;
    if (options.run.base && options.baseCheckpoint === undefined && !options.baseWeights) {
      // A seeded base would train, then fail every signature check: say what is missing instead.
      throw new FedpeftError(
        'CHECKPOINT_MISMATCH',
        `the run trains on base checkpoint sha256 ${options.run.base.sha256}; give the trainer that checkpoint`,
      );
    }
    const model =
      options.baseCheckpoint !== undefined
        ? await loadBaseCheckpoint(options.baseCheckpoint)
        : await derive(() => ClientTrainer.freshBase(options));
    return derive(() => ClientTrainer.around(model, options));
  }

  private static around(model: CheckpointableModel, options: ClientTrainerOptions): ClientTrainer {
    const { run } = options;
    if (options.baseCheckpoint !== undefined) {
      try {
        checkBaseMatchesRun(model, run, `base checkpoint ${options.baseCheckpoint}`);
      } catch (err) {
        model.dispose();
        throw err;
      }
    }
    try {
      return new ClientTrainer(model, options);
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  private static freshBase(options: ClientTrainerOptions): CheckpointableModel {
    const { run } = options;
    expectedModelConfig(run); // unknown model names fail with the list of valid ones
    const model = createModel(run.model, { seed: run.seed, ...(run.modelConfig ?? {}) });
    if (options.baseWeights) {
      try {
        assignParameters(model, options.baseWeights, 'the base weights');
      } catch (err) {
        model.dispose();
        throw err;
      }
    }
    return model;
  }

  /**
   * The adapter's derived-state signature (what a Join carries), computed once per attach, right after it:
   * the computation reads the derived tensors synchronously, so it is done where they were derived. It is
   * the signature of link 0 (an attach always starts there) and stays so when a chained method moves to a
   * later link: the coordinator's reference is link 0's, and a client re-joining mid-run must still match
   * it (docs/protocol.md, "Derived-state signatures").
   */
  signature(): Float32Array {
    const adapter = this.adapter;
    const cached = this.signatureCache;
    if (cached && cached.adapter === adapter) return cached.value;
    const value = adapter.derived().size > 0 ? adapter.signature() : new Float32Array(0);
    this.signatureCache = { adapter, value };
    return value;
  }

  get adapter(): Adapter {
    return this.adapterInstance;
  }

  /** Shapes of the shared tensors (what the coordinator's global state must match). */
  sharedShapes(): Map<string, number[]> {
    return new Map([...this.adapter.shared()].map(([name, t]) => [name, [...t.shape]]));
  }

  /** The aggregation rule of every shared tensor. */
  aggregationRules(): Map<string, AggregationRule> {
    return new Map([...this.adapter.shared().keys()].map((name) => [name, this.adapter.aggregation(name)]));
  }

  /** The personal copy (global + local fine-tuning) of the last round, or null before any. */
  personal(): HostTensorMap | null {
    return this.personalCopy;
  }

  get numExamples(): number {
    return this.data.numExamples;
  }

  /** Replace the shared tensors (a global aggregate arriving). Names and shapes must match exactly. */
  setShared(incoming: HostTensorMap): void {
    this.withFitted(incoming, 'the global state', (tensors) => this.adapter.setShared(tensors));
  }

  /** Folds the base contains (stateful methods; see `Adapter.foldCount`). */
  get foldCount(): number {
    return this.adapter.foldCount;
  }

  /**
   * Folds entry `foldCount` of the run's fold history into the base (`Adapter.applyFold`). Names and shapes
   * are checked before anything changes: a fold that does not fit fails with SHAPE_MISMATCH and leaves the
   * base as it was.
   */
  applyFold(fold: HostTensorMap): void {
    this.assertAlive();
    this.withFitted(fold, `fold ${this.foldCount}`, (tensors) => this.adapter.applyFold(tensors));
    this.signatureCache = null;
  }

  /** Checks `incoming` against the shared shapes and hands device copies to `use` (disposed afterwards). */
  private withFitted(
    incoming: HostTensorMap,
    what: string,
    use: (tensors: Map<string, tf.Tensor>) => void,
  ): void {
    const expected = this.sharedShapes();
    // A client of rank r_k with per-client factors (HetLoRA) takes the first r_k entries of the r_max global.
    const values = new Map(incoming);
    for (const [name, shape] of expected) {
      const v = values.get(name);
      const rule = v ? this.adapter.aggregation(name) : undefined;
      if (
        v &&
        rule &&
        'axis' in rule &&
        v.shape.length === shape.length &&
        v.shape[rule.axis]! > shape[rule.axis]!
      )
        values.set(name, prefixAlong(v, rule.axis, shape[rule.axis]!));
    }
    const problems: string[] = [];
    for (const [name, shape] of expected) {
      const v = values.get(name);
      if (!v) problems.push(`missing ${name}`);
      else if (!sameShape(v.shape, shape))
        problems.push(`${name} has shape ${JSON.stringify(v.shape)}, expected ${JSON.stringify(shape)}`);
    }
    for (const name of values.keys()) if (!expected.has(name)) problems.push(`unexpected tensor ${name}`);
    if (problems.length > 0) {
      throw new FedpeftError(
        'SHAPE_MISMATCH',
        `${what} does not fit this client's ${this.run.method} adapter: ${problems.join('; ')}`,
      );
    }
    const tensors = new Map([...values].map(([name, h]) => [name, fromHost(h)]));
    try {
      use(tensors);
    } finally {
      tf.dispose([...tensors.values()]);
    }
  }

  /** Validation metrics of the adapter as it is now (asynchronous reads: browser GPU backends cannot read synchronously). */
  evaluate(): Promise<ModelMetrics> {
    return evaluateModelAsync(this.model, disposing(this.data.validationBatches()));
  }

  /** Validation metrics with `shared` swapped in, restoring the current values afterwards. */
  async evaluateWith(shared: HostTensorMap): Promise<ModelMetrics> {
    const saved = await this.sharedValues();
    this.setShared(shared);
    try {
      return await this.evaluate();
    } finally {
      this.setShared(saved);
    }
  }

  /** Host copies of the current shared tensors. */
  async sharedValues(): Promise<HostTensorMap> {
    const out: HostTensorMap = new Map();
    for (const [name, t] of this.adapter.shared()) out.set(name, await toHostAsync(t));
    return out;
  }

  /**
   * One round: start from `global` (null keeps the current shared values, e.g. the initial adapter),
   * train `localSteps`, and return the shared tensors to upload. Leaves the personal copy in the adapter.
   * Yields to the event loop between steps (a long round must not starve heartbeats); `onProgress` gets the
   * fraction of steps done.
   */
  async train(
    round: LocalRound,
    global: HostTensorMap | null,
    onProgress?: (fraction: number) => void,
  ): Promise<LocalUpdate> {
    this.assertAlive();
    const { localSteps, batchSize, learningRate } = round;
    if (!Number.isInteger(localSteps) || localSteps < 1)
      throw new FedpeftError(
        'INVALID_INSTRUCTION',
        `local_steps must be a positive integer, got ${localSteps}`,
      );
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new FedpeftError(
        'INVALID_INSTRUCTION',
        `batch_size must be a positive integer, got ${batchSize}`,
      );
    if (!(learningRate > 0) || !Number.isFinite(learningRate))
      throw new FedpeftError('INVALID_INSTRUCTION', `learning_rate must be > 0, got ${learningRate}`);
    const started = performance.now();
    await this.ensureRank(round.clientRank || undefined);
    if (global) this.setShared(global);
    // Only chained methods have links (every core adapter has a `setLink`; `currentLink` says if it means anything).
    if (round.linkIndex !== undefined && this.adapter.currentLink !== undefined && this.adapter.setLink) {
      this.adapter.setLink(round.linkIndex);
    }
    const start = await this.sharedValues();
    const globalMetrics = (round.evaluateGlobal ?? true) ? await this.evaluate() : null;

    const variables = this.adapter.trainableVariables();
    const mu = round.proximalMu ?? 0;
    const proximal = mu > 0 ? new ProximalTerm(mu) : null;
    proximal?.setReference(variables);
    this.optimizer.learningRate = learningRate;
    const rng = new Rng(this.run.seed).fork(`train:${this.label}:${round.roundId}`);
    let lossSum = 0;
    let lossCount = 0;
    try {
      for (let step = 0; step < localSteps; step++) {
        const loss = await this.step(rng, batchSize, variables, proximal);
        this.onStep?.({ roundId: round.roundId, step: step + 1, steps: localSteps, loss });
        if (Number.isFinite(loss)) {
          lossSum += loss;
          lossCount++;
        }
        onProgress?.((step + 1) / (localSteps + this.personalSteps));
        await yieldToEventLoop();
        this.assertAlive();
      }
    } finally {
      proximal?.dispose();
    }
    const shared = await this.sharedValues();
    for (let step = 0; step < this.personalSteps; step++) await this.step(rng, batchSize, variables, null);
    this.personalCopy = this.personalSteps > 0 ? await this.sharedValues() : shared;
    const personalMetrics = (round.evaluatePersonal ?? true) ? await this.evaluate() : null;
    return {
      roundId: round.roundId,
      shared,
      numExamples: this.numExamples,
      trainedExtents: this.trainedExtents(shared),
      norms: this.aggregationNorms(),
      start,
      metrics: {
        trainLoss: lossCount > 0 ? lossSum / lossCount : null,
        steps: localSteps,
        computeMs: Math.round(performance.now() - started),
        globalValLoss: globalMetrics?.loss ?? null,
        globalValPpl: globalMetrics?.perplexity ?? null,
        personalValLoss: personalMetrics?.loss ?? null,
        personalValPpl: personalMetrics?.perplexity ?? null,
        ...(globalMetrics?.accuracy != null
          ? { globalValAccuracy: globalMetrics.accuracy, globalValMacroF1: globalMetrics.macroF1 }
          : {}),
        ...(personalMetrics?.accuracy != null
          ? { personalValAccuracy: personalMetrics.accuracy, personalValMacroF1: personalMetrics.macroF1 }
          : {}),
      },
    };
  }

  private async step(
    rng: Rng,
    batchSize: number,
    variables: tf.Variable[],
    proximal: ProximalTerm | null,
  ): Promise<number> {
    const batch = this.data.trainBatch(batchSize, rng);
    try {
      return await trainStepAsync(this.model, batch, variables, this.optimizer, proximal ? { proximal } : {});
    } finally {
      disposeBatch(batch);
    }
  }

  /** The per-tensor norms HetLoRA's `zero-pad-norm-weighted` rule weights by (nothing for other rules). */
  private aggregationNorms(): Map<string, number> {
    const out = new Map<string, number>();
    for (const name of this.adapter.shared().keys()) {
      if (this.adapter.aggregation(name).kind === 'zero-pad-norm-weighted')
        out.set(name, this.adapter.aggregationNorm(name));
    }
    return out;
  }

  /** Per shared tensor, the wire's `extent` list: the full shape with the rule's axis cut to the trained prefix. */
  private trainedExtents(shared: HostTensorMap): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const [name, h] of shared) {
      const rule = this.adapter.aggregation(name);
      const extent = [...h.shape];
      if ('axis' in rule)
        extent[rule.axis] = Math.min(extent[rule.axis] ?? 0, this.adapter.trainedExtent(name));
      out.set(name, extent);
    }
    return out;
  }

  // ---- private state -------------------------------------------------------------------------------------

  /** Host copies of what must survive a restart. */
  async exportPrivateState(): Promise<TrainerPrivateState> {
    const priv: HostTensorMap = new Map();
    for (const [name, t] of this.adapter.private()) priv.set(name, await toHostAsync(t));
    const keys = this.stableKeys();
    const optimizer: HostTensorMap = new Map();
    const state = this.optimizer.exportState();
    try {
      for (const [key, t] of state) {
        const match = /^adamw\/([mv])\/(.+)$/.exec(key);
        if (key === STEP_KEY) optimizer.set(key, await toHostAsync(t));
        else if (match) {
          const stable = keys.byVariableName.get(match[2] as string);
          if (stable) optimizer.set(`adamw/${match[1]}/${stable}`, await toHostAsync(t));
        }
      }
    } finally {
      tf.dispose([...state.values()]);
    }
    return { private: priv, optimizer, personal: this.personalCopy };
  }

  /** Restores an exported state (a restarted client). Optimizer moments of tensors that no longer exist are dropped. */
  importPrivateState(state: Partial<TrainerPrivateState>): void {
    if (state.private && state.private.size > 0) {
      const tensors = new Map([...state.private].map(([name, h]) => [name, fromHost(h)]));
      try {
        this.adapter.setPrivate(tensors);
      } finally {
        tf.dispose([...tensors.values()]);
      }
    }
    if (state.optimizer && state.optimizer.has(STEP_KEY)) {
      const keys = this.stableKeys();
      const tensors = new Map<string, tf.Tensor>();
      try {
        for (const [key, h] of state.optimizer) {
          const match = /^adamw\/([mv])\/(.+)$/.exec(key);
          if (key === STEP_KEY) tensors.set(key, fromHost(h));
          else if (match) {
            const variableName = keys.byStableKey.get(match[2] as string);
            if (variableName) tensors.set(`adamw/${match[1]}/${variableName}`, fromHost(h));
          }
        }
        this.optimizer.importState(tensors);
      } finally {
        tf.dispose([...tensors.values()]);
      }
    }
    if (state.personal !== undefined) this.personalCopy = state.personal;
  }

  /**
   * tfjs variable names get `#n` suffixes when several models live in one process, so optimizer state is
   * stored under the adapter's own tensor names, which are the same in every process.
   */
  private stableKeys(): { byVariableName: Map<string, string>; byStableKey: Map<string, string> } {
    const byVariableName = new Map<string, string>();
    const byStableKey = new Map<string, string>();
    const trainable = new Set(this.adapter.trainableVariables());
    for (const [prefix, map] of [
      ['shared', this.adapter.shared()],
      ['private', this.adapter.private()],
    ] as const) {
      for (const [name, t] of map) {
        if (!trainable.has(t as tf.Variable)) continue;
        const stable = `${prefix}/${name}`;
        byVariableName.set((t as tf.Variable).name, stable);
        byStableKey.set(stable, (t as tf.Variable).name);
      }
    }
    return { byVariableName, byStableKey };
  }

  // ---- adapter lifecycle ---------------------------------------------------------------------------------

  private attach(clientRank: number | undefined): Adapter {
    return attachAdapter(this.model, this.run.method, this.run.methodConfig ?? {}, {
      seed: this.run.seed,
      ...(clientRank !== undefined ? { clientRank } : {}),
    });
  }

  private newOptimizer(): AdamW {
    const adapter = this.adapterInstance;
    return new AdamW(this.optimizerConfig, { learningRateScale: (v) => adapter.learningRateScale(v) });
  }

  /** A new nested rank re-attaches the adapter (keeping shared values; optimizer moments start over). */
  private async ensureRank(rank: number | undefined): Promise<void> {
    if (rank === this.rank) return;
    const shared = await this.sharedValues();
    const priv: HostTensorMap = new Map();
    for (const [name, t] of this.adapter.private()) priv.set(name, await toHostAsync(t));
    this.adapter.detach();
    this.optimizer.dispose();
    this.adapterInstance = await this.deriveWith(() => {
      const adapter = this.attach(rank);
      this.signatureCache = null;
      this.adapterInstance = adapter;
      this.signature();
      return adapter;
    });
    this.rank = rank;
    this.optimizer = this.newOptimizer();
    this.setShared(shared);
    const fits = [...this.adapter.private()].every(([name, t]) => {
      const h = priv.get(name);
      return h !== undefined && sameShape(h.shape, t.shape);
    });
    if (fits && priv.size > 0) this.importPrivateState({ private: priv });
  }

  private assertAlive(): void {
    if (this.disposed) throw new FedpeftError('DISPOSED', 'this client trainer was disposed');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.adapter.detach();
    this.optimizer.dispose();
    this.model.dispose();
  }
}
