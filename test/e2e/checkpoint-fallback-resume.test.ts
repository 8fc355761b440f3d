/**
 * A damaged newest checkpoint, end to end with real processes (the kinds of damage one by one, without
 * processes: server/checkpoint-corruption.test.ts): `fedpeft serve` is SIGKILLed while round 3 is
 * open, the newest checkpoint (round 2) is then damaged, and `serve --resume` falls back to round 1's with one
 * log line, re-opens round 2, the clients train it again (they held its receipt: the coordinator's
 * instruction tells them it was rolled back), and the run ends equal to an uninterrupted run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../shared/model/safetensors.ts';
import type { CoordinatorConfigInput } from '../../server/config.ts';
import { connectInProcess } from '../../server/transport/in-process.ts';
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
  output: () => string;
  exited: Promise<number | null>;
  child: ChildProcess;
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
  checkpoint: { keep: 3 },
};

const damages: Array<[string, (ckpt: string) => Promise<void>, RegExp]> = [
  [
    'a flipped byte in global.safetensors',
    async (ckpt) => {
      const file = join(ckpt, 'global.safetensors');
      const bytes = await readFile(file);
      bytes[bytes.length - 7]! ^= 0x20;
      await writeFile(file, bytes);
    },
    /global\.safetensors does not match its SHA-256/,
  ],
];

describe('resume over a damaged newest checkpoint', () => {
  it.each(damages)(
    '%s: falls back one round, clients re-run it, same final state',
    async (_n, damage, why) => {
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

      const dir = await mkdtemp(join(tmpdir(), 'fedpeft-fallback-'));
      try {
        const cfg = join(dir, 'coordinator.yaml');
        await writeFile(cfg, JSON.stringify(CONFIG));
        const port = await freePort();
        const args = ['--config', cfg, '--run-dir', join(dir, 'run'), '--port', String(port)];
        const first = serve(args);
        await waitFor(() => first.output().includes('listening on'), 30_000, 'the coordinator to listen');
        let holdRound3 = true;
        for (let i = 0; i < 3; i++) {
          const c = new NullClient({
            name: `c${i}`,
            index: i,
            token: TOKEN,
            method: 'pica',
            signature,
            url: `http://127.0.0.1:${port}`,
            retryMs: 200,
            // Round 3 stays open (nobody reports) until the coordinator was killed and resumed.
            participate: (round) => round !== 3 || !holdRound3,
          });
          clients.push(c);
          await c.connect();
        }
        await waitFor(() => clients.every((c) => c.receipts.includes(2)), 30_000, 'round 2 receipts');
        await waitFor(() => /"round-started".*"round":3/.test(first.output()), 30_000, 'round 3 to open');
        first.child.kill('SIGKILL');
        await first.exited;
        await damage(join(dir, 'run', 'checkpoints', 'round-000002'));
        holdRound3 = false;

        const second = serve([...args, '--resume']);
        const code = await second.exited;
        expect(code, second.output()).toBe(0);
        const fallback = second
          .output()
          .split('\n')
          .filter((l) => l.includes('checkpoint-fallback'));
        expect(fallback).toHaveLength(1);
        expect(fallback[0]).toMatch(/resuming from round-000001 \(round 1\)/);
        expect(fallback[0]).toMatch(why);
        for (const c of clients) expect(c.rolledBack).toEqual([2]);

        const latest = (await readFile(join(dir, 'run', 'checkpoints', 'LATEST'), 'utf8')).trim();
        expect(latest).toBe('round-000003');
        const final = parseSafetensors(
          await readFile(join(dir, 'run', 'checkpoints', latest, 'global.safetensors')),
        ).tensors;
        expect(maxAbsDiff(final, reference)).toBeLessThan(1e-6);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
