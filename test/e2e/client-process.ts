/**
 * One real client in its own process, for the client end-to-end tests: a `ClientRuntime` over socket.io with
 * a `FileStateStore`, training PiCa on a few synthetic documents. Every log line and every committed update
 * (its shared tensors and weight, for the offline aggregate check) is printed to stdout as one JSON line.
 *
 * Usage: node --import tsx test/e2e/client-process.ts '<json options>'
 *   { url, token, name, stateDir, dataSeed, crashAfterChunks?, run? }
 * `crashAfterChunks`: SIGKILL this process as soon as that many upload chunks are acknowledged (a crash
 * mid-upload, to test that a restarted client resumes from the coordinator's acknowledged prefix).
 */
import { useBackend } from '../../shared/tensor/backend.ts';
import { ClientRuntime } from '../../client/runtime.ts';
import { socketIoConnector } from '../../client/connection.ts';
import { FileStateStore } from '../../client/file-state-store.ts';
import { LocalLmData } from '../../client/local-lm-data.ts';
import { ClientTrainer, runContextLength, type ClientRunConfig } from '../../client/trainer.ts';
import { syntheticDocuments } from './client-synthetic-data.ts';

interface Options {
  url: string;
  token: string;
  name: string;
  stateDir: string;
  dataSeed: number;
  crashAfterChunks?: number;
  /** The run, when the test tells the client up front (its first Join then carries signatures). */
  run?: ClientRunConfig;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (record: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(record)}\n`);

async function main(): Promise<void> {
  await useBackend('cpu');
  const documents = syntheticDocuments(options.dataSeed);
  const runtime = new ClientRuntime({
    connector: socketIoConnector(options.url),
    authToken: options.token,
    clientName: options.name,
    store: new FileStateStore(options.stateDir),
    backoff: { initialMs: 50, maxMs: 500 },
    ...(options.run ? { run: options.run } : {}),
    logger: { log: (level, event, fields) => print({ level, event, ...fields }) },
    createTrainer: (run) =>
      ClientTrainer.create({
        run,
        data: LocalLmData.fromDocuments(documents, run.seed, options.name, {
          contextLength: runContextLength(run),
          maxEvalWindows: 4,
        }),
        label: options.name,
      }),
    onUploadProgress: (acknowledged, total) => {
      if (
        options.crashAfterChunks !== undefined &&
        acknowledged >= options.crashAfterChunks &&
        acknowledged < total
      ) {
        print({ event: 'crashing', acknowledged, total });
        process.kill(process.pid, 'SIGKILL');
      }
    },
    onRoundCommitted: (round, committed) =>
      print({
        event: 'committed-update',
        round,
        weight: committed.weight,
        restored: committed.update === null,
        shared: [...committed.shared].map(([name, t]) => [name, t.shape, Array.from(t.data)]),
      }),
  });
  const outcome = await runtime.run();
  print({
    event: 'outcome',
    ...outcome,
    finalGlobal: outcome.finalGlobal
      ? [...outcome.finalGlobal].map(([n, t]) => [n, Array.from(t.data)])
      : null,
  });
  runtime.dispose();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    print({ event: 'fatal', message: (err as Error).message, code: (err as { code?: string }).code });
    process.exit(1);
  },
);
