/**
 * Real `ClientRuntime`s (trainer, store, protocol) connected to a coordinator through the in-process transport,
 * for end-to-end tests of the round protocol without sockets. Every committed update and log line is kept.
 */
import type { Coordinator } from '../../server/coordinator.ts';
import { connectInProcess } from '../../server/transport/in-process.ts';
import {
  ClientRuntime,
  type ClientLogger,
  type ClientRuntimeOptions,
  type CommittedUpdate,
} from '../../client/runtime.ts';
import { MemoryStateStore } from '../../client/memory-state-store.ts';
import { LocalLmData } from '../../client/local-lm-data.ts';
import { ClientTrainer, runContextLength, type ClientRunConfig } from '../../client/trainer.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';
import { syntheticDocuments } from './client-synthetic-data.ts';
import { TOKEN } from './coordinator-fixture.ts';

export interface InProcessClient {
  index: number;
  runtime: ClientRuntime;
  commits: Map<number, CommittedUpdate>;
  logs: Array<Record<string, unknown>>;
  /** The client's current connection (tests cut it). */
  link(): FrameLink | undefined;
}

export function inProcessClient(
  coordinator: Coordinator,
  index: number,
  options: {
    run?: ClientRunConfig;
    /** Sees every frame the client receives; return false to swallow it (tests simulate failures here). */
    inspect?: (frame: Uint8Array | ArrayBuffer, client: InProcessClient) => boolean;
  } & Partial<Pick<ClientRuntimeOptions, 'maxRank' | 'localDp' | 'noiseSource' | 'onUploadProgress'>> = {},
): InProcessClient {
  const commits = new Map<number, CommittedUpdate>();
  const logs: Array<Record<string, unknown>> = [];
  let link: FrameLink | undefined;
  const logger: ClientLogger = { log: (level, event, fields) => logs.push({ level, event, ...fields }) };
  const { run, inspect, ...rest } = options;
  const wrap = (inner: FrameLink): FrameLink =>
    inspect
      ? {
          send: (f) => inner.send(f),
          onFrame: (listener) => inner.onFrame((f) => (inspect(f, client) ? listener(f) : undefined)),
          onClose: (listener) => inner.onClose(listener),
          close: (reason) => inner.close(reason),
          get isOpen() {
            return inner.isOpen;
          },
          label: inner.label,
        }
      : inner;
  const runtime = new ClientRuntime({
    connector: {
      label: 'in-process',
      connect: () => Promise.resolve((link = wrap(connectInProcess(coordinator, `client-${index}`)))),
    },
    authToken: TOKEN,
    clientName: `client-${index}`,
    store: new MemoryStateStore(),
    ...(run ? { run } : {}),
    logger,
    backoff: { initialMs: 10, maxMs: 50 },
    createTrainer: (r) =>
      ClientTrainer.create({
        run: r,
        data: LocalLmData.fromDocuments(syntheticDocuments(30 + index), r.seed, `c${index}`, {
          contextLength: runContextLength(r),
          maxEvalWindows: 2,
        }),
        label: `client-${index}`,
      }),
    onRoundCommitted: (round, c) => commits.set(round, c),
    ...rest,
  });
  const client: InProcessClient = { index, runtime, commits, logs, link: () => link };
  return client;
}
