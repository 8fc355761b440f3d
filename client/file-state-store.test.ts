import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from './file-state-store.ts';
import { MemoryStateStore } from './memory-state-store.ts';
import { emptyClientState, type StateStore } from './state-store.ts';

const STORE_MODULE = fileURLToPath(new URL('./file-state-store.ts', import.meta.url));

/** (`.mts`: the temp dir has no package.json saying ESM.) A child that rewrites a 4 MB tensor set and the meta as fast as it can, printing each finished version. */
const WRITER = `
import { FileStateStore } from ${JSON.stringify(STORE_MODULE)};
const store = new FileStateStore(process.argv[2]);
for (let k = 1; ; k++) {
  const data = new Float32Array(1 << 20).fill(k);
  await store.writeTensors('upload', new Map([['role.q.B', { shape: [1024, 1024], data }]]), String(k));
  await store.writeMeta({ version: 1, session: null, run: null, lastCommittedRound: k, upload: null, globalRound: 0, transferCounter: k });
  process.stdout.write(k + '\\n');
}
`;

async function killMidWrite(dir: string, script: string, delayMs: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let finished = 0;
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the writer exited early (code ${code})`)));
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = chunk.toString().trim().split('\n');
      finished = Number(lines[lines.length - 1]);
      if (finished >= 2) {
        child.stdout.removeAllListeners('data');
        setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, delayMs);
      }
    });
  });
  await new Promise((resolve) => child.on('exit', resolve));
  return finished;
}

function contract(make: () => Promise<StateStore>) {
  it('round-trips meta and tensor sets, and reads absent ones as null', async () => {
    const store = await make();
    expect(await store.readMeta()).toBeNull();
    expect(await store.readTensors('private')).toBeNull();
    const meta = { ...emptyClientState(), lastCommittedRound: 3, transferCounter: 9 };
    meta.session = { serverUrl: 'http://x', runId: 'r', sessionId: 's', sessionToken: 't' };
    await store.writeMeta(meta);
    expect(await store.readMeta()).toEqual(meta);
    const data = Float32Array.from([1, -2.5, 3e-8, 4]);
    await store.writeTensors('personal', new Map([['role.q.B', { shape: [2, 2], data }]]), 'round-3');
    data[0] = 99; // the store holds its own copy
    const read = await store.readTensors('personal');
    expect(read?.tag).toBe('round-3');
    expect(Array.from(read!.tensors.get('role.q.B')!.data)).toEqual([1, -2.5, Math.fround(3e-8), 4]);
    expect(read!.tensors.get('role.q.B')!.shape).toEqual([2, 2]);
    await store.deleteTensors('personal');
    expect(await store.readTensors('personal')).toBeNull();
  });
}

describe('FileStateStore', () => {
  let root: string;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'fedpeft-state-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  contract(() => Promise.resolve(new FileStateStore(join(root, `contract-${n++}`))));

  it('survives a process killed mid-write: every file is a whole earlier version', async () => {
    const script = join(root, 'writer.mts');
    await writeFile(script, WRITER);
    for (const delayMs of [0, 3, 11]) {
      const dir = join(root, `crash-${delayMs}`);
      const finished = await killMidWrite(dir, script, delayMs);
      const store = new FileStateStore(dir);
      const upload = await store.readTensors('upload');
      const meta = await store.readMeta();
      const version = Number(upload!.tag);
      // Whatever the kill interrupted, the set on disk is one complete version, at least the last reported one.
      expect(version).toBeGreaterThanOrEqual(finished);
      expect(upload!.tensors.get('role.q.B')!.data.every((v) => v === version)).toBe(true);
      expect(meta!.lastCommittedRound).toBeGreaterThanOrEqual(finished);
      expect(meta!.lastCommittedRound).toBeLessThanOrEqual(version);
      // A later write over the leftovers of the killed one works.
      await store.writeMeta(emptyClientState());
      expect((await store.readMeta())!.lastCommittedRound).toBe(0);
    }
  });

  it('reports a damaged tensor file or meta instead of loading it', async () => {
    const dir = join(root, 'damaged');
    const store = new FileStateStore(dir);
    await store.writeTensors('optimizer', new Map([['adamw/step', { shape: [], data: Float32Array.of(5) }]]));
    const path = join(dir, 'optimizer.safetensors');
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(path, bytes);
    await expect(store.readTensors('optimizer')).rejects.toThrow(/CRC-32.*delete it/);
    await writeFile(join(dir, 'state.json'), '{"version": 1, "session": null}');
    await expect(store.readMeta()).rejects.toThrow(/state\.json is unreadable/);
    expect((await readdir(dir)).sort()).toEqual(['optimizer.safetensors', 'state.json']);
  });
});

describe('MemoryStateStore', () => {
  contract(() => Promise.resolve(new MemoryStateStore()));
});
