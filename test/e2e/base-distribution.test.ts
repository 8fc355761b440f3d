/**
 * A run on a distributed base checkpoint, as a person runs it: `fedpeft serve` with `model.base` (a test-gpt
 * checkpoint whose weights differ from the seeded base) fingerprints it and serves it to token holders only;
 * `fedpeft join` given another `--base` is refused naming both fingerprints; `fedpeft join` with no `--base`
 * downloads the base into its cache, verifies it, and completes a PiCa round (PiCa's projectors come from the
 * base, so a client on any other base would fail the coordinator's signature check).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../shared/tensor/backend.ts';
import { createModel } from '../../shared/model/zoo.ts';
import { saveCheckpoint } from '../../shared/model/checkpoint.ts';
import { tf } from '../../shared/tensor/tf.ts';
import { ClientTrainer } from '../../client/trainer.ts';
import { LocalLmData } from '../../client/local-lm-data.ts';
import { syntheticDocuments } from './client-synthetic-data.ts';
import { describeMethod } from '../../server/method-state.ts';
import { resolveRunBase } from '../../server/run-base.ts';

const bin = fileURLToPath(new URL('../../bin/fedpeft.js', import.meta.url));
const TOKEN = 'base-join-token-0123456789';

let root: string;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

async function writeBase(dir: string, seed: number): Promise<string> {
  const model = createModel('test-gpt', { seed });
  try {
    await saveCheckpoint(dir, model);
  } finally {
    model.dispose();
  }
  return createHash('sha256')
    .update(await readFile(path.join(dir, 'model.safetensors')))
    .digest('hex');
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-base-'));
  env = { ...process.env, FEDPEFT_BACKEND: 'cpu', FEDPEFT_CACHE_DIR: path.join(root, 'cache') };
  await useBackend('cpu');
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

function events(out: string): Array<{ event: string; [k: string]: unknown }> {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string });
}

describe('fedpeft serve with model.base + fedpeft join', () => {
  it('serves the base to token holders, refuses a client on another base, and a client downloads it and trains', async () => {
    const baseDir = path.join(root, 'base');
    const sha = await writeBase(baseDir, 1234);
    const otherDir = path.join(root, 'other-base');
    const otherSha = await writeBase(otherDir, 99);
    expect(otherSha).not.toBe(sha);
    const config = path.join(root, 'coordinator.yaml');
    await writeFile(
      config,
      [
        'run: { id: base-pica, seed: 7, rounds: 1 }',
        `model: { name: test-gpt, base: ${JSON.stringify(baseDir)} }`,
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
      Array.from({ length: 200 }, (_, i) => `the client trains round ${i % 7} on the shared base`).join('\n'),
    );
    const server = start(['serve', '--config', config, '--run-dir', path.join(root, 'run')]);
    await until(() => /listening on (http:\/\/\S+)/.test(server.out()), 60_000, 'the coordinator to listen');
    const url = /listening on (http:\/\/\S+)/.exec(server.out())![1]!;
    expect(server.out()).toContain(`sha256 ${sha}`);

    // The route: token holders only, under the fingerprint only.
    const weightsPath = `/base/${sha}/model.safetensors`;
    expect((await fetch(`${url}${weightsPath}`)).status).toBe(401);
    expect(
      (await fetch(`${url}${weightsPath}`, { headers: { authorization: 'Bearer not-a-valid-token-000000' } }))
        .status,
    ).toBe(401);
    expect((await fetch(`${url}/base/${otherSha}/model.safetensors?token=${TOKEN}`)).status).toBe(404);
    const served = await fetch(`${url}${weightsPath}?token=${TOKEN}`);
    expect(served.status).toBe(200);
    const servedSha = createHash('sha256')
      .update(Buffer.from(await served.arrayBuffer()))
      .digest('hex');
    expect(servedSha).toBe(sha);
    const configJson = await fetch(`${url}/base/${sha}/config.json`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(((await configJson.json()) as { kind: string }).kind).toBe('gpt');

    const joinArgs = (name: string) => [
      'join',
      '--server',
      url,
      '--token',
      TOKEN,
      '--data',
      `file:${data}`,
      '--name',
      name,
      '--state-dir',
      path.join(root, `state-${name}`),
    ];
    const wrong = start([...joinArgs('wrong-base'), '--base', otherDir]);
    expect(await wrong.exited).not.toBe(0);
    const refusal = wrong
      .out()
      .split('\n')
      .find((l) => l.includes(`sha256 ${otherSha}`));
    expect(refusal).toBeDefined();
    expect(refusal).toContain(`sha256 ${sha}`);

    const client = start(joinArgs('laptop-1'));
    const [clientCode, serverCode] = await Promise.all([client.exited, server.exited]);
    const lines = events(client.out());
    expect(lines.find((l) => l.event === 'base-downloaded')).toMatchObject({ sha256: sha });
    expect(lines.find((l) => l.event === 'client-finished')).toMatchObject({
      runComplete: true,
      committedRounds: [1],
    });
    expect(clientCode).toBe(0);
    expect(serverCode).toBe(0);
    expect(server.out()).toMatch(/run base-pica finished after 1 rounds/);
    const cached = await readFile(path.join(root, 'cache', 'run-bases', sha, 'model.safetensors'));
    expect(createHash('sha256').update(cached).digest('hex')).toBe(sha);
  }, 180_000);

  it('the coordinator derives from model.base exactly what a client training on that checkpoint derives', async () => {
    const dir = path.join(root, 'signature-base');
    await writeBase(dir, 555);
    const before = tf.memory().numTensors;
    const base = await resolveRunBase(dir);
    const run = { model: 'test-gpt', method: 'pica', methodConfig: { r: 4, roles: ['q', 'v'] }, seed: 7 };
    const coordinator = describeMethod({ ...run, modelConfig: {}, base });
    const seeded = describeMethod({ ...run, modelConfig: {} });
    const diff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    expect(diff(coordinator.signature, seeded.signature)).toBeGreaterThan(1e-3);
    const data = LocalLmData.fromDocuments(syntheticDocuments(3), 7, 'c', { contextLength: 16 });
    const withBase = { ...run, base: { sha256: base.sha256, bytes: base.bytes } };
    const trainer = await ClientTrainer.create({ run: withBase, data, baseCheckpoint: dir });
    try {
      expect(diff(trainer.signature(), coordinator.signature)).toBeLessThan(1e-5);
    } finally {
      trainer.dispose();
    }
    // A trainer told the run's base but given none refuses instead of training on the seeded base.
    await expect(ClientTrainer.create({ run: withBase, data })).rejects.toThrow(base.sha256);
    expect(tf.memory().numTensors).toBe(before);
  });
});
