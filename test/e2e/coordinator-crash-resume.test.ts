/**
 * Crash safety of the real CLI: `fedpeft serve` is SIGKILLed mid-round (after some updates were
 * acknowledged), `fedpeft serve --resume` continues from the checkpoint + round journal, the clients come back
 * with their sessions, and the run ends in the same state as an uninterrupted run with the same seed. A lost
 * acknowledged update would stall the resumed round (its client never re-sends it) or change the result.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../shared/model/safetensors.ts';
import { connectInProcess } from '../../server/transport/in-process.ts';
import type { CoordinatorConfigInput } from '../../server/config.ts';
import { NullClient } from './null-client.ts';
import { maxAbsDiff, startCoordinator, TOKEN, waitFor } from './coordinator-fixture.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const children: ChildProcess[] = [];
const clients: NullClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.stop();
  for (const p of children.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function serve(args: string[]): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'fedpeft.js'), 'serve', ...args], {
    cwd: ROOT,
    stdio: 'pipe',
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

const CONFIG: CoordinatorConfigInput = {
  run: { seed: 7, rounds: 3 },
  model: { name: 'test-gpt' },
  method: { name: 'pica', config: { r: 4, roles: ['q', 'v'] } },
  strategy: { name: 'fedavg', sampling: { minClients: 3 } },
  round: { deadlineMs: 60_000, dropAfterMs: 60_000 },
  transport: { chunkBytes: 16 * 1024, heartbeatIntervalMs: 1_000 },
  auth: { tokens: [TOKEN] },
};

/** Client 2 trains slowly in round 2, so the kill lands after clients 0 and 1 were acknowledged. */
const trainMs = (index: number) => (round: number) => (index === 2 && round === 2 ? 1_500 : 0);

describe('coordinator crash and resume', () => {
  it('SIGKILL mid-round, then serve --resume: same final state as an uninterrupted run, no acknowledged update lost', async () => {
    // Reference: the same run, uninterrupted, in process.
    const ref = await startCoordinator(CONFIG, { socket: false });
    for (let i = 0; i < 3; i++) {
      const c = new NullClient({
        name: `c${i}`,
        index: i,
        token: TOKEN,
        method: 'pica',
        signature: ref.method.signature,
        connectLink: () => connectInProcess(ref.coordinator),
      });
      clients.push(c);
      await c.connect();
    }
    ref.coordinator.start();
    await ref.coordinator.whenFinished();
    const reference = new Map(ref.coordinator.globalState());
    const signature = ref.method.signature;
    await ref.close();
    for (const c of clients.splice(0)) c.stop();

    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-crash-'));
    try {
      const cfg = join(dir, 'coordinator.yaml');
      await writeFile(cfg, JSON.stringify(CONFIG)); // JSON is YAML
      const port = await freePort();
      const args = ['--config', cfg, '--run-dir', join(dir, 'run'), '--port', String(port)];
      const first = serve(args);
      await waitFor(() => first.output().includes('listening on'), 30_000, 'the coordinator to listen');
      for (let i = 0; i < 3; i++) {
        const c = new NullClient({
          name: `c${i}`,
          index: i,
          token: TOKEN,
          method: 'pica',
          signature,
          url: `http://127.0.0.1:${port}`,
          retryMs: 200,
          trainMs: trainMs(i),
        });
        clients.push(c);
        await c.connect();
      }
      await waitFor(
        () => clients[0]!.receipts.includes(2) && clients[1]!.receipts.includes(2),
        30_000,
        'two round-2 receipts',
      );
      expect(clients[2]!.receipts.includes(2)).toBe(false);
      first.child.kill('SIGKILL');
      await first.exited;

      const second = serve([...args, '--resume']);
      const code = await second.exited;
      expect(code, second.output()).toBe(0);
      const resumed = second
        .output()
        .split('\n')
        .filter((l) => l.includes('"run-resumed"'))
        .map((l) => JSON.parse(l) as { completedRounds: number; openRound: number; replayedUpdates: number });
      expect(resumed).toEqual([
        expect.objectContaining({ completedRounds: 1, openRound: 2, replayedUpdates: 2 }),
      ]);
      // Clients 0 and 1 never re-sent round 2 (they hold receipts): their journaled updates carried it.
      for (const c of clients) expect(c.receipts).toEqual([1, 2, 3]);

      const latest = (await readFile(join(dir, 'run', 'checkpoints', 'LATEST'), 'utf8')).trim();
      const final = parseSafetensors(
        await readFile(join(dir, 'run', 'checkpoints', latest, 'global.safetensors')),
      ).tensors;
      expect(latest).toBe('round-000003');
      expect(maxAbsDiff(final, reference)).toBeLessThan(1e-6);
      expect(
        maxAbsDiff(
          final,
          new Map([...reference].map(([n, t]) => [n, { ...t, data: new Float32Array(t.data.length) }])),
        ),
      ).toBeGreaterThan(1e-3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
