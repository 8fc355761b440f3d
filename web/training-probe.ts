/**
 * A short, fully seeded adapter training run that behaves the same in Node and in a browser: create a zoo GPT,
 * attach an adapter, run AdamW steps on byte-level batches of a fixed text, and report losses, per-step times
 * and the trained shared tensors. It is what the browser tests compare against Node's wasm run for the same
 * seed, what the benchmark times per backend, and what the `/join` page can run to show a person that their
 * device trains.
 *
 * Only `shared/` is imported, so the file bundles for the browser. Every tensor it creates is disposed; the
 * result reports the tensor count before and after so a leak shows up on every platform.
 *
 * Why the step reads the loss asynchronously (`trainStepAsync`, not `trainStep`, which uses `dataSync`): on
 * tfjs-backend-webgpu a synchronous read goes through an OffscreenCanvas copy that in headless Chromium on
 * SwiftShader returns zeros and loses the GPU device, and in Node (Dawn) has no OffscreenCanvas at all; a
 * browser tab must not block its main thread on a GPU read anyway. The maths and the update are the product's
 * (`model.loss`, `tf.variableGrads`, `AdamW`). For the same reason `deriveOn` can run model creation and
 * `attachAdapter` (PiCa's SVD reads its matrices synchronously) on a CPU-side backend; the tensors then move
 * to the training backend on first use.
 */
import { tf } from '../shared/tensor/tf.ts';
import { Rng } from '../shared/tensor/rng.ts';
import { createModel, GPT_SIZES, type GptSizeName } from '../shared/model/zoo.ts';
import { attachAdapter } from '../shared/adapters/index.ts';
import { AdamW } from '../shared/train/adamw.ts';
import { trainStepAsync } from '../shared/train/train-step.ts';
import type { Gpt } from '../shared/model/gpt.ts';
import { buildTokenStream, disposeBatch, sampleLmBatch } from '../shared/data/lm-batches.ts';
import { FedpeftError } from '../shared/errors.ts';

/** The training text: real English prose with enough repetition that a few steps visibly lower the loss. */
export const PROBE_TEXT = [
  'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse,',
  'and nothing particular to interest me on shore, I thought I would sail about a little and see the watery',
  'part of the world. It is a way I have of driving off the spleen and regulating the circulation.',
].join(' ');

export interface TrainingProbeOptions {
  /** A GPT from the zoo. Default `test-gpt` (tests); the benchmark uses `tiny-gpt`. */
  model?: GptSizeName;
  /** An adapter method from the registry. Default `pica`. */
  method?: string;
  /** The method's config (validated by its schema). Default `{ r: 8 }`. */
  adapterConfig?: Record<string, unknown>;
  /** Seeds the base weights, the adapter's derived state and the batches. Default 1. */
  seed?: number;
  /** Training steps. Default 8. */
  steps?: number;
  /** Windows per batch. Default 4. */
  batchSize?: number;
  /** AdamW learning rate. Default 1e-2 (high, so a handful of steps show a clear drop). */
  learningRate?: number;
  /**
   * Create the model and attach the adapter on this backend, then train on the backend that was active when
   * the probe started. Needed on webgpu, whose synchronous reads fail (see above). Default: the active one.
   */
  deriveOn?: 'wasm' | 'cpu';
}

export interface SharedTensorReport {
  shape: number[];
  values: number[];
}

export interface TrainingProbeResult {
  /** The tfjs backend the run used (`wasm`, `webgl`, `webgpu`, `cpu`, ...). */
  backend: string;
  model: GptSizeName;
  method: string;
  /** Loss (nats per token) of each step's batch, before that step's update. */
  losses: number[];
  /** Wall time of each step, milliseconds (step 0 includes shader compilation / kernel warm-up). */
  stepMs: number[];
  /** Attaching the adapter (PiCa: the randomized SVD of every adapted kernel), milliseconds. */
  attachMs: number;
  /** The adapter's shared tensors after training, by name (what a client would upload). */
  shared: Record<string, SharedTensorReport>;
  trainableParameters: number;
  /** `tf.memory().numTensors` before the run and after everything it created was disposed. */
  tensorsBefore: number;
  tensorsAfter: number;
}

const now = (): number => globalThis.performance.now();

/** Run the probe on whatever backend is active (select it first). */
export async function runTrainingProbe(options: TrainingProbeOptions = {}): Promise<TrainingProbeResult> {
  const tensorsBefore = tf.memory().numTensors;
  const result = await train(options);
  // Counted after train() returned: by then its `finally` has freed the model, adapter and optimizer.
  return { ...result, tensorsBefore, tensorsAfter: tf.memory().numTensors };
}

async function train(
  options: TrainingProbeOptions,
): Promise<Omit<TrainingProbeResult, 'tensorsBefore' | 'tensorsAfter'>> {
  const modelName = options.model ?? 'test-gpt';
  if (!Object.hasOwn(GPT_SIZES, modelName)) {
    throw new FedpeftError(
      'UNKNOWN_MODEL',
      `training probe: '${String(modelName)}' is not a GPT in the zoo (valid: ${Object.keys(GPT_SIZES).join(', ')})`,
    );
  }
  const method = options.method ?? 'pica';
  const seed = options.seed ?? 1;
  const steps = options.steps ?? 8;
  const batchSize = options.batchSize ?? 4;
  const trainOn = tf.getBackend();
  const switchBackend = options.deriveOn !== undefined && options.deriveOn !== trainOn;
  if (switchBackend) await setBackend(options.deriveOn as string);

  const rng = new Rng(seed).fork('training-probe');
  let attachMs = 0;
  let model: Gpt;
  let adapter: ReturnType<typeof attachAdapter> | null = null;
  let optimizer: AdamW | null = null;
  try {
    model = createModel(modelName, { seed });
  } catch (err) {
    if (switchBackend) await setBackend(trainOn);
    throw err;
  }
  try {
    const t0 = now();
    try {
      adapter = attachAdapter(model, method, options.adapterConfig ?? { r: 8 }, { seed });
    } finally {
      if (switchBackend) await setBackend(trainOn);
    }
    attachMs = now() - t0;
    const a = adapter;
    optimizer = new AdamW(
      { learningRate: options.learningRate ?? 1e-2, weightDecay: 0 },
      { learningRateScale: (v) => a.learningRateScale(v) },
    );
    const variables = adapter.trainableVariables();
    const stream = buildTokenStream([PROBE_TEXT]);
    const batchRng = rng.fork('batches');
    const losses: number[] = [];
    const stepMs: number[] = [];
    for (let i = 0; i < steps; i++) {
      const batch = sampleLmBatch(stream, { batchSize, contextLength: model.config.contextLength }, batchRng);
      try {
        const s0 = now();
        losses.push(await trainStepAsync(model, batch, variables, optimizer));
        stepMs.push(now() - s0);
      } finally {
        disposeBatch(batch);
      }
      // Let the page paint and the event loop breathe between steps (a browser tab must stay responsive).
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const shared: Record<string, SharedTensorReport> = {};
    for (const [name, t] of adapter.shared()) {
      shared[name] = { shape: [...t.shape], values: Array.from(await t.data()) };
    }
    return {
      backend: tf.getBackend(),
      model: modelName,
      method,
      losses,
      stepMs,
      attachMs,
      shared,
      trainableParameters: variables.reduce((n, v) => n + v.size, 0),
    };
  } finally {
    optimizer?.dispose();
    adapter?.detach();
    model.dispose();
  }
}

async function setBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) {
    throw new FedpeftError('BACKEND_UNAVAILABLE', `training probe: backend '${name}' failed to initialise`);
  }
  await tf.ready();
}
