/**
 * The coordinator of the scale benchmark, alone in its process so its memory is its own: the real
 * `Coordinator` behind the real socket.io server (`startSocketIoServer`), running PiCa on tiny-gpt with the
 * default config except what the benchmark needs (a loopback port, one join token, the round sampling all
 * `clients`, a run directory under the OS temp folder). Journal and checkpoints stay on, as in `fedpeft serve`.
 *
 * Talks JSON lines with the benchmark (`child-process.ts`):
 *   -> { type: 'ready', url, token, bufferutil, openFileLimit, signature: number[], sharedBytes, rssMb }
 *   <- { type: 'start' }                       (every client has joined)
 *   -> { type: 'round', round, roundMs, participants, bytesUp, bytesDown, rssMb }   (per round)
 *   -> { type: 'done', peakRssMb, peakSource, maxSampledRssMb }
 *
 * Usage: node --import tsx bench/net/coordinator-process.ts '{"clients": 100, "rounds": 2}'
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { Coordinator } from '../../server/coordinator.ts';
import type { Logger } from '../../server/logger.ts';
import { describeMethod } from '../../server/method-state.ts';
import { startSocketIoServer } from '../../server/transport/socket-io-server.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { onCommand, reportFatal, tell } from './child-process.ts';

export interface CoordinatorProcessOptions {
  clients: number;
  rounds: number;
}

const TOKEN = 'bench-join-token-0123456789';
const MB = 2 ** 20;

/** Peak resident set of this process so far (Linux: the kernel's high-water mark, VmHWM), in bytes. */
function kernelPeakRss(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The soft limit on open file descriptors (one per client connection), from /proc on Linux. */
function openFileLimit(): number | undefined {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Warnings and errors go to stderr (the benchmark shows them if it fails); the info stream is dropped. */
const logger: Logger = {
  log(level, event, fields = {}) {
    if (level === 'warn' || level === 'error')
      process.stderr.write(`${JSON.stringify({ level, event, ...fields })}\n`);
  },
};

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as CoordinatorProcessOptions;
  await useBackend('cpu');
  const config = parseCoordinatorConfig({
    run: { seed: 7, rounds: options.rounds },
    model: { name: 'tiny-gpt' },
    method: { name: 'pica' },
    strategy: { name: 'fedavg', sampling: { minClients: options.clients } },
    round: { deadlineMs: 600_000 },
    transport: { port: 0 },
    auth: { tokens: [TOKEN] },
  });
  const method = describeMethod({
    model: config.model.name,
    modelConfig: config.model.config,
    method: config.method.name,
    methodConfig: config.method.config,
    seed: config.run.seed,
  });
  const dir = await mkdtemp(join(tmpdir(), 'fedpeft-bench-coord-'));
  const coordinator = await Coordinator.create({ config, method, runId: 'bench', runDir: dir, logger });
  const server = await startSocketIoServer(coordinator, {
    host: '127.0.0.1',
    port: 0,
    adminToken: 'bench-admin-token-0123456789',
    logger,
  });
  let maxSampled = process.memoryUsage.rss();
  const sampler = setInterval(() => (maxSampled = Math.max(maxSampled, process.memoryUsage.rss())), 20);
  coordinator.onRound((s) => {
    tell({
      type: 'round',
      round: s.round,
      roundMs: s.roundMs,
      participants: s.participants,
      bytesUp: s.bytesUp,
      bytesDown: s.bytesDown,
      rssMb: process.memoryUsage.rss() / MB,
    });
  });
  onCommand((command) => {
    if (command.type === 'start') coordinator.start();
  });
  const sharedBytes = [...method.initialShared.values()].reduce((s, t) => s + t.data.byteLength, 0);
  tell({
    type: 'ready',
    url: server.url,
    token: TOKEN,
    bufferutil: server.bufferutil,
    openFileLimit: openFileLimit() ?? null,
    signature: Array.from(method.signature),
    sharedBytes,
    rssMb: process.memoryUsage.rss() / MB,
  });
  await coordinator.whenFinished();
  clearInterval(sampler);
  maxSampled = Math.max(maxSampled, process.memoryUsage.rss());
  const kernel = kernelPeakRss();
  tell({
    type: 'done',
    peakRssMb: (kernel ?? maxSampled) / MB,
    peakSource: kernel === undefined ? 'sampled every 20 ms' : 'VmHWM',
    maxSampledRssMb: maxSampled / MB,
  });
  await coordinator.stop('benchmark over');
  await server.close();
  await rm(dir, { recursive: true, force: true });
  process.exit(0);
}

main().catch(reportFatal);
