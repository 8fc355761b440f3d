/**
 * Real clients end to end: client processes (ClientRuntime + ClientTrainer + FileStateStore) train PiCa on
 * test-gpt against the real coordinator over socket.io on loopback.
 *   1. Three clients complete two rounds; each round's aggregate equals the offline weighted mean of the
 *      shared tensors the clients actually uploaded.
 *   2. A client killed (SIGKILL) mid-upload and restarted from its state directory resumes its session and
 *      its upload from the coordinator's acknowledged chunk, sending only the rest, and the round completes
 *      with exactly the update it had computed before the crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { maxAbsDiff, startCoordinator, TOKEN, type Started } from './coordinator-fixture.ts';

const SCRIPT = fileURLToPath(new URL('./client-process.ts', import.meta.url));
/** The fixture's run (BASE_CONFIG): told to the clients up front so their first Join carries signatures. */
const RUN = { model: 'test-gpt', method: 'pica', methodConfig: { r: 4, roles: ['q', 'v'] }, seed: 7 };

interface Line {
  event: string;
  [key: string]: unknown;
}

interface ClientProcess {
  child: ChildProcess;
  lines: Line[];
  exited: Promise<number | null>;
}

function startClient(options: Record<string, unknown>): ClientProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Line[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Line);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

function uploads(client: ClientProcess): Map<number, { weight: number; shared: HostTensorMap }> {
  const out = new Map<number, { weight: number; shared: HostTensorMap }>();
  for (const l of client.lines) {
    if (l.event !== 'committed-update') continue;
    const shared: HostTensorMap = new Map(
      (l.shared as Array<[string, number[], number[]]>).map(([n, shape, data]) => [
        n,
        { shape, data: Float32Array.from(data) },
      ]),
    );
    out.set(l.round as number, { weight: l.weight as number, shared });
  }
  return out;
}

function weightedMean(parts: Array<{ weight: number; shared: HostTensorMap }>): HostTensorMap {
  const total = parts.reduce((s, p) => s + p.weight, 0);
  const out: HostTensorMap = new Map();
  for (const [name, t] of parts[0]!.shared) {
    const acc = new Float64Array(t.data.length);
    for (const p of parts) {
      const d = p.shared.get(name)!.data;
      for (let i = 0; i < acc.length; i++) acc[i]! += (p.weight * d[i]!) / total;
    }
    out.set(name, { shape: t.shape, data: Float32Array.from(acc) });
  }
  return out;
}

function copy(map: HostTensorMap): HostTensorMap {
  return new Map([...map].map(([n, t]) => [n, { shape: [...t.shape], data: t.data.slice() }]));
}

let started: Started | undefined;
const children: ClientProcess[] = [];
let stateRoot: string | undefined;

afterEach(async () => {
  for (const c of children.splice(0)) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  await started?.close();
  started = undefined;
  if (stateRoot) await rm(stateRoot, { recursive: true, force: true });
  stateRoot = undefined;
});

describe('client end to end (real sockets, client processes)', () => {
  it('three PiCa clients complete two rounds; each aggregate is the weighted mean of their uploads', async () => {
    started = await startCoordinator({
      run: { rounds: 2 },
      strategy: { name: 'fedavg', sampling: { minClients: 3 } },
      round: { localSteps: 3, batchSize: 2, learningRate: 1e-2 },
    });
    const { coordinator, url } = started;
    const globals = new Map<number, HostTensorMap>();
    coordinator.onRound((s) => globals.set(s.round, copy(coordinator.globalState())));
    coordinator.start();
    stateRoot = await mkdtemp(join(tmpdir(), 'fedpeft-clients-'));
    for (let i = 0; i < 3; i++) {
      children.push(
        startClient({
          url,
          token: TOKEN,
          name: `client-${i}`,
          stateDir: join(stateRoot, `c${i}`),
          dataSeed: 11 + i,
          run: RUN,
        }),
      );
    }
    const codes = await Promise.all(children.map((c) => c.exited));
    expect(codes).toEqual([0, 0, 0]);
    expect(coordinator.completedRounds).toBe(2);
    const perClient = children.map(uploads);
    for (const round of [1, 2]) {
      const parts = perClient.map((u) => u.get(round)!);
      expect(parts.every((p) => p !== undefined)).toBe(true);
      // Clients hold different amounts of text: the weights differ, so this is a weighted mean.
      expect(new Set(parts.map((p) => p.weight)).size).toBeGreaterThan(1);
      expect(maxAbsDiff(globals.get(round)!, weightedMean(parts))).toBeLessThan(1e-6);
      // Not a tautology: the clients' updates differ from each other and from the aggregate.
      expect(maxAbsDiff(parts[0]!.shared, parts[1]!.shared)).toBeGreaterThan(1e-4);
    }
    // Every client received the final global state (the run's result) and reported committing both rounds.
    for (const c of children) {
      const outcome = c.lines.find((l) => l.event === 'outcome')!;
      expect(outcome.committedRounds).toEqual([1, 2]);
      expect(outcome.runComplete).toBe(true);
      const final = new Map(
        (outcome.finalGlobal as Array<[string, number[]]>).map(([n, d]) => [
          n,
          { data: Float32Array.from(d) },
        ]),
      );
      expect(maxAbsDiff(final, globals.get(2)!)).toBe(0);
      // Personal evaluation was reported next to the global one.
      const trained = c.lines.filter((l) => l.event === 'round-trained');
      expect(
        trained.every((l) => typeof l.globalValLoss === 'number' && typeof l.personalValLoss === 'number'),
      ).toBe(true);
    }
  });

  it('a client killed mid-upload and restarted resumes its upload from the acknowledged chunk', async () => {
    started = await startCoordinator({
      run: { rounds: 1 },
      strategy: { name: 'fedavg', sampling: { minClients: 1 } },
      round: { localSteps: 2, batchSize: 2, learningRate: 1e-2, dropAfterMs: 30_000 },
      // 2 tensors of 4 x 32 floats = 1 KiB in 64-byte chunks, one in flight: 16 acknowledged steps.
      transport: { chunkBytes: 64, maxInFlightChunks: 1 },
    });
    const { coordinator, url } = started;
    coordinator.start();
    stateRoot = await mkdtemp(join(tmpdir(), 'fedpeft-resume-'));
    const stateDir = join(stateRoot, 'c0');
    const first = startClient({
      url,
      token: TOKEN,
      name: 'crashy',
      stateDir,
      dataSeed: 5,
      crashAfterChunks: 5,
      run: RUN,
    });
    children.push(first);
    await first.exited;
    const crash = first.lines.find((l) => l.event === 'crashing');
    expect(crash).toBeDefined();
    const firstUpload = first.lines.find((l) => l.event === 'upload-started')!;
    expect(firstUpload.resumedFrom).toBe(0);
    expect(coordinator.completedRounds).toBe(0);

    const second = startClient({ url, token: TOKEN, name: 'crashy', stateDir, dataSeed: 5, run: RUN });
    children.push(second);
    expect(await second.exited).toBe(0);
    const joined = second.lines.find((l) => l.event === 'joined')!;
    expect(joined.resumed).toBe(true);
    const resumed = second.lines.find((l) => l.event === 'upload-started')!;
    expect(resumed.transfer).toBe(firstUpload.transfer);
    // The coordinator had acknowledged at least the 5 chunks the crash waited for; only the rest was sent.
    expect(resumed.resumedFrom as number).toBeGreaterThanOrEqual(5);
    expect(resumed.toSend).toBe((resumed.chunks as number) - (resumed.resumedFrom as number));
    expect(second.lines.some((l) => l.event === 'round-trained')).toBe(false); // not retrained
    const committed = uploads(second).get(1)!;
    expect(committed).toBeDefined();
    expect(coordinator.completedRounds).toBe(1);
    // One client: the aggregate is exactly its (pre-crash) update.
    expect(maxAbsDiff(coordinator.globalState(), committed.shared)).toBeLessThan(1e-7);
    expect(maxAbsDiff(committed.shared, started.method.initialShared)).toBeGreaterThan(1e-4);
  });
});
