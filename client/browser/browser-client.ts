/**
 * A federated client in a browser tab: the same `ClientRuntime` (protocol, resume, error policy) and
 * `ClientTrainer` (adapter, local training) as `fedpeft join`, over socket.io-client, with its private state
 * in IndexedDB. What differs from Node is only where tensors live:
 *
 *   - Training reads every value asynchronously (the trainer's round path does), because WebGPU cannot read
 *     synchronously without blocking the page (and on software adapters not at all).
 *   - PiCa's projectors come from an SVD that reads its matrices synchronously, and the derived-state
 *     signature reads them too: on WebGPU, model creation and adapter attach run on wasm (`deriveOffWebGpu`),
 *     and the tensors move to the GPU on first use.
 *
 * The client counts every byte its connections send and receive, so a page can show what it contributed.
 */
import { tf } from '../../shared/tensor/tf.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { socketIoConnector, type Connector } from '../connection.ts';
import { LocalLmData } from '../local-lm-data.ts';
import {
  ClientRuntime,
  type ClientLogLevel,
  type ClientRunOutcome,
  type CommittedUpdate,
} from '../runtime.ts';
import {
  ClientTrainer,
  runContextLength,
  type ClientRunConfig,
  type DeriveWith,
  type TrainingStepReport,
} from '../trainer.ts';
import type { IndexedDbStateStore } from './indexeddb-state-store.ts';
import { textDocuments } from './text-documents.ts';

export interface BrowserClientOptions {
  /** The coordinator (the page's own origin when served at `/join`). */
  serverUrl: string;
  token: string;
  clientName: string;
  store: IndexedDbStateStore;
  /** The person's training text and a label for it (the file name, or `sample`). */
  text: string;
  textLabel: string;
  /**
   * The run, when known before joining (the `/join` route's `run.json`): the first Join then carries the
   * derived-state signature. Otherwise the runtime learns it from the Welcome.
   */
  run?: ClientRunConfig;
  /** Extra steps that refine only the personal adapter. Default 0. */
  personalSteps?: number;
  events?: BrowserClientEvents;
}

export interface BrowserClientEvents {
  /** Every structured log line of the runtime (joined, round-trained, upload-started, ...). */
  log?(level: ClientLogLevel, event: string, fields: Record<string, unknown>): void;
  step?(report: TrainingStepReport): void;
  uploadProgress?(acknowledged: number, total: number): void;
  committed?(roundId: number, update: CommittedUpdate): void;
  traffic?(traffic: Readonly<Traffic>): void;
}

export interface Traffic {
  bytesSent: number;
  bytesReceived: number;
  framesSent: number;
  framesReceived: number;
}

export interface BrowserClient {
  readonly runtime: ClientRuntime;
  readonly traffic: Readonly<Traffic>;
  /** Settles when the run completes (or the client stops or fails); the trainer is disposed by then. */
  readonly done: Promise<ClientRunOutcome>;
  stop(reason?: string): void;
}

/**
 * Runs model creation and adapter attach on wasm while the training backend is WebGPU (whose synchronous
 * reads PiCa's SVD needs); elsewhere in place. Nothing else may use tfjs during the call, which holds for a
 * client: it derives before training starts, or between steps when a new nested rank re-attaches.
 */
export const deriveOffWebGpu: DeriveWith = async <T>(compute: () => T): Promise<T> => {
  const trainOn = tf.getBackend();
  if (trainOn !== 'webgpu') return compute();
  await switchTo('wasm');
  try {
    return compute();
  } finally {
    await switchTo(trainOn);
  }
};

async function switchTo(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) {
    throw new FedpeftError('BACKEND_UNAVAILABLE', `backend '${name}' failed to initialise`);
  }
  await tf.ready();
}

function byteLength(frame: Uint8Array | ArrayBuffer): number {
  return frame.byteLength;
}

/** Wraps a connector so every frame of every connection is counted. */
export function countingConnector(inner: Connector, traffic: Traffic, onChange?: () => void): Connector {
  const count = (link: FrameLink): FrameLink => ({
    get label() {
      return link.label;
    },
    get isOpen() {
      return link.isOpen;
    },
    send(frame) {
      if (link.isOpen) {
        traffic.bytesSent += byteLength(frame);
        traffic.framesSent++;
        onChange?.();
      }
      link.send(frame);
    },
    onFrame(listener) {
      return link.onFrame((frame) => {
        traffic.bytesReceived += byteLength(frame);
        traffic.framesReceived++;
        onChange?.();
        listener(frame);
      });
    },
    onClose: (listener) => link.onClose(listener),
    close: (reason) => link.close(reason),
  });
  return { label: inner.label, connect: async () => count(await inner.connect()) };
}

/** Starts the client: it joins (or resumes its stored session), trains every round it is given, and uploads. */
export function startBrowserClient(options: BrowserClientOptions): BrowserClient {
  const events = options.events ?? {};
  const traffic: Traffic = { bytesSent: 0, bytesReceived: 0, framesSent: 0, framesReceived: 0 };
  const documents = textDocuments(options.textLabel, options.text);
  const connector = countingConnector(socketIoConnector(options.serverUrl), traffic, () =>
    events.traffic?.(traffic),
  );
  const runtime = new ClientRuntime({
    connector,
    authToken: options.token,
    clientName: options.clientName,
    store: options.store,
    ...(options.run ? { run: options.run } : {}),
    logger: { log: (level, event, fields) => events.log?.(level, event, fields ?? {}) },
    onUploadProgress: (acknowledged, total) => events.uploadProgress?.(acknowledged, total),
    onRoundCommitted: (round, update) => events.committed?.(round, update),
    createTrainer: (run) =>
      ClientTrainer.create({
        run,
        data: LocalLmData.fromDocuments(documents, run.seed, options.textLabel, {
          contextLength: runContextLength(run),
        }),
        label: options.clientName,
        personalSteps: options.personalSteps ?? 0,
        deriveWith: deriveOffWebGpu,
        onStep: (report) => events.step?.(report),
      }),
  });
  const done = runtime.run().finally(() => runtime.dispose());
  return {
    runtime,
    traffic,
    done,
    stop: (reason) => runtime.stop(reason),
  };
}

/** Bytes of an update as uploaded (float32 unless the run asked for float16). */
export function updateBytes(shared: HostTensorMap, float16 = false): number {
  let n = 0;
  for (const t of shared.values()) n += t.data.length * (float16 ? 2 : 4);
  return n;
}
