/**
 * `fedpeft serve` + `fedpeft join` as a person runs them, on a PiCa run (a method with derived state), with NO
 * `--run-config` on the client: the client learns the run from the Welcome, the coordinator admits its
 * signature-less first join without sampling it, the client re-joins the same session with its signature, and
 * the round completes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/fedpeft.js', import.meta.url));
const env = { ...process.env, FEDPEFT_BACKEND: 'cpu' };
const TOKEN = 'cli-join-token-0123456789';

let root: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-join-cli-'));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

function start(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!predicate()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('fedpeft serve + fedpeft join', () => {
  it('completes a PiCa round with a client given no run config (signature-less first join, then re-join)', async () => {
    const config = path.join(root, 'coordinator.yaml');
    await writeFile(
      config,
      [
        'run: { id: cli-pica, seed: 7, rounds: 1 }',
        'model: { name: test-gpt }',
        'method: { name: pica, config: { r: 4, roles: [q, v] } }',
        'round: { localSteps: 2, batchSize: 2, deadlineMs: 60000 }',
        'transport: { port: 0, heartbeatIntervalMs: 2000 }',
        `auth: { tokens: [${TOKEN}] }`,
        'dashboard: { enabled: false }',
        '',
      ].join('\n'),
    );
    const data = path.join(root, 'notes.txt');
    await writeFile(
      data,
      Array.from(
        { length: 200 },
        (_, i) => `the client trains round ${i % 7} of the shared adapter locally`,
      ).join('\n'),
    );
    const server = start(['serve', '--config', config, '--run-dir', path.join(root, 'run')]);
    await until(() => /listening on (http:\/\/\S+)/.test(server.out()), 60_000, 'the coordinator to listen');
    const url = /listening on (http:\/\/\S+)/.exec(server.out())![1]!;
    const client = start([
      'join',
      '--server',
      url,
      '--token',
      TOKEN,
      '--data',
      `file:${data}`,
      '--name',
      'laptop-1',
      '--state-dir',
      path.join(root, 'client-state'),
    ]);
    const [clientCode, serverCode] = await Promise.all([client.exited, server.exited]);
    const lines = client
      .out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
    expect(lines.some((l) => l.event === 'rejoin-with-signatures')).toBe(true);
    expect(lines.some((l) => l.event === 'client-stopped')).toBe(false);
    const finished = lines.find((l) => l.event === 'client-finished');
    expect(finished).toMatchObject({ runComplete: true, committedRounds: [1] });
    expect(clientCode).toBe(0);
    expect(serverCode).toBe(0);
    expect(server.out()).toMatch(/run cli-pica finished after 1 rounds/);
  }, 120_000);
});
