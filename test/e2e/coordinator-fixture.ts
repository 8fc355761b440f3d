/** Starts a real coordinator (socket.io on a loopback port, or in-process) with a small test config. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '../../shared/tensor/backend.ts';
import { parseCoordinatorConfig, type CoordinatorConfigInput } from '../../server/config.ts';
import { Coordinator, type CoordinatorOptions } from '../../server/coordinator.ts';
import { MemoryLogger } from '../../server/logger.ts';
import { describeMethod, type MethodState } from '../../server/method-state.ts';
import { startSocketIoServer, type RunningServer } from '../../server/transport/socket-io-server.ts';

export const TOKEN = 'test-join-token-0123456789';

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      // A method's or model's `config` is replaced, not merged: another method has other fields.
      k !== 'config' &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      b &&
      typeof b === 'object' &&
      !Array.isArray(b)
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export const BASE_CONFIG: CoordinatorConfigInput = {
  run: { seed: 7, rounds: 2 },
  model: { name: 'test-gpt' },
  method: { name: 'pica', config: { r: 4, roles: ['q', 'v'] } },
  round: { deadlineMs: 20_000, dropAfterMs: 500 },
  transport: { port: 0, chunkBytes: 16 * 1024, heartbeatIntervalMs: 1_000 },
  auth: { tokens: [TOKEN] },
};

export interface Started {
  coordinator: Coordinator;
  method: MethodState;
  server: RunningServer | undefined;
  url: string;
  dir: string;
  logger: MemoryLogger;
  close(): Promise<void>;
}

export async function startCoordinator(
  overrides: CoordinatorConfigInput = {},
  options: {
    socket?: boolean;
    dir?: string;
    resume?: boolean;
    /** Secure aggregation audit hook (`CoordinatorOptions.onSecAggVectorHeld`). */
    onSecAggVectorHeld?: CoordinatorOptions['onSecAggVectorHeld'];
    /** The filesystem the journal and checkpoints go through (fault injection). */
    storageFs?: CoordinatorOptions['storageFs'];
  } = {},
): Promise<Started> {
  await useBackend('cpu');
  const config = parseCoordinatorConfig(merge(BASE_CONFIG, overrides));
  const method = describeMethod({
    model: config.model.name,
    modelConfig: config.model.config,
    method: config.method.name,
    methodConfig: config.method.config,
    seed: config.run.seed,
  });
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'fedpeft-coord-')));
  const logger = new MemoryLogger();
  const coordinator = await Coordinator.create({
    config,
    method,
    runId: 'test-run',
    runDir: dir,
    logger,
    resume: options.resume ?? false,
    ...(options.onSecAggVectorHeld ? { onSecAggVectorHeld: options.onSecAggVectorHeld } : {}),
    ...(options.storageFs ? { storageFs: options.storageFs } : {}),
  });
  const server =
    options.socket === false
      ? undefined
      : await startSocketIoServer(coordinator, {
          host: '127.0.0.1',
          port: 0,
          adminToken: 'admin-token-0123456789',
          logger,
        });
  return {
    coordinator,
    method,
    server,
    url: server?.url ?? '',
    dir,
    logger,
    async close() {
      await coordinator.stop('test over');
      await server?.close();
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor(
  predicate: () => boolean,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function maxAbsDiff(
  a: Map<string, { data: Float32Array }>,
  b: Map<string, { data: Float32Array }>,
): number {
  let m = 0;
  if (a.size !== b.size) return Infinity;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u || u.data.length !== t.data.length) return Infinity;
    for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i]! - u.data[i]!));
  }
  return m;
}
