/**
 * The browser entry point of fedpeft's web bundle (built by `web/build.ts`). It exposes one global,
 * `window.fedpeft`, so a page (the coordinator's `/join` page, a test driving headless Chromium) can choose a
 * backend, train an adapter and read timings without knowing how the bundle is laid out.
 *
 * The wasm backend fetches its `.wasm` binaries at run time; they are emitted next to this bundle and located
 * with `setWasmPaths`, relative to the module's own URL, so the bundle works under any path prefix.
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { tf } from '../shared/tensor/tf.ts';
import {
  candidateOrder,
  selectBackend,
  type BackendName,
  type BackendReport,
} from '../shared/tensor/backend.ts';
import { listAdapterMethods } from '../shared/adapters/index.ts';
import { GPT_SIZES } from '../shared/model/zoo.ts';
import { runTrainingProbe, type TrainingProbeOptions, type TrainingProbeResult } from './training-probe.ts';
import { mountJoinPage, type JoinStatus } from './join-page.ts';

setWasmPaths(new URL('./', import.meta.url).href);

/** The backends a browser can offer, in order of preference (webgpu -> webgl -> wasm -> cpu). */
function browserBackends(): BackendName[] {
  return candidateOrder();
}

export interface FedpeftWeb {
  /** Probe every browser backend (each reported available or not, with the reason) and activate the best. */
  probeBackends(): Promise<BackendReport>;
  /** Activate one backend; throws a FedpeftError naming the reason when it is unavailable. */
  useBackend(name: BackendName): Promise<BackendReport>;
  /** A seeded adapter training run on the active backend (see web/training-probe.ts). */
  runTrainingProbe(options?: TrainingProbeOptions): Promise<TrainingProbeResult>;
  /** What this bundle contains, for a page to offer choices. */
  info(): { backends: BackendName[]; models: string[]; methods: string[]; tfjs: string };
  /** Live tensor count of the active backend (leak checks from outside the page). */
  numTensors(): number;
  /** Wires up the `/join` page (its index.html calls this once). */
  mountJoinPage(doc: Document): void;
  /** The join page's live state (null on other pages): what tests and people watching the page read. */
  joinStatus(): JoinStatus | null;
}

let joinPage: { status: () => JoinStatus } | null = null;

const api: FedpeftWeb = {
  probeBackends: () => selectBackend({ probeAll: true }),
  useBackend: (name) => selectBackend({ force: name }),
  runTrainingProbe: (options) => runTrainingProbe(options),
  info: () => ({
    backends: browserBackends(),
    models: Object.keys(GPT_SIZES),
    methods: listAdapterMethods().map((m) => m.name),
    tfjs: tf.version_core,
  }),
  numTensors: () => tf.memory().numTensors,
  mountJoinPage: (doc) => {
    joinPage ??= mountJoinPage(doc);
  },
  joinStatus: () => joinPage?.status() ?? null,
};

(globalThis as unknown as { fedpeft: FedpeftWeb }).fedpeft = api;
