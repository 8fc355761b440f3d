/**
 * Entry point of a client worker process (sockets transport): hosts virtual clients and runs the ones the
 * fleet runner assigns each round over real socket.io connections to the coordinator. The base checkpoint is
 * read once here; the partition is recomputed from the scenario (deterministic), so no text crosses the pipe.
 *
 * Every failure is caught and sent back as a message: an uncaught error would reach the wasm backend's
 * handler, which prints its whole minified source.
 */
import { useBackend } from '../../shared/tensor/backend.ts';
import { socketIoConnector } from '../../client/connection.ts';
import { loadBaseWeights } from './base-model.ts';
import { VirtualClientHost } from './virtual-client-host.ts';
import type { FromWorker, ToWorker } from './worker-messages.ts';

let host: VirtualClientHost | undefined;

function send(message: FromWorker): void {
  process.send?.(message);
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'init': {
      await useBackend(message.backend);
      const baseWeights = await loadBaseWeights(message.baseDir);
      host = new VirtualClientHost({
        scenario: message.scenario,
        baseWeights,
        token: message.token,
        serverLabel: message.serverLabel,
      });
      send({ type: 'ready', pid: process.pid });
      return;
    }
    case 'round': {
      if (!host) throw new Error('round before init');
      const connector = socketIoConnector(message.url);
      const reports = await host.runRound(message.assignments, () => connector.connect());
      send({
        type: 'round-done',
        id: message.id,
        reports,
        peakTrainers: host.trainerCounts.peak,
        rssBytes: process.memoryUsage().rss,
      });
      return;
    }
    case 'abort':
      host?.abort(message.reason);
      return;
    case 'exit':
      process.exit(0);
  }
}

process.on('message', (message: ToWorker) => {
  handle(message).catch((err: unknown) =>
    send({ type: 'error', message: (err as Error).stack ?? String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
